"""Idempotency-Key on every state-changing POST (TRUST.md; Stripe; the IETF httpapi draft).

A key is scoped to the API key and the endpoint (method and path) and stored with a fingerprint
of the request (query string and body). The first request claims the key (a committed row in
``idempotency_keys``, unique per API key x endpoint x key, so concurrent claims race on the
database): then

- the same key and the same request again -> the stored status and body, nothing changes
  (the reply carries ``Idempotent-Replayed: true``);
- the same key with a different request -> 422 ``idempotency-key-reused``;
- the same key while the first is still running -> 409 ``idempotency-in-flight``.

Keys are kept for ``idempotency_ttl`` (24 h). A claim whose request died (a crash) is taken
over after ``idempotency_lease``. The effects themselves are idempotent too (upserts keyed by the
shop's ids; a tracked event without its own id gets one derived from the key), so a crash
between the effect and storing the reply cannot double anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from retentio.api.config import ApiConfig
from retentio.api.deps import Principal
from retentio.api.problems import PROBLEM_JSON, Problem
from retentio.store.tables import IdempotencyKey
from retentio.store.transactions import retrying

__all__ = ["HEADER", "Outcome", "idempotency_key", "run_idempotent"]

HEADER = "Idempotency-Key"
_MAX_KEY = 255


@dataclass(frozen=True)
class Outcome:
    """A route's result: the status and the JSON body."""

    status: int
    body: Any


@dataclass(frozen=True)
class _Stored:
    status: int
    body: Any
    media_type: str


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked: printable ASCII, 1 to 255 characters."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= _MAX_KEY or not key.isascii() or not key.isprintable():
        raise Problem(
            "validation-error",
            f"{HEADER} must be 1 to {_MAX_KEY} printable ASCII characters",
            errors=[{"field": HEADER, "message": "1 to 255 printable ASCII characters"}],
        )
    return key


def _fingerprint(request: Request, body_sha256: str) -> str:
    query = request.url.query.encode("utf-8")
    return hashlib.sha256(query + b"\n" + body_sha256.encode("ascii")).hexdigest()


def _claim(
    sessions: sessionmaker[Session],
    config: ApiConfig,
    owner: int,
    endpoint: str,
    key: str,
    fingerprint: str,
) -> int | _Stored:
    for _attempt in range(5):
        now = datetime.now(UTC)
        with sessions() as session:
            row = IdempotencyKey(
                api_key_id=owner,
                endpoint=endpoint,
                key=key,
                fingerprint=fingerprint,
                state="started",
                created_at=now,
                expires_at=now + config.idempotency_ttl,
            )
            session.add(row)
            try:
                session.commit()
                return row.id
            except IntegrityError:
                session.rollback()
            found = session.scalars(
                select(IdempotencyKey).where(
                    IdempotencyKey.api_key_id == owner,
                    IdempotencyKey.endpoint == endpoint,
                    IdempotencyKey.key == key,
                )
            ).one_or_none()
            if found is None:
                continue  # expired and removed meanwhile: claim again
            if found.expires_at <= now:
                session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
                session.commit()
                continue
            if found.fingerprint != fingerprint:
                raise Problem(
                    "idempotency-key-reused",
                    f"the {HEADER} {key!r} was used for a different request to this endpoint; "
                    "use a new key for a new request",
                )
            if found.state == "done":
                status = found.response_status or 200
                media = PROBLEM_JSON if status >= 400 else "application/json"
                return _Stored(status, json.loads(found.response_body or "null"), media)
            if found.created_at + config.idempotency_lease > now:
                raise Problem(
                    "idempotency-in-flight",
                    f"a request with the {HEADER} {key!r} is still in progress; retry shortly",
                    headers={"Retry-After": "1"},
                )
            taken = session.execute(  # the first request died: take its claim over
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.id == found.id,
                    IdempotencyKey.state == "started",
                    IdempotencyKey.created_at == found.created_at,
                )
                .values(created_at=now)
            )
            session.commit()
            if getattr(taken, "rowcount", 0) == 1:
                return found.id
    raise Problem(
        "idempotency-in-flight",
        f"the {HEADER} {key!r} is contended; retry shortly",
        headers={"Retry-After": "1"},
    )


def _finish(sessions: sessionmaker[Session], claim: int, status: int, body: Any) -> None:
    with sessions() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim)
            .values(state="done", response_status=status, response_body=json.dumps(body))
        )
        session.commit()


def _abandon(sessions: sessionmaker[Session], claim: int) -> None:
    with sessions() as session:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim))
        session.commit()


def _end_work(request: Request) -> None:
    """Roll back what the failed work left open in the request's session, before the claim is
    settled in another session: on SQLite an open write transaction would hold the database's
    write lock, and settling the claim would wait on it."""
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        session.rollback()


def _retried(
    session: Session, work: Callable[[str | None], Outcome]
) -> Callable[[str | None], Outcome]:
    return lambda key: retrying(session, lambda: work(key))


def run_idempotent(
    request: Request,
    principal: Principal,
    body_sha256: str,
    work: Callable[[str | None], Outcome],
    *,
    locks_itself: bool = False,
    session: Session | None = None,
) -> JSONResponse:
    """Run ``work`` at most once per Idempotency-Key; ``work`` gets the key (or None).

    Each write (the claim, the work, storing the answer) holds the server's write lock: on
    SQLite, writers then queue on it instead of polling SQLite's busy handler. With
    ``locks_itself`` the work takes the lock itself, for its writes only (a batch is validated
    before, so another process can write meanwhile). With ``session`` (the work's), the work
    runs again when PostgreSQL aborted it to break a deadlock or a serialization conflict
    (:func:`~retentio.store.transactions.retrying`: the work commits itself and is safe to
    run again).
    """
    if session is not None:
        work = _retried(session, work)
    lock: AbstractContextManager[Any] = request.app.state.write_lock
    work_lock: AbstractContextManager[Any] = nullcontext() if locks_itself else lock
    key = idempotency_key(request)
    if key is None:
        with work_lock:
            outcome = work(None)
        return JSONResponse(outcome.body, status_code=outcome.status)
    sessions: sessionmaker[Session] = request.app.state.sessions
    config: ApiConfig = request.app.state.config
    endpoint = f"{request.method} {request.url.path}"[:200]
    fingerprint = _fingerprint(request, body_sha256)
    with lock:
        claim = _claim(sessions, config, principal.key.id, endpoint, key, fingerprint)
    if isinstance(claim, _Stored):
        return JSONResponse(
            claim.body,
            status_code=claim.status,
            media_type=claim.media_type,
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        with work_lock:
            outcome = work(key)
    except Problem as problem:
        _end_work(request)
        with lock:
            if problem.status in (409, 429) or problem.status >= 500:
                _abandon(sessions, claim)
            else:
                _finish(sessions, claim, problem.status, problem.body())
        raise
    except BaseException:
        _end_work(request)
        with lock:
            _abandon(sessions, claim)
        raise
    with lock:
        _finish(sessions, claim, outcome.status, outcome.body)
    return JSONResponse(outcome.body, status_code=outcome.status)
