"""Running one piece of work in several threads at once, for the concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_in_threads(work: Callable[..., Any], count: int, *, numbered: bool = False) -> None:
    """Start ``count`` threads running ``work`` (given its number 0..count-1 if ``numbered``)
    and wait for all of them; the work collects its own outcomes and errors."""
    threads = [threading.Thread(target=work, args=(n,) if numbered else ()) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
