"""One pymc-marketing MAP fit in a fresh process, run by ``benchmarks/.venv-pymc``.

Usage (``models.py`` runs it)::

    benchmarks/.venv-pymc/bin/python benchmarks/pymc_models_worker.py betageo \\
        --data SUMMARY.parquet

Times building ``pymc_marketing.clv.BetaGeoModel`` (``ParetoNBDModel``, or ``GammaGammaModel``
on the repeat buyers) and ``model.fit(data, method="map")``: ``pymc.find_MAP`` with its default
L-BFGS-B, which maximises the log-posterior without the Jacobian of the log transforms, i.e. in
the parameters themselves. Every parameter's prior is replaced by ``HalfFlat`` (density 1 on
(0, inf), log-density 0), so the posterior is the likelihood and MAP is maximum likelihood, the
same optimum retentio and lifetimes look for. pytensor compiles the model to C on first use
and caches it on disk (``~/.pytensor``); a run after the first reuses that cache, as any user
would. Reading the file and the imports are not timed. Prints one JSON line with the
parameters under retentio's names (pymc-marketing's Gamma-Gamma ``v`` is ``gamma``).
"""

from __future__ import annotations

import argparse
import warnings

from fit_timing import report, timed

NAMES = {
    "betageo": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
    "gammagamma": ("p", "q", "v"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(NAMES))
    parser.add_argument("--data", required=True)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import pymc
    import pymc_marketing
    import pytensor
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel

    warnings.simplefilter("ignore")
    frame = pd.read_parquet(args.data)
    if "customer_id" not in frame.columns:
        frame.insert(0, "customer_id", np.arange(len(frame)))
    cls = {"betageo": BetaGeoModel, "pareto": ParetoNBDModel, "gammagamma": GammaGammaModel}
    names = NAMES[args.model]
    if args.model == "gammagamma":
        data = frame.loc[frame["frequency"] > 0, ["customer_id", "frequency", "monetary_value"]]
    else:
        data = frame[["customer_id", "frequency", "recency", "T"]]
    data = data.reset_index(drop=True)
    config = {name: Prior("HalfFlat") for name in names}

    def fit() -> object:
        model = cls[args.model](model_config=config)
        model.fit(data=data, method="map", progressbar=False)
        return model

    model, measurement = timed(fit)
    result = model.fit_result  # type: ignore[attr-defined]
    params = {name: float(np.asarray(result[name]).squeeze()) for name in names}
    if "v" in params:
        params["gamma"] = params.pop("v")
    report(
        measurement,
        params=params,
        rows=len(frame),
        versions={
            "pymc-marketing": pymc_marketing.__version__,
            "pymc": pymc.__version__,
            "pytensor": pytensor.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
    )


if __name__ == "__main__":
    main()
