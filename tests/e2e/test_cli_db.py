"""`retentio load` into the store and the analytics commands on it (`--db`), end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import count, invoke, make_database
from sqlalchemy import text

from retentio.core.errors import ConfigurationError, DataError
from retentio.datasets import write_shop
from retentio.store import make_engine


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return make_database(tmp_path, monkeypatch)


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "orders.parquet"
    write_shop(path, 400, 11)
    return path


def test_loading_orders_twice_changes_nothing_the_second_time(database: str, shop: Path) -> None:
    first = invoke("load", str(shop))
    assert first.exit_code == 0, first.output
    assert "holds orders (told from its columns" in first.output
    orders, refunds = count(database, "orders"), count(database, "refunds")
    assert f"{orders:,} created, 0 updated, 0 unchanged" in first.output
    second = invoke("load", str(shop), "--kind", "orders")
    assert second.exit_code == 0, second.output
    assert f"0 created, 0 updated, {orders:,} unchanged" in second.output
    assert (count(database, "orders"), count(database, "refunds")) == (orders, refunds)
    assert refunds > 0


def test_kpis_on_the_store_equal_kpis_on_the_file(database: str, shop: Path) -> None:
    assert invoke("load", str(shop)).exit_code == 0
    end = ["--observation-end", "2026-06-30", "--json"]
    from_file = invoke("kpis", str(shop), *end)
    from_store = invoke("kpis", "--db", *end)
    assert from_file.exit_code == 0 and from_store.exit_code == 0, from_store.output

    def figures(output: str) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(output[output.index("{") : output.rindex("}") + 1])
        return parsed

    expected, got = figures(from_file.stdout), figures(from_store.stdout)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_analytics_commands_take_either_a_file_or_the_store(database: str, shop: Path) -> None:
    neither = invoke("kpis")
    assert isinstance(neither.exception, ConfigurationError)
    assert "give an orders FILE, or --db" in str(neither.exception)
    both = invoke("rfm", str(shop), "--db")
    assert isinstance(both.exception, ConfigurationError)
    empty = invoke("summary", "--db", "-o", "s.csv")
    assert isinstance(empty.exception, DataError)
    assert "holds no orders yet" in str(empty.exception)
    assert invoke("load", str(shop)).exit_code == 0
    for args in (
        ["cohorts", "--db"],
        ["rfm", "--db"],
        ["summary", "--db", "-o", "s.csv"],
        ["report", "--db", "-o", "r.html"],
        ["clv", "fit", "--db", "--json"],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)


def test_customers_and_events_load_from_csv_and_json_lines(database: str, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "external_id,email,phone,country,attributes\n"
        'C1,Anna@Example.dk,20123456,DK,"{""vip"": true}"\n'
        "C2,bo@example.nl,,NL,\n"
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"external_id": "E1", "customer_id": "C1", "name": "viewed", '
        '"occurred_at": "2026-03-01T10:00:00+01:00"}\n'
        "\n"
        '{"customer_id": "C3", "name": "opened", "occurred_at": "2026-03-02T10:00:00Z"}\n'
    )
    loaded = invoke("load", str(customers))
    assert loaded.exit_code == 0, loaded.output
    assert "holds customers" in loaded.output and "2 created" in loaded.output
    tracked = invoke("load", str(events))
    assert tracked.exit_code == 0, tracked.output
    assert "holds events" in tracked.output and "2 created" in tracked.output
    again = invoke("load", str(events))
    assert "1 created, 0 updated, 1 unchanged" in again.output  # the one without an id repeats
    assert count(database, "customers") == 3  # C3 came with its event
    engine = make_engine(database)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT email, phone FROM customers WHERE external_id = 'C1'")
        ).one()
    engine.dispose()
    assert tuple(row) == ("anna@example.dk", "+4520123456")


def test_a_bad_row_names_its_line_and_writes_nothing(database: str, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "external_id,email,time_zone\nC1,a@example.dk,Europe/Copenhagen\nC2,nope,\nC3,,Mars/Base\n"
    )
    failed = invoke("load", str(path), "--kind", "customers")
    assert isinstance(failed.exception, DataError)
    message = str(failed.exception)
    assert "2 of 3 row(s)" in message and "nothing was written" in message
    assert "line 3: email: not an e-mail address" in message
    assert "line 4: time_zone: not an IANA time zone" in message
    assert count(database, "customers") == 0
    skipped = invoke("load", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    assert "1 created" in skipped.output and "2 refused" in skipped.output
    rejects = (tmp_path / "customers.csv.rejects.csv").read_text()
    assert "line 3,email" in rejects and "nope" not in rejects  # where and why, not the data
    assert count(database, "customers") == 1


def test_a_file_of_unknown_kind_is_refused(database: str, tmp_path: Path) -> None:
    path = tmp_path / "what.csv"
    path.write_text("a,b\n1,2\n")
    result = invoke("load", str(path))
    assert isinstance(result.exception, ConfigurationError)
    assert "cannot tell what what.csv holds" in str(result.exception)
    assert "--kind" in str(result.exception)


def test_a_wrong_setting_is_one_line_naming_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from retentio.cli import main

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("RETENTIO_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("RETENTIO_SECRET_KEY", "x")
    monkeypatch.setenv("RETENTIO_SUBSCRIPTION_JOBS_MINUTES", "often")
    monkeypatch.setattr("sys.argv", ["retentio", "subscriptions", "renew"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    said = " ".join(capsys.readouterr().err.split())  # as one line (the console wraps)
    assert said.startswith("error: RETENTIO_SECRET_KEY must be at least 32 random characters")
    assert "error: RETENTIO_SUBSCRIPTION_JOBS_MINUTES: Input should be a valid integer" in said
    assert "Traceback" not in said and said.count("error:") == 2
