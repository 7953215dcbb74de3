"""`retentio clv fit|predict|evaluate`: BTYD models on an orders file, from the command line."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import dataclasses
import json
import math
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from retentio.analytics import summarize
from retentio.cli.app import OptionalInputFile, app, err, json_ready, load_input, out
from retentio.cli.loading import LoadOptions, ObservationEnd
from retentio.cli.shared import with_load_options
from retentio.clv import ClvFit, check_holdout, fit_clv, fit_document, predict_customers
from retentio.core.csvsafe import write_csv
from retentio.core.errors import ConfigurationError
from retentio.models.catalog import CONTINUOUS_MODELS, MODEL_KEYS

__all__ = ["clv_app"]

clv_app = typer.Typer(
    help="Predict purchases, churn risk and customer lifetime value (BTYD models).",
    no_args_is_help=True,
)
app.add_typer(clv_app, name="clv")

ModelKey = Annotated[
    str,
    typer.Option(help="Transaction model: bgnbd (BG/NBD), mbgnbd (MBG/NBD), pareto or bgbb."),
]
TimeUnit = Annotated[str, typer.Option(help="Time unit of recency and T: D (days) or W (weeks).")]
Freq = Annotated[
    str | None,
    typer.Option(
        help="Purchase period: D, W, M, Q or Y [default: D; M for bgbb, whose transaction "
        "opportunities are these periods]."
    ),
]
Penalizer = Annotated[
    float, typer.Option(help="L2 penalty on the parameters; try 0.001 when a fit fails.", min=0)
]


def _check_key(model: str) -> str:
    key = model.lower()
    if key not in MODEL_KEYS:
        raise ConfigurationError(f"--model must be one of {', '.join(MODEL_KEYS)}, got {model!r}")
    return key


def _summary(table: Any, end: date, key: str, freq: str | None, time_unit: str) -> tuple[Any, str]:
    """The BTYD summary for ``key`` and the unit of its recency and T."""
    if key == "bgbb":
        period = (freq or "M").upper()
        return summarize(table, observation_end=end, freq=period), period
    unit = time_unit.upper()
    if unit not in ("D", "W"):
        raise ConfigurationError(
            f"--time-unit must be D (days) or W (weeks), got {time_unit!r}; "
            "group purchases by month with --freq M instead"
        )
    period = (freq or "D").upper()
    if period != "D" and unit != period:
        unit = period
    return summarize(table, observation_end=end, freq=period, time_unit=unit), unit


def _params_table(title: str, document: dict[str, Any]) -> Table:
    grid = Table(title=title)
    for name in ("param", "estimate", "std. error"):
        grid.add_column(name, justify="left" if name == "param" else "right")
    for name, value in document["params"].items():
        error = document["standard_errors"].get(name, math.nan)
        grid.add_row(name, f"{value:.4g}", f"{error:.3g}")
    return grid


@clv_app.command("fit")
@with_load_options
def fit_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    model: ModelKey = "bgnbd",
    spend: Annotated[
        bool, typer.Option("--spend", help="Also fit the Gamma-Gamma spend model.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the parameters and log-likelihood as JSON.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Save the fitted model(s) to this JSON file."),
    ] = None,
    observation_end: ObservationEnd = None,
    time_unit: TimeUnit = "D",
    freq: Freq = None,
    penalizer: Penalizer = 0.0,
) -> None:
    """Fit a transaction model (and optionally spend) by maximum likelihood."""
    key = _check_key(model)
    table, end = load_input(file, options, observation_end)
    summary, unit = _summary(table, end, key, freq, time_unit)
    fit = fit_clv(
        summary, observation_end=end, model=key, spend=spend, time_unit=unit, penalizer=penalizer
    )
    document = fit_document(fit)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(fit.to_json() + "\n", encoding="utf-8")
        err.print(f"Saved the fit to {output}")
    if as_json:
        out.print_json(json.dumps(json_ready(document), allow_nan=False))
        return
    out.print(_params_table(f"{fit.transaction.name} on {len(summary):,} customers", document))
    out.print(f"log-likelihood {document['log_likelihood']:,.2f} (time unit {unit})")
    if document["spend"] is not None:
        spend_doc = document["spend"]
        n = spend_doc["n_customers"]
        out.print(_params_table(f"GammaGamma on {n:,} repeat buyers", spend_doc))
        out.print(f"log-likelihood {spend_doc['log_likelihood']:,.2f}")


@clv_app.command("predict")
@with_load_options
def predict_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write every customer's predictions to this CSV."),
    ] = None,
    horizon: Annotated[
        str, typer.Option(help="Prediction horizon: 12M, 26W, 90D, 1Y, ...")
    ] = "12M",
    discount_rate: Annotated[
        float, typer.Option(help="CLV discount rate per step of the horizon (per month for 12M).")
    ] = 0.01,
    model: ModelKey = "bgnbd",
    fit_file: Annotated[
        Path | None,
        typer.Option(
            "--fit",
            help="Use a fit saved by `retentio clv fit --spend -o` instead of fitting.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    observation_end: ObservationEnd = None,
    time_unit: TimeUnit = "D",
    freq: Freq = None,
    penalizer: Penalizer = 0.0,
) -> None:
    """Score every customer: expected purchases, P(alive), churn risk band, spend, CLV and the
    expected next purchase date."""
    table, end = load_input(file, options, observation_end)
    if fit_file is not None:
        fit = ClvFit.from_json(fit_file.read_text(encoding="utf-8"))
        if fit.spend is None:
            raise ConfigurationError(f"{fit_file} has no spend model: fit it with --spend")
        discrete_freq = fit.time_unit if fit.transaction.discrete else None
        summary, _ = _summary(table, end, fit.key, discrete_freq, fit.time_unit)
        fit = dataclasses.replace(fit, observation_end=end)
    else:
        key = _check_key(model)
        summary, unit = _summary(table, end, key, freq, time_unit)
        fit = fit_clv(summary, observation_end=end, model=key, time_unit=unit, penalizer=penalizer)
    predictions = predict_customers(summary, fit, horizon=horizon, discount_rate=discount_rate)
    out.print(_bands_table(predictions, f"{fit.transaction.name}, next {horizon}, up to {end}"))
    if output is not None:
        write_csv(predictions, output)
        err.print(f"Wrote the predictions of {len(predictions):,} customers to {output}")


def _bands_table(predictions: pd.DataFrame, title: str) -> Table:
    grid = Table(title=f"Customers by churn risk ({title})")
    for name in ("risk band", "customers", "mean P(alive)", "expected purchases", "CLV"):
        grid.add_column(name, justify="left" if name == "risk band" else "right")
    groups = predictions.groupby("risk_band", observed=False)
    for band, rows in groups:
        grid.add_row(
            str(band),
            f"{len(rows):,}",
            f"{rows['p_alive'].mean():.1%}" if len(rows) else "–",
            f"{rows['expected_purchases'].sum():,.1f}",
            f"{rows['clv'].sum():,.2f}",
        )
    grid.add_row(
        "all",
        f"{len(predictions):,}",
        f"{predictions['p_alive'].mean():.1%}",
        f"{predictions['expected_purchases'].sum():,.1f}",
        f"{predictions['clv'].sum():,.2f}",
    )
    return grid


@clv_app.command("evaluate")
@with_load_options
def evaluate_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    holdout: Annotated[
        str, typer.Option(help="Length of the holdout at the end of the data: 26W, 6M, 90D...")
    ] = "26W",
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = ",".join(
        CONTINUOUS_MODELS
    ),
    criterion: Annotated[
        str, typer.Option(help="Rank by rmse, mae (holdout errors), bic or log_likelihood.")
    ] = "rmse",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write the best model's cumulative purchases to this CSV."
        ),
    ] = None,
    observation_end: ObservationEnd = None,
    time_unit: TimeUnit = "D",
    penalizer: Penalizer = 0.0,
) -> None:
    """Fit on all but the last --holdout and compare the models' holdout predictions."""
    keys = [_check_key(k.strip()) for k in models.split(",") if k.strip()]
    if "bgbb" in keys:
        raise ConfigurationError(
            "evaluate compares the continuous-time models: bgnbd, mbgnbd, pareto"
        )
    table, end = load_input(file, options, observation_end)
    check = check_holdout(
        table,
        observation_end=end,
        holdout=holdout,
        time_unit=time_unit,
        models=keys,
        criterion=criterion,
        penalizer=penalizer,
    )
    selection = check.selection
    best = selection.evaluations[selection.best]
    if output is not None:
        write_csv(check.cumulative, output)
        err.print(f"Wrote the cumulative purchases to {output}")
    if as_json:
        document = {
            "best": selection.best,
            "criterion": selection.criterion,
            "calibration_end": check.calibration_end.isoformat(),
            "observation_end": check.observation_end.isoformat(),
            "time_unit": check.time_unit,
            "models": _records(selection.table),
            "by_frequency": _records(best.by_frequency),
        }
        out.print_json(json.dumps(json_ready(document), allow_nan=False))
        return
    title = f"Holdout {check.calibration_end} to {check.observation_end}, ranked by {criterion}"
    grid = Table(title=title)
    for name in ("model", "RMSE", "MAE", "predicted", "actual", "log-lik.", "BIC", "error"):
        grid.add_column(name, justify="left" if name in ("model", "error") else "right")
    for row in _records(selection.table):
        cells = [_num(row[k], 3) for k in ("rmse", "mae")]
        cells += [_num(row[k], 1) for k in ("predicted_total", "actual_total")]
        cells += [_num(row[k], 1) for k in ("log_likelihood", "bic")]
        grid.add_row(str(row["model"]), *cells, str(row["error"] or "")[:60])
    out.print(grid)
    out.print(f"best: {selection.best}")
    freq_grid = Table(title=f"{selection.best}: mean holdout purchases by calibration frequency")
    for name in ("frequency", "customers", "actual", "predicted"):
        freq_grid.add_column(name, justify="right")
    for row in _records(best.by_frequency):
        freq_grid.add_row(
            str(row["label"]),
            f"{row['customers']:,}",
            _num(row["actual"], 3),
            _num(row["predicted"], 3),
        )
    out.print(freq_grid)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (JSON-ready)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _num(value: Any, decimals: int) -> str:
    return "–" if value is None else f"{value:,.{decimals}f}"
