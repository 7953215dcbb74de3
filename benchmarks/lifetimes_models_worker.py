"""One lifetimes 0.11.3 model fit in a fresh process, run by ``benchmarks/.venv-lifetimes``.

Usage (``models.py`` runs it)::

    benchmarks/.venv-lifetimes/bin/python benchmarks/lifetimes_models_worker.py betageo \\
        --data SUMMARY.parquet

Times ``BetaGeoFitter(penalizer_coef=0.0).fit(frequency, recency, T)`` (``ParetoNBDFitter``
alike) or ``GammaGammaFitter(penalizer_coef=0.0).fit(frequency, monetary_value)`` on the repeat
buyers, each with lifetimes' default optimiser settings (BG/NBD: BFGS with autograd's gradient
and Hessian; Pareto/NBD: Nelder-Mead, tol 1e-4, from a random start near 1, seeded here;
Gamma-Gamma: BFGS with autograd). Reading the file and the imports are not timed. Prints one
JSON line with the parameters under retentio's names (lifetimes' Gamma-Gamma ``v`` is
``gamma``) and lifetimes' own optimum value (``_negative_log_likelihood_``: a mean for BG/NBD
and Gamma-Gamma, a sum for Pareto/NBD). Imports nothing from the project but fit_timing.py.
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
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import lifetimes
    import numpy as np
    import pandas as pd
    import scipy
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    warnings.simplefilter("ignore")
    frame = pd.read_parquet(args.data)
    np.random.seed(args.seed)  # ParetoNBDFitter draws its starting point from numpy's global RNG
    if args.model == "gammagamma":
        repeat = frame[frame["frequency"] > 0]
        x = repeat["frequency"].to_numpy()
        m = repeat["monetary_value"].to_numpy()
        fitter = GammaGammaFitter(penalizer_coef=0.0)
        _, measurement = timed(lambda: fitter.fit(x, m))
    else:
        x, t_x, big_t = (frame[c].to_numpy() for c in ("frequency", "recency", "T"))
        cls = BetaGeoFitter if args.model == "betageo" else ParetoNBDFitter
        fitter = cls(penalizer_coef=0.0)
        _, measurement = timed(lambda: fitter.fit(x, t_x, big_t))
    params = {name: float(fitter.params_[name]) for name in NAMES[args.model]}
    if "v" in params:
        params["gamma"] = params.pop("v")
    report(
        measurement,
        params=params,
        reported_negative_log_likelihood=float(fitter._negative_log_likelihood_),
        rows=len(frame),
        versions={
            "lifetimes": lifetimes.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
        },
    )


if __name__ == "__main__":
    main()
