"""Files written whole or not at all."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["open_atomically", "write_atomically"]


@contextmanager
def open_atomically(path: str | os.PathLike[str], *, private: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through: a temporary file beside it, flushed to disk
    and renamed over ``path`` when the block ends without an error (removed if it raises), so
    a reader sees the old file or the complete new one, never a part.

    ``private``: the file is readable by its owner only (mode 0600), as personal data should
    be; otherwise it is created like any new file (0666 less the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    mode = 0o600 if private else 0o666
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see :func:`open_atomically`)."""
    with open_atomically(path, private=private) as handle:
        handle.write(data)
    return Path(path)
