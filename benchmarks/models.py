"""Benchmark retentio's BG/NBD, Pareto/NBD and Gamma-Gamma against lifetimes and pymc-marketing.

Usage (from the repository root)::

    .venv/bin/python benchmarks/models.py           # CDNOW + 1,000,000 simulated customers
    .venv/bin/python benchmarks/models.py --quick   # 50,000 simulated customers, a smoke run
    .venv/bin/python benchmarks/models.py --only simulated --models pareto --impls retentio

Data: the CDNOW sample's published 39-week summary (2,357 customers, weeks; the 946 repeat
buyers' mean spend for Gamma-Gamma), and customers simulated from BG/NBD in days
(``retentio.models.simulate``), both written once to ``benchmarks/data/models/`` so that every
environment reads the same file. Every fit runs in a fresh process: ``models_worker.py`` in the
project venv, ``lifetimes_models_worker.py`` in ``benchmarks/.venv-lifetimes`` (built by
``run.py``'s helper) and ``pymc_models_worker.py`` in ``benchmarks/.venv-pymc`` (built here from
``requirements-pymc.txt``). Timings are the best of ``--repeat`` runs for retentio and of
``--repeat-others`` runs for lifetimes and pymc-marketing (their fits at 1M take minutes).
Each implementation's optimum is scored with retentio's own log-likelihood (the total over all
customers), so the relative differences compare optima on one scale. The predictions are timed
for all simulated customers with retentio's fitted parameters, one call per fresh process.

The Markdown tables go to stdout, progress to stderr, the JSON to
``benchmarks/results/models-<date>.json`` (``models-<date>-<customers>.json`` for other sizes);
a run restricted with ``--only``/``--models``/``--impls`` updates its entries of that file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from run import (
    DATA,
    HERE,
    LIFETIMES_VENV,
    RESULTS,
    command_line,
    ensure_lifetimes,
    ensure_venv,
    log,
    machine,
    measure,
    source_state,
    summarise_runs,
)

MODEL_DATA = DATA / "models"
PYMC_VENV = HERE / ".venv-pymc"
PYMC_REQUIREMENTS = HERE / "requirements-pymc.txt"

DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 50_000
SEED = 1
#: The simulated shop, in days: BG/NBD purchases (a mean rate r/alpha of one every 120 days),
#: Gamma-Gamma spend (Fader & Hardie's CDNOW estimates), T uniform over whole days 1..730.
SIM_PARAMS = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}
SPEND_PARAMS = {"p": 6.25, "q": 3.74, "gamma": 15.44}
MAX_T_DAYS = 730

MODELS = ("betageo", "pareto", "gammagamma")
IMPLS = ("retentio", "lifetimes", "pymc")
FIT_SECTIONS = ("cdnow", "simulated")
PREDICTIONS = ("alive", "expected", "clv")
LABELS = {
    "betageo": "BG/NBD",
    "pareto": "Pareto/NBD",
    "gammagamma": "Gamma-Gamma",
    "alive": "P(alive)",
    "expected": "expected purchases (30 days)",
    "clv": "CLV (12 months, with Gamma-Gamma)",
}
PARAM_NAMES = {
    "betageo": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
    "gammagamma": ("p", "q", "gamma"),
}

TARGET_SPEEDUP = 10.0  # retentio at least 10x faster than lifetimes at 1M customers
TARGET_LL_REL = 1e-6  # the same optimum: log-likelihoods within 1e-6 relative
TARGET_PREDICT_SECONDS = 1.0  # each prediction for 1M customers in under 1 s


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def ensure_cdnow() -> tuple[Path, dict[str, Any]]:
    """The CDNOW calibration summary (weeks) as benchmarks/data/models/cdnow/summary.parquet."""
    directory = MODEL_DATA / "cdnow"
    path, meta_path = directory / "summary.parquet", directory / "summary.json"
    if path.exists() and meta_path.exists():
        return path, json.loads(meta_path.read_text())
    import pandas as pd

    from retentio.datasets import load_cdnow_summary

    directory.mkdir(parents=True, exist_ok=True)
    summary = load_cdnow_summary()
    frame = pd.DataFrame(
        {
            "customer_id": summary["ID"],
            "frequency": summary["x"].astype("float64"),
            "recency": summary["t_x"],
            "T": summary["T"],
            "monetary_value": summary["zbar"],
        }
    )
    frame.to_parquet(path, index=False)
    meta = describe(frame, "retentio.datasets.load_cdnow_summary()", "weeks")
    meta_path.write_text(json.dumps(meta, indent=2))
    return path, meta


def ensure_simulated(customers: int) -> tuple[Path, dict[str, Any]]:
    """``customers`` simulated from BG/NBD (days) with Gamma-Gamma spend, written once."""
    key = json.dumps(
        {"n": customers, "seed": SEED, "bg": SIM_PARAMS, "gg": SPEND_PARAMS, "T": MAX_T_DAYS},
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]  # noqa: S324 (a cache key)
    directory = MODEL_DATA / f"sim-{customers}-seed{SEED}-{digest}"
    path, meta_path = directory / "summary.parquet", directory / "summary.json"
    if path.exists() and meta_path.exists():
        return path, json.loads(meta_path.read_text())
    import time

    import numpy as np
    import pandas as pd

    from retentio.models.simulate import simulate_betageo, simulate_gamma_gamma

    directory.mkdir(parents=True, exist_ok=True)
    log(f"simulating {customers:,} customers into {path}")
    start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    big_t = rng.integers(1, MAX_T_DAYS + 1, customers).astype(np.float64)
    drawn = simulate_betageo(SIM_PARAMS, big_t, seed=SEED + 1)
    spend = simulate_gamma_gamma(SPEND_PARAMS, drawn["frequency"], seed=SEED + 2)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(customers, dtype=np.int64),
            "frequency": drawn["frequency"].to_numpy(),
            # whole days, as retentio.summarize gives them: recency <= T, 0 without a repeat
            "recency": np.floor(drawn["recency"].to_numpy()),
            "T": big_t,
            "monetary_value": spend["monetary_value"].to_numpy(),
        }
    )
    seconds = time.perf_counter() - start
    frame.to_parquet(path, index=False)
    source = (
        f"T ~ whole days uniform on 1..{MAX_T_DAYS} (numpy default_rng({SEED})); "
        f"simulate_betageo({SIM_PARAMS}, T, seed={SEED + 1}) with recency floored to whole "
        f"days; simulate_gamma_gamma({SPEND_PARAMS}, frequency, seed={SEED + 2})"
    )
    meta = describe(frame, source, "days")
    meta["simulate_seconds"] = round(seconds, 3)
    meta_path.write_text(json.dumps(meta, indent=2))
    return path, meta


def describe(frame: Any, source: str, unit: str) -> dict[str, Any]:
    repeat = frame["frequency"] > 0
    return {
        "source": source,
        "time_unit": unit,
        "customers": len(frame),
        "repeat_buyers": int(repeat.sum()),
        "distinct_rows": int(len(frame[["frequency", "recency", "T"]].drop_duplicates())),
        "mean_frequency": round(float(frame["frequency"].mean()), 4),
        "max_frequency": int(frame["frequency"].max()),
        "mean_T": round(float(frame["T"].mean()), 3),
        "mean_monetary_value_of_repeat_buyers": round(
            float(frame.loc[repeat, "monetary_value"].mean()), 4
        ),
    }


# --------------------------------------------------------------------------------------------
# environments and commands
# --------------------------------------------------------------------------------------------


def find_python(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` on PATH that actually runs (a pyenv shim may not)."""
    for name in names:
        path = shutil.which(name)
        if path and subprocess.run([path, "-c", "pass"], capture_output=True).returncode == 0:
            return path
    return None


