"""The `retentio` command end to end: real files in, real output and files out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from retentio import KPI_KEYS, kpis, load_transactions
from retentio.cli import app
from retentio.cli.reference import render_reference
from retentio.datasets import write_shop

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "orders.parquet"
    write_shop(path, 800, 3)
    return path


@pytest.fixture()
def messy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(
        "email,order_no,created,total\n"
        "a@x.dk,1,2024-01-05,10.5\n"
        "a@x.dk,2,2024-02-05,20\n"
        "b@x.dk,3,2024-02-07,oops\n"
        "=cmd|' /C calc'!A0,4,2024-03-01,30\n"
    )
    return path


def test_kpis_json_matches_the_library(shop: Path) -> None:
    result = runner.invoke(app, ["kpis", str(shop), "--json", "--observation-end", "2026-06-30"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert list(printed) == list(KPI_KEYS)
    table = load_transactions(shop, status_col="status", currency_col="currency")
    expected = kpis(table, observation_end="2026-06-30")
    assert printed["customers"] == expected["customers"] == 800
    assert printed["orders"] == expected["orders"]
    assert printed["revenue"] == pytest.approx(expected["revenue"])


def test_kpis_table_shows_every_kpi_with_a_trend(shop: Path) -> None:
    result = runner.invoke(app, ["kpis", str(shop)])
    assert result.exit_code == 0, result.output
    for key in KPI_KEYS:
        assert key.replace("_", " ") in result.stdout
    assert any(word in result.stdout for word in ("rising", "falling", "flat"))


def test_cohorts_and_csv_output(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohorts.csv"
    result = runner.invoke(app, ["cohorts", str(shop), "--period", "Q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "100%" in result.stdout
    matrix = pd.read_csv(out)
    assert (matrix.loc[matrix.period_number == 0, "active_share"] == 1).all()


def test_rfm_and_summary_files(shop: Path, tmp_path: Path) -> None:
    rfm_csv, summary_csv = tmp_path / "rfm.csv", tmp_path / "summary.csv"
    assert runner.invoke(app, ["rfm", str(shop), "-o", str(rfm_csv)]).exit_code == 0
    assert len(pd.read_csv(rfm_csv)) == 800
    result = runner.invoke(app, ["summary", str(shop), "-o", str(summary_csv), "--freq", "W"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(summary_csv)
    assert list(summary.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert (summary.recency <= summary["T"]).all()


def test_column_mapping_skip_invalid_and_csv_injection(messy_csv: Path, tmp_path: Path) -> None:
    common = ["--customer-col", "email", "--order-col", "order_no", "--date-col", "created"]
    failed = runner.invoke(app, ["kpis", str(messy_csv), *common, "--amount-col", "total"])
    assert failed.exit_code != 0
    out = tmp_path / "rfm.csv"
    args = ["rfm", str(messy_csv), *common, "--amount-col", "total", "--skip-invalid"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "orders.csv.rejects.csv").exists()
    assert "'=cmd" in out.read_text()  # the formula-like id is neutralised


def test_console_script_reports_errors_in_one_line(messy_csv: Path) -> None:
    cli = Path(sys.executable).with_name("retentio")
    result = subprocess.run(
        [str(cli), "kpis", str(messy_csv)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "error:" in result.stderr
    assert "missing column(s)" in result.stderr and "'email'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_data_is_deterministic(tmp_path: Path) -> None:
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        args = ["demo-data", "--customers", "300", "--seed", "5", "-o", str(path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    first, second = (pd.read_parquet(p) for p in paths)
    pd.testing.assert_frame_equal(first, second)


def test_load_writes_a_normalised_parquet(messy_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.parquet"
    args = ["load", str(messy_csv), "--customer-col", "email", "--order-col", "order_no"]
    args += ["--date-col", "created", "--amount-col", "total", "--skip-invalid", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 3
    again = runner.invoke(app, ["kpis", str(out), "--json"])
    assert again.exit_code == 0, again.output


def test_cli_reference_matches_the_real_cli() -> None:
    documented = (ROOT / "docs" / "cli.md").read_text()
    assert documented == render_reference(), (
        "docs/cli.md is out of date: python -m retentio.cli.reference > docs/cli.md"
    )


def test_clv_fit_prints_json_and_saves_a_fit_that_predict_reuses(
    shop: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "fit.json"
    args = ["clv", "fit", str(shop), "--spend", "--json", "-o", str(saved)]
    result = runner.invoke(app, [*args, "--observation-end", "2026-06-30"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert printed["type"] == "BetaGeo" and set(printed["params"]) == {"r", "alpha", "a", "b"}
    assert printed["log_likelihood"] < 0 and printed["spend"]["type"] == "GammaGamma"
    document = json.loads(saved.read_text())
    assert document["format"] == "retentio.clv-fit" and document["model"] == "bgnbd"
    out = tmp_path / "clv.csv"
    args = ["clv", "predict", str(shop), "--fit", str(saved), "--horizon", "6M", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "critical" in result.stdout and "all" in result.stdout
    scored = pd.read_csv(out)
    assert len(scored) == 800
    for column in ("expected_purchases", "p_alive", "churn_risk", "risk_band", "expected_spend"):
        assert column in scored.columns
    assert scored["clv"].notna().all() and (scored["clv"] >= 0).all()
    assert set(scored["risk_band"]) <= {"low", "medium", "high", "critical"}
    assert pd.to_datetime(scored["next_purchase_date"].dropna()).min() > pd.Timestamp("2026-06-30")


@pytest.mark.parametrize("model", ["mbgnbd", "pareto"])
def test_clv_predict_fits_the_chosen_model(shop: Path, tmp_path: Path, model: str) -> None:
    out = tmp_path / "clv.csv"
    args = ["clv", "predict", str(shop), "--model", model, "--time-unit", "W", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["p_alive"].between(0, 1).all()


def test_clv_fit_bgbb_uses_periods(shop: Path) -> None:
    result = runner.invoke(app, ["clv", "fit", str(shop), "--model", "bgbb", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert printed["type"] == "BetaGeoBetaBinom" and printed["time_unit"] == "M"


def test_clv_predict_bgbb_scores_in_periods(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "clv.csv"
    result = runner.invoke(app, ["clv", "predict", str(shop), "--model", "bgbb", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert len(scored) == 800 and (scored["clv"] >= 0).all()
    assert scored["p_alive"].between(0, 1).all()


def test_clv_evaluate_compares_the_models(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "cumulative.csv"
    args = ["clv", "evaluate", str(shop), "--holdout", "26W", "--json", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert {m["model"] for m in printed["models"]} == {"bgnbd", "mbgnbd", "pareto"}
    assert printed["best"] == printed["models"][0]["model"]
    assert printed["calibration_end"] == "2025-12-30"
    cumulative = pd.read_csv(out)
    assert list(cumulative.columns) == ["period", "actual", "predicted"]
    table = runner.invoke(app, ["clv", "evaluate", str(shop), "--models", "bgnbd,pareto"])
    assert table.exit_code == 0, table.output
    assert "best:" in table.stdout and "7+" in table.stdout or "calibration" in table.stdout


def test_clv_rejects_an_unknown_model_in_one_line(shop: Path) -> None:
    cli = Path(sys.executable).with_name("retentio")
    result = subprocess.run(
        [str(cli), "clv", "fit", str(shop), "--model", "nbd"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "--model must be one of bgnbd, mbgnbd, pareto, bgbb" in result.stderr
    assert "Traceback" not in result.stderr


def test_clv_time_unit_must_be_days_or_weeks(shop: Path) -> None:
    result = runner.invoke(app, ["clv", "fit", str(shop), "--time-unit", "M"])
    assert result.exit_code != 0
    assert "--time-unit must be D (days) or W (weeks)" in str(result.exception)
