"""One measurement in a fresh process: ``python benchmarks/worker.py TASK IMPL ...``.

Prints one JSON line: ``seconds`` (wall clock of the computation only: imports and writing the
result for the check are outside), ``cpu_seconds`` (user + system CPU time of the same span,
all threads), ``peak_rss_kb`` (the process's peak resident set size when
the computation ended, imports included) and ``baseline_rss_kb`` (resident set size after the
imports, before the computation).

Tasks: ``summarize`` and ``cohorts`` (IMPL ``retentio``, ``sql`` or ``pandas``) read the
normalised transactions ``--data`` and write their result to ``--out`` if given; ``load``
(IMPL ``retentio``) normalises the orders export ``--data`` with ``load_transactions`` and
writes the table to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def current_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(source: str, out: str | None) -> dict[str, object]:
    import pyarrow.parquet as pq

    import retentio

    baseline = current_rss_kb()
    cpu = cpu_seconds()
    start = time.perf_counter()
    table = retentio.load_transactions(source, status_col="status", currency_col="currency")
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    peak = peak_rss_kb()
    write_seconds = None
    if out is not None:
        start = time.perf_counter()
        pq.write_table(table, out)
        write_seconds = time.perf_counter() - start
    report = retentio.load_report(table)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_kb": peak,
        "baseline_rss_kb": baseline,
        "rows": table.num_rows,
        "write_seconds": write_seconds,
        "peak_rss_kb_with_write": peak_rss_kb(),
        "report": None if report is None else report.__dict__,
    }


def run_task(task: str, impl: str, data: str, end: date, out: str | None) -> dict[str, object]:
    import impls

    function = impls.IMPLEMENTATIONS[task][impl]
    if impl == "retentio":
        import retentio  # noqa: F401  (import outside the timed section, as for the others)
    baseline = current_rss_kb()
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = function(data, end)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    peak = peak_rss_kb()
    if out is not None:
        result.to_parquet(out, index=False)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_kb": peak,
        "baseline_rss_kb": baseline,
        "rows": len(result),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["summarize", "cohorts", "load"])
    parser.add_argument("impl", choices=["retentio", "sql", "pandas"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--end", default="2026-06-30")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.task == "load":
        result = run_load(args.data, args.out)
    else:
        end = date.fromisoformat(args.end)
        result = run_task(args.task, args.impl, args.data, end, args.out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
