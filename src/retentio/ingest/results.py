"""What a batch did: counts, the items refused (by index and field), and item validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from retentio.core.errors import DataError
from retentio.ingest.models import CURRENCY, NO_NUL

__all__ = ["BatchRejected", "BatchResult", "ItemError", "validate_items"]

M = TypeVar("M", bound=BaseModel)
_MAX_REPORTED = 1000  # errors listed in a rejection message (all are kept in ``errors``)


@dataclass(frozen=True, slots=True)
class ItemError:
    """One refused item: its 0-based index in the batch, the field path and what is wrong."""

    index: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(slots=True)
class BatchResult:
    """Counts of one batch; ``received == created + updated + unchanged + failed``."""

    received: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[ItemError] = field(default_factory=list)

    def settle(self, counted_new: int, inserted: int | None) -> None:
        """Of ``counted_new`` items counted as created, the database inserted ``inserted``
        (None: not known, nothing to settle); another writer inserted the rest first, so this
        batch updated them. PostgreSQL: two batches may both have read a key as new."""
        if inserted is not None:
            self.created -= counted_new - inserted
            self.updated += counted_new - inserted

    def to_dict(self) -> dict[str, Any]:
        """The JSON the API answers: received, created, updated, failed and errors.

        ``unchanged`` (items already stored as sent) stays out of this contract's keys; it is
        ``received - created - updated - failed``.
        """
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "errors": [e.to_dict() for e in self.errors],
        }


class BatchRejected(DataError):
    """An atomic batch with at least one bad item: nothing of it was written."""

    def __init__(self, errors: Sequence[ItemError], received: int) -> None:
        self.errors = list(errors)
        self.received = received
        shown = "; ".join(
            f"item {e.index}: {e.field + ': ' if e.field else ''}{e.message}"
            for e in self.errors[:5]
        )
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(
            f"{len(self.errors)} of {received} item(s) are invalid, so none was written: "
            f"{shown}{more}"
        )


def _path(location: tuple[int | str, ...]) -> str:
    """A pydantic location as ``lines[0].amount``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


_MESSAGES = {
    "missing": "is required",
    "timezone_aware": "give a time zone offset, e.g. 2026-03-01T10:00:00+01:00",
    "extra_forbidden": "is not a known field",
    "decimal_parsing": 'not an amount: give a JSON number or a string like "12.50"',
    "decimal_type": 'not an amount: give a JSON number or a string like "12.50"',
    "finite_number": "not a finite amount",
}
#: Messages for the patterns of :mod:`retentio.ingest.models`, by pattern.
_PATTERNS = {
    NO_NUL: "must not contain NUL (\\u0000) characters",
    CURRENCY: "not an ISO 4217 currency code such as EUR",
}


def _errors(index: int, exc: ValidationError) -> list[ItemError]:
    found = []
    for error in exc.errors(include_url=False):
        context = error.get("ctx") or {}
        where = context.get("field") or _path(tuple(error["loc"]))
        if error["type"] == "string_pattern_mismatch":
            pattern = str(context.get("pattern"))
            message = _PATTERNS.get(pattern, error["msg"])
            if pattern == CURRENCY:  # a code, never personal data: echoed
                message += f": {error['input']!r}"
        else:
            message = _MESSAGES.get(error["type"], error["msg"])
        found.append(ItemError(index, str(where), message.removeprefix("Value error, ")))
    return found


@lru_cache(maxsize=16)
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_items(
    model: type[M], items: Sequence[Any]
) -> tuple[list[tuple[int, M]], list[ItemError]]:
    """Validate each item on its own: the valid ones with their index, and every error.

    Items that are ``model`` instances already (validated by the caller) are taken as they are.
    """
    if all(type(item) is model for item in items):
        return list(enumerate(items)), []
    if all(type(item) is dict for item in items):
        try:  # the common case, all valid: one call into pydantic's core for the whole batch
            return list(enumerate(_list_adapter(model).validate_python(items))), []
        except ValidationError:
            pass  # some item is invalid: validate one by one to keep the valid ones
    valid: list[tuple[int, M]] = []
    errors: list[ItemError] = []
    validate = model.model_validate
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            kind = "null" if item is None else type(item).__name__
            errors.append(ItemError(index, "", f"each item must be a JSON object, got {kind}"))
            continue
        try:
            valid.append((index, validate(item)))
        except ValidationError as exc:
            errors.extend(_errors(index, exc))
    return valid, errors


def keep_last(valid: list[tuple[int, M]], key: str, errors: list[ItemError]) -> list[tuple[int, M]]:
    """Of items with the same ``key`` value, keep the last; the earlier ones become errors."""
    last: dict[Any, int] = {}
    for index, item in valid:
        value = getattr(item, key)
        if value is not None:
            last[value] = index
    kept = []
    for index, item in valid:
        value = getattr(item, key)
        winner = last.get(value, index) if value is not None else index
        if winner == index:
            kept.append((index, item))
        else:
            errors.append(
                ItemError(
                    index, key, f"superseded by item {winner} with the same {key} (the last wins)"
                )
            )
    return kept