def ensure_pymc(python: str | None) -> bool:
    """Create benchmarks/.venv-pymc from requirements-pymc.txt unless it exists."""
    if (PYMC_VENV / "bin" / "python").exists():
        return True
    base = python or find_python(("python3.12", "python3.13"))
    if base is None:
        log("pymc-marketing skipped: it needs CPython >= 3.12 (pass --pymc-python)")
        return False
    return ensure_venv(PYMC_VENV, PYMC_REQUIREMENTS, base, "pymc-marketing")


def fit_command(impl: str, model: str, data: Path) -> list[str]:
    if impl == "retentio":
        command = [sys.executable, str(HERE / "models_worker.py"), "fit", model]
    elif impl == "lifetimes":
        command = [str(LIFETIMES_VENV / "bin" / "python"), str(HERE / "lifetimes_models_worker.py")]
        command.append(model)
    else:
        command = [str(PYMC_VENV / "bin" / "python"), str(HERE / "pymc_models_worker.py"), model]
    return [*command, "--data", str(data)]


def attempt(command: list[str], timeout: float, idle: float) -> Any:
    """run.measure, or a string saying why there is no measurement (a timeout, a failure)."""
    try:
        return measure(command, timeout, idle)
    except (RuntimeError, ValueError, IndexError) as exc:
        if "exit code -9" in str(exc):
            return f"timed out (killed after {timeout:.0f} s)"
        return f"failed: {exc}"


