"""The suppression list on SQLite and PostgreSQL: keyed, normalised, idempotent, no plaintext."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from retentio.privacy import is_suppressed, suppress

SECRET = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"


def test_a_suppressed_address_is_recognised_however_it_is_typed(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        assert suppress(
            session, SECRET, channel="email", address="Anna@Example.dk", reason="erasure"
        )
        assert not suppress(
            session, SECRET, channel="email", address=" anna@example.DK", reason="bounce"
        )
        assert is_suppressed(session, SECRET, channel="email", address="ANNA@example.dk")
        assert not is_suppressed(session, SECRET, channel="email", address="bo@example.dk")
        assert not is_suppressed(session, SECRET, channel="sms", address="+4520123456")
        suppress(session, SECRET, channel="sms", address="20 12 34 56", region="DK", reason="stop")
        assert is_suppressed(session, SECRET, channel="sms", address="+45 20 12 34 56")
        rows = session.execute(text("SELECT * FROM suppressions")).all()
        assert len(rows) == 2
        dumped = " ".join(str(v) for row in rows for v in row).lower()
        assert "anna" not in dumped and "20123456" not in dumped
