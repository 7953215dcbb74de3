"""The docs name every setting (the CLI reference is checked in tests/e2e/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retentio.bootstrap import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"RETENTIO_{name.upper()}" in DOCS, f"document RETENTIO_{name.upper()} in docs/"
