"""lifetimes' ``summary_data_from_transaction_data`` on the benchmark data, in its own venv.

Run with the interpreter of ``benchmarks/.venv-lifetimes`` (see requirements-lifetimes.txt):
lifetimes is archived and needs pandas < 2, numpy < 2 and scipy < 1.12, so it cannot share the
project's environment. This file imports neither retentio nor anything else from the project.

It reads the same normalised transactions Parquet file as the other implementations, keeps the
rows up to the observation end, nets each refund into the purchase with the same order_id (as
retentio does; lifetimes itself knows nothing of refunds) and calls
``summary_data_from_transaction_data(..., freq="D")``. Prints one JSON line like worker.py, with
``seconds`` for the whole (read + net + summary) and ``seconds_lifetimes_call`` for the
lifetimes call alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from datetime import date, timedelta


def current_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--end", default="2026-06-30")
    parser.add_argument("--out")
    args = parser.parse_args()
    end = date.fromisoformat(args.end)

    import lifetimes
    import numpy as np
    import pandas as pd
    import scipy
    from lifetimes.utils import summary_data_from_transaction_data

    warnings.simplefilter("ignore")
    baseline = current_rss_kb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    df = pd.read_parquet(
        args.data, columns=["customer_id", "order_id", "ordered_at", "amount", "is_refund"]
    )
    df = df[df["ordered_at"] < pd.Timestamp(end + timedelta(days=1), tz="UTC")]
    refunds = df[df["is_refund"]].groupby("order_id")["amount"].sum().rename("refunded")
    purchases = df[~df["is_refund"]].join(refunds, on="order_id")
    orders = pd.DataFrame(
        {
            "customer_id": purchases["customer_id"],
            "ordered_at": purchases["ordered_at"].dt.tz_convert(None),
            "value": purchases["amount"] + purchases["refunded"].fillna(0.0),
        }
    )
    del df, refunds, purchases
    call = time.perf_counter()
    summary = summary_data_from_transaction_data(
        orders,
        "customer_id",
        "ordered_at",
        monetary_value_col="value",
        observation_period_end=pd.Timestamp(end),
        freq="D",
    )
    seconds = time.perf_counter() - start
    call_seconds = time.perf_counter() - call
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    if args.out is not None:
        frame = summary.reset_index()
        frame.insert(1, "frequency_", frame.pop("frequency").astype(np.int64))
        frame = frame.rename(columns={"frequency_": "frequency"})
        frame[["customer_id", "frequency", "recency", "T", "monetary_value"]].to_parquet(
            args.out, index=False
        )
    versions = {
        "lifetimes": lifetimes.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "seconds_lifetimes_call": call_seconds,
                "peak_rss_kb": peak,
                "baseline_rss_kb": baseline,
                "rows": len(summary),
                "versions": versions,
            }
        )
    )


if __name__ == "__main__":
    main()
