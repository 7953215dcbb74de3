"""The routes' dependencies: a database session, the authenticated key with its scope, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from retentio.access import ApiKeyInfo, Scope, verify_api_key
from retentio.api.body import JsonBody, read_json_body
from retentio.api.config import ApiConfig
from retentio.api.keycache import KeyCache
from retentio.api.problems import Problem
from retentio.api.ratelimit import RateLimiter

__all__ = [
    "Admin",
    "Body",
    "DbSession",
    "Principal",
    "Reader",
    "Writer",
    "client_address",
    "get_config",
    "get_session",
    "limit_by_address",
    "require",
]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rk_...`")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key (never its secret)."""

    key: ApiKeyInfo

    @property
    def actor(self) -> str:
        """The audit log's name for this caller."""
        return f"api:{self.key.prefix}"


def get_config(request: Request) -> ApiConfig:
    """The server's configuration."""
    config: ApiConfig = request.app.state.config
    return config


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request, closed (and rolled back if uncommitted) afterwards.

    Async only to spare two thread hops: making a session does no I/O (it connects when first
    used, in the route's thread), and the routes commit, so closing it is cheap.
    """
    with request.app.state.sessions() as session:
        request.state.session = session  # rolled back by run_idempotent when the work fails
        yield session


DbSession = Annotated[Session, Depends(get_session)]
Body = Annotated[JsonBody, Depends(read_json_body)]


def client_address(request: Request) -> str:
    """The client's IP address as the server sees it."""
    return request.client.host if request.client else "unknown"


def _limit(request: Request, client: str) -> None:
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.acquire(client)
    if wait > 0:
        raise Problem(
            "rate-limited",
            f"over {limiter.rate:g} requests a second (burst {limiter.burst}); retry later",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )


def limit_by_address(request: Request) -> None:
    """Rate-limit a public (unauthenticated) route by client address."""
    _limit(request, f"ip:{client_address(request)}")


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency admitting keys whose scope includes ``scope``; 401, 403 or 429 otherwise."""

    def dependency(
        request: Request,
        session: DbSession,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        challenge = {"WWW-Authenticate": 'Bearer realm="retentio"'}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(
                "unauthorized", "send an API key as Authorization: Bearer", headers=challenge
            )
        keys: KeyCache = request.app.state.keys
        key = keys.get(credentials.credentials)
        if key is None:
            key = verify_api_key(session, credentials.credentials)
            if key is None:
                raise Problem(
                    "unauthorized", "the API key is unknown or revoked", headers=challenge
                )
            session.commit()  # hand the connection back while the route does other work
            keys.put(credentials.credentials, key)
        _limit(request, f"key:{key.prefix}")
        if not key.scope.allows(scope):
            raise Problem(
                "forbidden", f"this route needs a {scope.value} key; this one is {key.scope.value}"
            )
        return Principal(key)

    return dependency


Reader = Annotated[Principal, Depends(require(Scope.READ))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
