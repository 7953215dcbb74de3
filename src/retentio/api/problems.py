"""RFC 9457 problem details: every error the API returns, and the one place statuses are mapped.

Each error class has a stable ``type`` (``/problems/<slug>``, relative to the server; the slugs
are listed in docs/api.md), a short ``title``, the HTTP ``status`` and a ``detail`` for this
occurrence. Validation problems add ``errors``: ``[{"field", "message"}]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from retentio.campaigns import (
    CampaignNotFound,
    CampaignStateError,
    JourneyConflict,
    JourneyNotFound,
)
from retentio.core.errors import ConfigurationError, DataError, DefinitionError, RetentioError
from retentio.core.signing import TokenError
from retentio.loyalty.accounts import LoyaltyConflict
from retentio.privacy.errors import NotFoundError
from retentio.segments import SegmentNotFound
from retentio.subscriptions import SubscriptionStateError

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ProblemBody",
    "install_problem_handlers",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("retentio.api")

#: slug -> (status, title): the stable error classes.
TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "The request body is not valid JSON in UTF-8"),
    "unauthorized": (401, "Missing or invalid API key"),
    "forbidden": (403, "The API key's scope does not allow this"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "invalid-token": (400, "The token is not valid"),
    "token-expired": (410, "The token has expired or was already used"),
    "conflict": (409, "The resource's state does not allow this"),
    "idempotency-in-flight": (409, "A request with this Idempotency-Key is still in progress"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "The request body must be application/json"),
    "validation-error": (422, "The request is not valid"),
    "idempotency-key-reused": (
        422,
        "This Idempotency-Key was used with a different request",
    ),
    "batch-rejected": (422, "The batch was rejected as a whole (atomic=true)"),
    "invalid-data": (422, "The data cannot be used as given"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal server error"),
}


class ProblemBody(BaseModel):
    """The problem+json body (RFC 9457), for the OpenAPI description."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable URI reference of the error class.")
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    """An error answered as problem+json; ``slug`` names one of the stable types."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.status = status if status is not None else TYPES[slug][0]
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = [dict(e) for e in errors] if errors is not None else None

    def body(self) -> dict[str, Any]:
        """The problem+json document."""
        title = TYPES[self.slug][1] if self.slug in TYPES else "Error"
        body: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> JSONResponse:
        """The HTTP response carrying this problem."""
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all problem+json."""
    return {
        status: {
            "model": ProblemBody,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}},
            "description": next(title for s, title in TYPES.values() if s == status),
        }
        for status in statuses
    }


_SLUG_OF_STATUS = {
    400: "malformed-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
        for e in errors
        if isinstance(e, Mapping)
    ]


#: (error class, problem type): not found and conflicts by their reason, the rest as a
#: validation error naming the path (``where.all[1].p_aliv``, ``message.da.subject``).
_PATH_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (SegmentNotFound, "not-found"),
    (CampaignNotFound, "not-found"),
    (CampaignStateError, "conflict"),
    (JourneyNotFound, "not-found"),
    (JourneyConflict, "conflict"),
    (LoyaltyConflict, "conflict"),
    (SubscriptionStateError, "conflict"),
    (DefinitionError, "validation-error"),
)


def _path_handler(slug: str) -> Any:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        reason = str(getattr(exc, "reason", exc))
        if slug != "validation-error":
            return Problem(slug, reason).response()
        errors = [{"field": str(getattr(exc, "path", "")), "message": reason}]
        return Problem(slug, str(exc), errors=errors).response()

    return handle


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc.errors())
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return Problem("validation-error", listed or "invalid request", errors=errors).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _SLUG_OF_STATUS.get(exc.status_code, "internal-error")
        headers = dict(exc.headers or {})
        return Problem(slug, str(exc.detail), headers=headers, status=exc.status_code).response()

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return Problem("not-found", str(exc)).response()

    # Errors of definitions (segments, campaigns, journeys) carry the path of the problem.
    # Starlette picks the handler of the most specific class, so the subclasses come first.
    for kind, slug in _PATH_ERRORS:
        app.add_exception_handler(kind, _path_handler(slug))

    @app.exception_handler(TokenError)
    async def _token(_request: Request, exc: TokenError) -> JSONResponse:
        gone = exc.reason in ("expired", "used", "unknown")
        return Problem("token-expired" if gone else "invalid-token", str(exc)).response()

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        return Problem("invalid-data", str(exc)).response()

    @app.exception_handler(ConfigurationError)
    async def _configuration(_request: Request, exc: ConfigurationError) -> JSONResponse:
        return Problem("invalid-data", str(exc)).response()

    @app.exception_handler(RetentioError)
    async def _retentio(_request: Request, exc: RetentioError) -> JSONResponse:
        return Problem("invalid-data", str(exc)).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return Problem("internal-error", "an unexpected error occurred; it was logged").response()
