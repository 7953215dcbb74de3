"""Helpers shared by the API tests."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def count_rows(engine: Engine, table: Any) -> int:
    """How many rows ``table`` (a mapped class) holds."""
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem+json body of ``response``, checked to be of ``status`` and type ``slug``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = json.loads(response.text)
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    return body
