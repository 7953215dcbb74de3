"""Atomic file writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from retentio.core.files import write_atomically


def test_the_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    write_atomically(target, b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_private_files_are_for_their_owner_only(tmp_path: Path) -> None:
    target = write_atomically(tmp_path / "person.json", b"{}", private=True)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken_replace(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("retentio.core.files.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
