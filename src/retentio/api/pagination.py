"""Opaque keyset cursors: the last row's id, so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Query

from retentio.api.problems import Problem

__all__ = ["Cursor", "Limit", "decode_cursor", "encode_cursor"]

#: The page size of a listing route.
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
#: The cursor of a listing route.
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]

_PREFIX = "after:"


def encode_cursor(last_id: int) -> str:
    """The cursor of the page after the row ``last_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor continues after (0 without one); 422 for a cursor not made here."""
    if cursor is None or cursor == "":
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or len(number) > 18:
        raise Problem(
            "validation-error",
            "cursor: not a cursor from a previous page's next_cursor",
            errors=[{"field": "cursor", "message": "use next_cursor from the previous page"}],
        )
    return int(number)
