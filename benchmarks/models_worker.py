"""One retentio model measurement in a fresh process (the project venv): a fit or a prediction.

Usage (``models.py`` runs it; by hand from the repository root)::

    .venv/bin/python benchmarks/models_worker.py fit betageo --data SUMMARY.parquet
    .venv/bin/python benchmarks/models_worker.py predict betageo --data SUMMARY.parquet \\
        --params PARAMS.json --what alive|expected|clv

``SUMMARY.parquet`` has the columns frequency, recency, T and monetary_value (see models.py).
A fit times ``BetaGeo().fit(frequency, recency, T)`` (``ParetoNBD`` alike) or
``GammaGamma().fit(frequency, monetary_value)`` on the repeat buyers; reading the file and
importing retentio are not timed. A prediction loads fitted parameters from ``PARAMS.json``
(``{"betageo": {...}, "pareto": {...}, "gammagamma": {...}}``) and times one call for every
customer of the file. Prints one JSON line (see fit_timing.py).
"""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from fit_timing import report, timed

#: Days ahead of expected_purchases; the CLV horizon and discount rate (per month).
EXPECTED_DAYS = 30.0
CLV_HORIZON_MONTHS = 12
CLV_DISCOUNT = 0.01


def model_class(model: str) -> Any:
    from retentio.models import BetaGeo, GammaGamma, ParetoNBD

    return {"betageo": BetaGeo, "pareto": ParetoNBD, "gammagamma": GammaGamma}[model]


def fitted(model: str, params: dict[str, float]) -> Any:
    """A model with the given parameters, through the public JSON format."""
    cls = model_class(model)
    document = {
        "type": cls.name,
        "version": cls.version,
        "params": params,
        "log_likelihood": float("nan"),
        "n_customers": 0,
    }
    return cls.from_json(json.dumps(document))


def fit(model: str, data: str) -> None:
    import pandas as pd

    frame = pd.read_parquet(data)
    instance = model_class(model)()
    if model == "gammagamma":
        repeat = frame[frame["frequency"] > 0]
        x = repeat["frequency"].to_numpy()
        m = repeat["monetary_value"].to_numpy()
        _, measurement = timed(lambda: instance.fit(x, m))
    else:
        x, t_x, big_t = (frame[c].to_numpy() for c in ("frequency", "recency", "T"))
        _, measurement = timed(lambda: instance.fit(x, t_x, big_t))
    report(
        measurement,
        params=instance.params,
        log_likelihood=instance.log_likelihood,
        rows=len(frame),
        versions=versions(),
        source=model_source(instance),
    )


def predict(model: str, data: str, params_path: str, what: str) -> None:
    import pandas as pd

    frame = pd.read_parquet(data)
    params = json.loads(open(params_path).read())
    transactions = fitted(model, params[model])
    x, t_x, big_t = (frame[c].to_numpy() for c in ("frequency", "recency", "T"))
    if what == "alive":
        values, measurement = timed(lambda: transactions.probability_alive(x, t_x, big_t))
    elif what == "expected":
        values, measurement = timed(
            lambda: transactions.expected_purchases(EXPECTED_DAYS, x, t_x, big_t)
        )
    else:
        spend = fitted("gammagamma", params["gammagamma"])
        values, measurement = timed(
            lambda: spend.customer_lifetime_value(
                transactions, frame, CLV_HORIZON_MONTHS, CLV_DISCOUNT, "D"
            )
        )
    report(
        measurement,
        rows=len(frame),
        mean=float(values.mean()),
        finite=bool(pd.notna(values).all()),
        versions=versions(),
    )


def model_source(instance: Any) -> dict[str, Any]:
    """Which version of the model's module was measured (the sources change under work)."""
    import hashlib
    import inspect

    text = inspect.getsource(inspect.getmodule(type(instance)))  # type: ignore[arg-type]
    source = {"module_sha1": hashlib.sha1(text.encode()).hexdigest()[:12]}  # noqa: S324
    if type(instance).__name__ == "ParetoNBD":
        # what the docstring of the gradient function says it computes
        terms = getattr(inspect.getmodule(type(instance)), "_log_likelihood_terms", None)
        doc = (getattr(terms, "__doc__", None) or "").lower()
        kinds = [k for k in ("finite difference", "analytic") if k in " ".join(doc.split())]
        source["gradient"] = kinds[0] if kinds else "unknown"
    return source


def versions() -> dict[str, str]:
    import numpy
    import pandas
    import scipy

    import retentio

    return {
        "retentio": getattr(retentio, "__version__", "?"),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["fit", "predict"])
    parser.add_argument("model", choices=["betageo", "pareto", "gammagamma"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--params")
    parser.add_argument("--what", choices=["alive", "expected", "clv"], default="alive")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.task == "fit":
        fit(args.model, args.data)
    else:
        if args.params is None:
            parser.error("predict needs --params")
        predict(args.model, args.data, args.params, args.what)


if __name__ == "__main__":
    main()
