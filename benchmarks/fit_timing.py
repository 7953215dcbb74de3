"""What every model worker reports: wall and CPU time of one call, peak RSS, as one JSON line.

Standard library only: imported by the workers of the three environments (the project venv,
``.venv-lifetimes`` and ``.venv-pymc``), which share nothing else. The JSON line has the keys
``benchmarks/run.py``'s ``measure`` reads (``seconds``, ``cpu_seconds``, ``peak_rss_kb``,
``baseline_rss_kb``) plus whatever the worker adds.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB: VmRSS (now) or VmHWM (the peak so far).

    VmHWM is the peak of this process image only. ``getrusage``'s ``ru_maxrss`` is not: Linux
    carries it over from the parent through fork and exec, so a worker started by a driver
    holding 300 MB would report at least 300 MB whatever it does.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(call: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Run ``call`` once; its result and the measurement (times, RSS before, peak after)."""
    baseline = status_kb("VmRSS")
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    return result, {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "peak_rss_kb": status_kb("VmHWM"),
        "baseline_rss_kb": baseline,
    }


def report(measurement: dict[str, Any], **extra: Any) -> None:
    """Print the one JSON line the driver reads (the last line starting with ``{``)."""
    print(json.dumps({**measurement, **extra}), flush=True)
