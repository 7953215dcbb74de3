"""Benchmark retentio.summarize and retentio.cohort_matrix against DuckDB SQL, pandas, lifetimes.

Usage (from the repository root; ``make bench`` runs the default)::

    .venv/bin/python benchmarks/run.py                       # 1,000,000 customers, best of 3
    .venv/bin/python benchmarks/run.py --quick               # 50,000 customers, a smoke run
    .venv/bin/python benchmarks/run.py --only summarize --repeat 5

The data come from the synthetic shop (``retentio.datasets.write_shop``) with parameters that
give about 10 orders per customer, are normalised once with ``retentio.load_transactions`` and
cached under ``benchmarks/data/``. Every measurement runs in a fresh process (``worker.py``, or
``lifetimes_worker.py`` in ``benchmarks/.venv-lifetimes``) so that its peak resident set size
is its own. Timings are the best of ``--repeat`` runs; the peak RSS is the largest of them.
Every implementation's result is checked against retentio's (same rows, values within 1e-9).

The Markdown table goes to stdout, progress to stderr, and the JSON to
``benchmarks/results/<date>.json`` (``<date>-<customers>.json`` for other sizes; a run with
``--only`` updates its section of an existing file).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
LIFETIMES_VENV = HERE / ".venv-lifetimes"
LIFETIMES_REQUIREMENTS = HERE / "requirements-lifetimes.txt"

DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 50_000
SEED = 1
OBSERVATION_END = date(2026, 6, 30)

# About 10 orders per customer over 2023-01-01..2026-06-30 (the default shop has about 3):
# a higher purchase rate (mean r/alpha = 0.029 a day instead of 0.01) and a lower dropout
# probability after each repeat purchase (mean a/(a+b) = 0.057 instead of 0.19).
SHOP_PARAMS = {"r": 0.8, "alpha": 28.0, "a": 0.6, "b": 10.0}

TARGET_VS_SQL = 1.3  # retentio at most 1.3x the time of hand-written DuckDB SQL
TARGET_VS_PANDAS = 4.0  # retentio at least 4x faster than pandas
TARGET_PEAK_MB = 1000.0  # retentio's peak RSS under 1 GB

TASKS = {
    "summarize": ["retentio", "sql", "pandas", "lifetimes"],
    "cohorts": ["retentio", "sql", "pandas"],
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# measurements in fresh processes
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Measurement:
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float  # at the end of the computation, as reported by the process itself
    process_peak_rss_mb: float  # of the whole process (wait4), result writing included
    baseline_rss_mb: float
    busy_before: float | None  # share of all CPUs used by other processes just before the run
    extra: dict[str, Any]


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy (with anything) over ``seconds``, from /proc/stat."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_idle(max_wait: float, threshold: float = 0.15) -> float | None:
    """Wait (up to ``max_wait`` seconds) until the other processes leave the CPUs idle.

    Other work on the machine (a test suite, say) slows a run down and makes the comparison
    unfair; this waits for a quiet moment. Returns the busy share last seen.
    """
    if max_wait <= 0:
        return None
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    if busy > threshold:
        log(f"other processes keep {busy:.0%} of the CPUs busy; waiting up to {max_wait:.0f} s")
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(4.0)
        busy = cpu_busy()
    return busy


def measure(command: list[str], timeout: float, idle_wait: float = 0.0) -> Measurement:
    """Run ``command`` (which prints one JSON line) and collect its own peak RSS with wait4."""
    busy = wait_until_idle(idle_wait)
    # Byte-compiled modules are cached (in benchmarks/data/pycache, whatever
    # PYTHONDONTWRITEBYTECODE says) as in any installed environment, so that the first call of
    # a library does not include compiling its sources.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(DATA / "pycache")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode}")
    lines = [line for line in output.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1])
    return Measurement(
        seconds=float(report.pop("seconds")),
        cpu_seconds=float(report.pop("cpu_seconds")),
        peak_rss_mb=int(report.pop("peak_rss_kb")) * 1024 / 1e6,
        process_peak_rss_mb=usage.ru_maxrss * 1024 / 1e6,
        baseline_rss_mb=int(report.pop("baseline_rss_kb")) * 1024 / 1e6,
        busy_before=busy,
        extra=report,
    )


def worker_command(task: str, impl: str, data: Path, out: Path | None) -> list[str]:
    if impl == "lifetimes":
        command = [str(LIFETIMES_VENV / "bin" / "python"), str(HERE / "lifetimes_worker.py")]
    else:
        command = [sys.executable, str(HERE / "worker.py"), task, impl]
    command += ["--data", str(data), "--end", OBSERVATION_END.isoformat()]
    if out is not None:
        command += ["--out", str(out)]
    return command


def summarise_runs(runs: list[Measurement]) -> dict[str, Any]:
    return {
        "best_seconds": min(r.seconds for r in runs),
        "seconds": [round(r.seconds, 3) for r in runs],
        "best_cpu_seconds": min(r.cpu_seconds for r in runs),
        "cpu_seconds": [round(r.cpu_seconds, 3) for r in runs],
        "busy_before": [None if r.busy_before is None else round(r.busy_before, 3) for r in runs],
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "process_peak_rss_mb": max(r.process_peak_rss_mb for r in runs),
        "baseline_rss_mb": min(r.baseline_rss_mb for r in runs),
        "extra": min(runs, key=lambda r: r.seconds).extra,  # of the best run
    }


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def data_dir(customers: int) -> Path:
    key = json.dumps({"customers": customers, "seed": SEED, "params": SHOP_PARAMS}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]  # noqa: S324 (a cache key)
    return DATA / f"shop-{customers}-seed{SEED}-{digest}"


def ensure_orders(directory: Path, customers: int) -> dict[str, Any]:
    """The orders export (generated once), and what the generator reported."""
    meta_path = directory / "orders.json"
    orders = directory / "orders.parquet"
    if orders.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        return meta
    from retentio.datasets import ShopParams, write_shop

    directory.mkdir(parents=True, exist_ok=True)
    log(f"generating {customers:,} customers into {orders}")
    start = time.perf_counter()
    stats = write_shop(orders, customers, SEED, params=ShopParams(**SHOP_PARAMS))
    meta = {
        "customers": stats.customers,
        "orders": stats.orders,
        "refunds": stats.refunds,
        "rows": stats.rows,
        "seed": SEED,
        "params": SHOP_PARAMS,
        "generate_seconds": time.perf_counter() - start,
        "bytes": orders.stat().st_size,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    log(f"generated {stats.orders:,} orders and {stats.refunds:,} refunds")
    return meta


def ensure_transactions(
    directory: Path, timeout: float, idle_wait: float
) -> tuple[Path, Measurement | None]:
    """The normalised transactions Parquet file (loaded once); the load's measurement if run."""
    target = directory / "transactions.parquet"
    if target.exists():
        return target, None
    log("normalising with retentio.load_transactions")
    partial = directory / "transactions.parquet.partial"
    command = worker_command("load", "retentio", directory / "orders.parquet", partial)
    run = measure(command, timeout, idle_wait)
    partial.rename(target)
    return target, run