def stamp(result: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    result["measured_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    result["commit"] = source["commit"][:7]
    result["src_dirty"] = source["src_dirty"]
    return result


# --------------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------------


def run_fits(
    data: Path, models: list[str], impls: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Per model and implementation: the best of the runs (rounds interleave implementations)."""
    results: dict[str, Any] = {}
    for model in models:
        runs: dict[str, list[Any]] = {impl: [] for impl in impls}
        failed: dict[str, str] = {}
        for i in range(max(args.repeat, args.repeat_others)):
            for impl in impls:
                wanted = args.repeat if impl == "retentio" else args.repeat_others
                if i >= wanted or impl in failed:
                    continue
                run = attempt(fit_command(impl, model, data), args.timeout, args.idle)
                if isinstance(run, str):
                    log(f"{model} {impl} run {i + 1}: {run}")
                    failed[impl] = run
                    continue
                log(f"{model} {impl} run {i + 1}: {run.seconds:.2f} s, {run.peak_rss_mb:,.0f} MB")
                runs[impl].append(run)
        source = source_state()
        results[model] = {}
        for impl in impls:
            entry = summarise_runs(runs[impl]) if runs[impl] else {}
            if impl in failed:
                entry["failed"] = failed[impl]
                if failed[impl].startswith("timed out"):
                    entry["timeout_seconds"] = args.timeout
            results[model][impl] = stamp(entry, source)
    return results


def run_predictions(
    data: Path, params: dict[str, dict[str, float]], models: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Each prediction for every simulated customer, one call per fresh process."""
    params_path = data.parent / "params.json"
    params_path.write_text(json.dumps(params, indent=2))
    chosen = [(m, w) for m in models if m != "gammagamma" for w in PREDICTIONS]
    runs: dict[tuple[str, str], list[Any]] = {key: [] for key in chosen}
    failed: dict[tuple[str, str], str] = {}
    for i in range(args.repeat):
        for model, what in chosen:
            if (model, what) in failed:
                continue
            command = [sys.executable, str(HERE / "models_worker.py"), "predict", model]
            command += ["--data", str(data), "--params", str(params_path), "--what", what]
            run = attempt(command, args.timeout, args.idle)
            if isinstance(run, str):
                log(f"predict {model} {what} run {i + 1}: {run}")
                failed[(model, what)] = run
                continue
            log(f"predict {model} {what} run {i + 1}: {run.seconds:.3f} s")
            runs[(model, what)].append(run)
    source = source_state()
    results: dict[str, Any] = {}
    for model, what in chosen:
        entry = summarise_runs(runs[(model, what)]) if runs[(model, what)] else {}
        if (model, what) in failed:
            entry["failed"] = failed[(model, what)]
        entry["params"] = params[model]
        results.setdefault(model, {})[what] = stamp(entry, source)
    return results


# --------------------------------------------------------------------------------------------
# the check: every optimum scored by retentio's log-likelihood
# --------------------------------------------------------------------------------------------


def total_log_likelihood(model: str, params: dict[str, float], frame: Any) -> float:
    """The total log-likelihood of ``params`` over the customers of ``frame`` (retentio's)."""
    import numpy as np
    from models_worker import fitted

    if model == "gammagamma":
        from retentio.models.gammagamma import _log_likelihood_terms

        repeat = frame[frame["frequency"] > 0]
        log_params = np.log([params[name] for name in PARAM_NAMES[model]])
        x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
        return float(np.sum(_log_likelihood_terms(log_params, x, m)[0]))
    columns = (frame[c].to_numpy() for c in ("frequency", "recency", "T"))
    return float(np.sum(fitted(model, params)._log_likelihood_rows(*columns)))


def check_fits(sections: dict[str, Any], paths: dict[str, Path]) -> None:
    """Add log_likelihood and ll_rel_diff (to retentio's, relative) to every fit present."""
    import pandas as pd

    for section in FIT_SECTIONS:
        if section not in sections or section not in paths:
            continue
        frame = pd.read_parquet(paths[section])
        for model, impls in sections[section].items():
            for entry in impls.values():
                if "extra" in entry:
                    entry["log_likelihood"] = total_log_likelihood(
                        model, entry["extra"]["params"], frame
                    )
            ours = impls.get("retentio", {}).get("log_likelihood")
            for entry in impls.values():
                if ours is not None and "log_likelihood" in entry:
                    entry["ll_rel_diff"] = (entry["log_likelihood"] - ours) / abs(ours)


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for model, impls in sections.get("simulated", {}).items():
        ours = impls.get("retentio", {})
        if "best_seconds" not in ours:
            continue
        for impl in ("lifetimes", "pymc"):
            other = impls.get(impl)
            if other is None:
                continue
            if impl == "lifetimes":
                if "best_seconds" in other:
                    ratio = other["best_seconds"] / ours["best_seconds"]
                    value = f"{ratio:.1f}"
                elif "timeout_seconds" not in other:
                    continue
                else:
                    ratio = other["timeout_seconds"] / ours["best_seconds"]
                    value = f"> {ratio:.0f} (lifetimes timed out)"
                rows.append(
                    {
                        "target": f"{LABELS[model]} fit: lifetimes time / retentio time "
                        f">= {TARGET_SPEEDUP:g}",
                        "value": value,
                        "met": ratio >= TARGET_SPEEDUP,
                    }
                )
            if "ll_rel_diff" in other:
                diff = other["ll_rel_diff"]
                rows.append(
                    {
                        "target": f"{LABELS[model]}: |LL(retentio) - LL({impl})| / |LL| "
                        f"<= {TARGET_LL_REL:g}",
                        "value": f"{diff:+.1e}",
                        "met": abs(diff) <= TARGET_LL_REL,
                    }
                )
    for model, whats in sections.get("predictions", {}).items():
        for what, entry in whats.items():
            if "best_seconds" not in entry:
                continue
            rows.append(
                {
                    "target": f"{LABELS[model]} {LABELS[what]}: seconds "
                    f"< {TARGET_PREDICT_SECONDS:g}",
                    "value": f"{entry['best_seconds']:.3f}",
                    "met": entry["best_seconds"] < TARGET_PREDICT_SECONDS,
                }
            )
    return rows


def markdown(result: dict[str, Any]) -> str:
    sections = result["sections"]
    lines = [
        "| data | model | implementation | fit (s), best | runs (s) | CPU (s) | peak RSS (MB) | "
        "x retentio's time | total LL (retentio's function) | LL rel. diff to retentio |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    params_lines = ["| data | model | implementation | parameters |", "|---|---|---|---|"]
    for section in FIT_SECTIONS:
        label = "CDNOW (weeks)" if section == "cdnow" else f"simulated {result['customers']:,}"
        for model, impls in sections.get(section, {}).items():
            ours = impls.get("retentio", {}).get("best_seconds")
            for impl, entry in impls.items():
                if "best_seconds" not in entry:
                    reason = entry.get("failed", "not run")
                    lines.append(f"| {label} | {LABELS[model]} | {impl} | {reason} | | | | | | |")
                    continue
                ratio = "" if ours is None else f"{entry['best_seconds'] / ours:.1f}"
                diff = entry.get("ll_rel_diff")
                lines.append(
                    f"| {label} | {LABELS[model]} | {impl} | {entry['best_seconds']:.2f} | "
                    f"{', '.join(f'{s:.2f}' for s in entry['seconds'])} | "
                    f"{entry['best_cpu_seconds']:.2f} | {entry['peak_rss_mb']:,.0f} | {ratio} | "
                    f"{entry.get('log_likelihood', float('nan')):,.4f} | "
                    f"{'' if diff is None else f'{diff:+.1e}'} |"
                )
                shown = ", ".join(f"{k}={v:.6g}" for k, v in entry["extra"]["params"].items())
                params_lines.append(f"| {label} | {LABELS[model]} | {impl} | {shown} |")
    lines += ["", *params_lines]
    if "predictions" in sections:
        lines += [
            "",
            f"| model | prediction for {result['customers']:,} customers | best (s) | runs (s) | "
            "peak RSS (MB) |",
            "|---|---|---:|---|---:|",
        ]
        for model, whats in sections["predictions"].items():
            for what, entry in whats.items():
                if "best_seconds" not in entry:
                    lines.append(f"| {LABELS[model]} | {LABELS[what]} | {entry['failed']} | | |")
                    continue
                lines.append(
                    f"| {LABELS[model]} | {LABELS[what]} | {entry['best_seconds']:.3f} | "
                    f"{', '.join(f'{s:.3f}' for s in entry['seconds'])} | "
                    f"{entry['peak_rss_mb']:,.0f} |"
                )
    rows = result["targets"]
    if rows:
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {r['target']} | {r['value']} | {'yes' if r['met'] else 'NO'} |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s entries over ``previous``'s, per section, model and implementation."""
    merged = json.loads(json.dumps(previous))
    for section, models in new.items():
        for model, entries in models.items():
            merged.setdefault(section, {}).setdefault(model, {}).update(entries)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark retentio's model fits and predictions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--customers", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CUSTOMERS:,} customers")
    parser.add_argument("--repeat", type=int, default=3, help="retentio: best of N (default 3)")
    parser.add_argument(
        "--repeat-others", type=int, default=1, help="lifetimes, pymc: best of N (default 1)"
    )
    parser.add_argument("--only", nargs="+", choices=[*FIT_SECTIONS, "predictions"])
    parser.add_argument(
        "--report", action="store_true", help="measure nothing: re-check and print that day's file"
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--lifetimes-python", help="CPython 3.11 for benchmarks/.venv-lifetimes")
    parser.add_argument("--pymc-python", help="CPython >= 3.12 for benchmarks/.venv-pymc")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument(
        "--idle",
        type=float,
        default=300.0,
        help="before each run, wait up to this many seconds for idle CPUs (default 300)",
    )
    args = parser.parse_args()
    customers = args.customers or (QUICK_CUSTOMERS if args.quick else DEFAULT_CUSTOMERS)
    if min(args.repeat, args.repeat_others, customers) < 1:
        parser.error("--repeat, --repeat-others and --customers must be >= 1")
    only = [] if args.report else args.only or [*FIT_SECTIONS, "predictions"]

    paths: dict[str, Path] = {}
    data: dict[str, Any] = {}
    paths["cdnow"], data["cdnow"] = ensure_cdnow()
    paths["simulated"], data["simulated"] = ensure_simulated(customers)
    impls = list(args.impls)
    if "lifetimes" in impls and not ensure_lifetimes(args.lifetimes_python):
        impls.remove("lifetimes")
    if "pymc" in impls and not ensure_pymc(args.pymc_python):
        impls.remove("pymc")

    suffix = "" if customers == DEFAULT_CUSTOMERS else f"-{customers}"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"models-{date.today().isoformat()}{suffix}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    sections: dict[str, Any] = previous.get("sections", {})
    for section in FIT_SECTIONS:
        if section in only:
            log(f"fitting on {section}")
            new = run_fits(paths[section], args.models, impls, args)
            sections = merge(sections, {section: new})
    if "predictions" in only:
        fits = sections.get("simulated", {})
        missing = [m for m in MODELS if "extra" not in fits.get(m, {}).get("retentio", {})]
        if missing:
            log(f"predictions skipped: no retentio fit on the simulated data for {missing}")
        else:
            params = {m: fits[m]["retentio"]["extra"]["params"] for m in MODELS}
            new = run_predictions(paths["simulated"], params, args.models, args)
            sections = merge(sections, {"predictions": new})
    log("scoring every optimum with retentio's log-likelihood")
    check_fits(sections, paths)

    if args.report:  # the run's own record (config, machine, source) stays as measured
        result = {**previous, "sections": sections}
    else:
        result = {
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "commands": [*previous.get("commands", []), command_line("benchmarks/models.py")],
            "customers": customers,
            "config": {
                "seed": SEED,
                "simulated_betageo": SIM_PARAMS,
                "simulated_spend": SPEND_PARAMS,
                "max_T_days": MAX_T_DAYS,
                "repeat": args.repeat,
                "repeat_others": args.repeat_others,
                "timeout": args.timeout,
            },
            "machine": machine(),
            "source": source_state(),
            "data": data,
            "sections": sections,
        }
    result["targets"] = targets(sections)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"results written to {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
