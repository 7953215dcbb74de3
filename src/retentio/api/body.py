"""Reading a JSON request body safely: a size limit (413), UTF-8 (400) and JSON (400).

The batch endpoints read their body here rather than through a pydantic body model, so that one
bad item is reported by its index while the valid ones are still written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from retentio.api.problems import Problem

__all__ = ["JsonBody", "openapi_body", "parse_body", "read_json_body", "require_empty"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class JsonBody:
    """A request's decoded JSON body and the SHA-256 of its bytes (the idempotency fingerprint)."""

    value: Any
    sha256: str


async def read_json_body(request: Request) -> JsonBody:
    """The body as JSON; problems for a wrong media type, too many bytes, bad UTF-8 or bad JSON."""
    limit: int = request.app.state.config.max_body_bytes
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(
            "unsupported-media-type",
            f"send the body as application/json (got {media_type or 'no Content-Type'})",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem("payload-too-large", f"the body has {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("payload-too-large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        value = orjson.loads(raw)  # strict JSON: no NaN or Infinity, UTF-8 only
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise Problem(
                "malformed-request", f"the body is not valid UTF-8 (byte {bad.start})"
            ) from None
        raise Problem("malformed-request", f"the body is not valid JSON: {exc}") from None
    return JsonBody(value, hashlib.sha256(raw).hexdigest())


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` that documents a body read here as ``model`` (its schema is added
    to the document's components by the app)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def require_empty(body: JsonBody) -> None:
    """A 422 unless the body is ``{}`` (actions such as launch, refresh and pause take none)."""
    if body.value != {}:
        raise Problem(
            "validation-error",
            "the body must be {}",
            errors=[{"field": "body", "message": "send an empty object"}],
        )


def parse_body(model: type[M], value: Any) -> M:
    """``value`` (a body read by :func:`read_json_body`) as ``model``; a 422 problem naming
    each field that is wrong."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise Problem("validation-error", listed, errors=errors) from None