# --------------------------------------------------------------------------------------------
# the comparison venvs (lifetimes here, pymc-marketing in models.py)
# --------------------------------------------------------------------------------------------


def ensure_venv(venv: Path, requirements: Path, base: str, what: str) -> bool:
    """Create ``venv`` from ``requirements`` with the interpreter ``base``; False on failure."""
    interpreter = venv / "bin" / "python"
    log(f"creating {venv} with {base}")
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        pip = [str(interpreter), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"{what} skipped: could not build its venv ({exc})")
        shutil.rmtree(venv, ignore_errors=True)
        return False
    return True


def ensure_lifetimes(python: str | None) -> bool:
    """Create benchmarks/.venv-lifetimes from requirements-lifetimes.txt unless it exists."""
    if (LIFETIMES_VENV / "bin" / "python").exists():
        return True
    base = python or shutil.which("python3.11")
    if base is None:
        log("lifetimes skipped: it needs CPython 3.11 (pass --lifetimes-python)")
        return False
    return ensure_venv(LIFETIMES_VENV, LIFETIMES_REQUIREMENTS, base, "lifetimes")


# --------------------------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------------------------


def cpu_reference() -> float:
    """Seconds a fixed pure-Python loop takes (best of 3): the machine's speed, so that runs on
    machines of one kind can be compared. Machines reported alike ("AMD EPYC", 2 cores) have
    run the same code at speeds nearly 2x apart."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def machine() -> dict[str, Any]:
    import duckdb
    import ibis
    import numpy
    import pandas
    import pyarrow

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = 0.0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) * 1024 / 1e9
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "cpu_reference_s": cpu_reference(),
        "ram_gb": round(ram_gb, 1),
        "os": os_name,
        "python": platform.python_version(),
        "versions": {
            "duckdb": duckdb.__version__,
            "ibis": ibis.__version__,
            "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__,
            "numpy": numpy.__version__,
        },
    }


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def source_state() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


def write_database_results(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` (with a ``databases`` section) to ``path``; a run of one database or
    of part of the measurements keeps the other entries of that day's file."""
    if path.exists():
        earlier = json.loads(path.read_text()).get("databases", {})
        for kind, runs in result["databases"].items():
            result["databases"][kind] = {**earlier.get(kind, {}), **runs}
        result["databases"] = {**earlier, **result["databases"]}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def command_line(script: str) -> str:
    """This run's command line, the interpreter relative to the repository when inside it."""
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(HERE.parent):
        interpreter = interpreter.relative_to(HERE.parent)
    return " ".join([str(interpreter), script, *sys.argv[1:]])


def targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for task in TASKS:
        impls = sections.get(task, {}).get("implementations", {})
        if "retentio" not in impls:
            continue
        ours = impls["retentio"]
        if "sql" in impls:
            ratio = ours["best_seconds"] / impls["sql"]["best_seconds"]
            rows.append(
                {
                    "target": f"{task}: retentio time / DuckDB SQL time <= {TARGET_VS_SQL}",
                    "value": round(ratio, 2),
                    "met": ratio <= TARGET_VS_SQL,
                }
            )
        if "pandas" in impls:
            ratio = impls["pandas"]["best_seconds"] / ours["best_seconds"]
            rows.append(
                {
                    "target": f"{task}: pandas time / retentio time >= {TARGET_VS_PANDAS:g}",
                    "value": round(ratio, 2),
                    "met": ratio >= TARGET_VS_PANDAS,
                }
            )
        rows.append(
            {
                "target": f"{task}: retentio peak RSS < {TARGET_PEAK_MB:,.0f} MB",
                "value": round(ours["peak_rss_mb"]),
                "met": ours["peak_rss_mb"] < TARGET_PEAK_MB,
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    data = result["data"]
    lines = [
        f"{data['customers']:,} customers, {data['orders']:,} orders, {data['refunds']:,} "
        f"refund rows ({data['rows']:,} rows); best of {result['config']['repeat']} runs, "
        "each in a fresh process.",
        "",
        "| task | implementation | best (s) | runs (s) | CPU (s) | peak RSS (MB) | x retentio |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    sections = result["sections"]
    if "load" in sections:
        load = sections["load"]
        lines.append(
            f"| load | retentio.load_transactions | {load['best_seconds']:.2f} | "
            f"{', '.join(f'{s:.2f}' for s in load['seconds'])} | "
            f"{load['best_cpu_seconds']:.2f} | {load['peak_rss_mb']:,.0f} | |"
        )
    for task in TASKS:
        impls = sections.get(task, {}).get("implementations", {})
        ours = impls.get("retentio", {}).get("best_seconds")
        for name, run in impls.items():
            ratio = "" if ours is None else f"{run['best_seconds'] / ours:.2f}"
            label = name
            if name == "lifetimes":
                label += f" (call alone {run['extra']['seconds_lifetimes_call']:.2f} s)"
            check = run.get("check")
            if check:
                label += " **MISMATCH**"
            lines.append(
                f"| {task} | {label} | {run['best_seconds']:.2f} | "
                f"{', '.join(f'{s:.2f}' for s in run['seconds'])} | "
                f"{run['best_cpu_seconds']:.2f} | {run['peak_rss_mb']:,.0f} | {ratio} |"
            )
    rows = targets(sections)
    if rows:
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {r['target']} | {r['value']} | {'yes' if r['met'] else 'NO'} |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def run_task(
    task: str,
    impls: list[str],
    transactions: Path,
    out_dir: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Best of ``args.repeat`` rounds; each round runs every implementation once, in turn."""
    import pandas as pd
    from impls import check_same

    runs: dict[str, list[Measurement]] = {impl: [] for impl in impls}
    for i in range(args.repeat):
        for impl in impls:
            out = out_dir / f"{task}-{impl}.parquet" if i == 0 else None
            run = measure(worker_command(task, impl, transactions, out), args.timeout, args.idle)
            log(
                f"{task} {impl} run {i + 1}: {run.seconds:.2f} s, CPU {run.cpu_seconds:.2f} s, "
                f"{run.peak_rss_mb:,.0f} MB"
            )
            runs[impl].append(run)
    results: dict[str, Any] = {}
    expected: pd.DataFrame | None = None
    for impl in impls:
        summary = summarise_runs(runs[impl])
        out = out_dir / f"{task}-{impl}.parquet"
        got = pd.read_parquet(out)
        if expected is None:
            expected = got
            summary["check"] = []
        else:
            summary["check"] = check_same(task, expected, got)
            verdict = "; ".join(summary["check"]) or "same result as retentio"
            log(f"{task} {impl}: {verdict}")
        summary["rows"] = len(got)
        results[impl] = summary
    for impl in impls:
        (out_dir / f"{task}-{impl}.parquet").unlink()
    return {"implementations": results}


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark retentio.summarize and cohort_matrix.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--customers", type=int, default=None, help="default 1,000,000")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CUSTOMERS:,} customers (a smoke run)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--only", choices=["summarize", "cohorts", "load"])
    parser.add_argument(
        "--no-lifetimes", action="store_true", help="skip lifetimes (and its venv set-up)"
    )
    parser.add_argument("--lifetimes-python", help="CPython 3.11 for benchmarks/.venv-lifetimes")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per run (default 1800)"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=300.0,
        help="before each run, wait up to this many seconds for other processes to leave the "
        "CPUs idle (default 300; 0 to not wait)",
    )
    args = parser.parse_args()
    customers = args.customers or (QUICK_CUSTOMERS if args.quick else DEFAULT_CUSTOMERS)
    if args.repeat < 1 or customers < 1:
        parser.error("--repeat and --customers must be >= 1")

    source = source_state()
    directory = data_dir(customers)
    data = ensure_orders(directory, customers)
    transactions, first_load = ensure_transactions(directory, args.timeout, args.idle)
    data["transactions_bytes"] = transactions.stat().st_size
    sections: dict[str, Any] = {}

    if args.only in (None, "load"):
        runs = [] if first_load is None else [first_load]
        while len(runs) < args.repeat:
            command = worker_command("load", "retentio", directory / "orders.parquet", None)
            run = measure(command, args.timeout, args.idle)
            log(f"load run {len(runs) + 1}: {run.seconds:.2f} s, {run.peak_rss_mb:,.0f} MB")
            runs.append(run)
        sections["load"] = summarise_runs(runs)

    with_lifetimes = not args.no_lifetimes and args.only in (None, "summarize")
    if with_lifetimes:
        with_lifetimes = ensure_lifetimes(args.lifetimes_python)
    out_dir = directory / "out"
    out_dir.mkdir(exist_ok=True)
    for task, impls in TASKS.items():
        if args.only not in (None, task):
            continue
        chosen = [i for i in impls if i != "lifetimes" or with_lifetimes]
        sections[task] = run_task(task, chosen, transactions, out_dir, args)

    today = date.today().isoformat()
    suffix = "" if customers == DEFAULT_CUSTOMERS else f"-{customers}"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{today}{suffix}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    merged = {**previous.get("sections", {}), **sections}
    command = command_line("benchmarks/run.py")
    result = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "config": {
            "customers": customers,
            "seed": SEED,
            "shop_params": SHOP_PARAMS,
            "observation_end": OBSERVATION_END.isoformat(),
            "repeat": args.repeat,
        },
        "machine": machine(),
        "source": source,
        "data": data,
        "sections": merged,
    }
    result["targets"] = targets(merged)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"results written to {path.relative_to(HERE.parent)}")
    mismatches = [
        (task, impl)
        for task in TASKS
        for impl, run in sections.get(task, {}).get("implementations", {}).items()
        if run.get("check")
    ]
    if mismatches:
        sys.exit(f"results differ from retentio's: {mismatches}")


if __name__ == "__main__":
    main()
