"""`retentio serve` as a user starts it: the console script, a real port, Ctrl-C to stop."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

CLI = Path(sys.executable).with_name("retentio")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RETENTIO_")}


def test_serve_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = _environment()
    init = subprocess.run([str(CLI), "init"], cwd=tmp_path, env=env, capture_output=True)
    assert init.returncode == 0, init.stderr
    assert "RETENTIO_SECRET_KEY=" in (tmp_path / ".env").read_text()
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # readable by its owner only
    port = _free_port()
    server = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the server did not start: {server.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"{base}/kpis").status_code == 401
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "retentio"
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert b"Serving the retentio API on" in err


def test_serve_without_a_secret_key_says_how_to_make_one(tmp_path: Path) -> None:
    env = _environment()
    subprocess.run([str(CLI), "init", "--no-secret-file"], cwd=tmp_path, env=env, check=True)
    done = subprocess.run(
        [str(CLI), "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"RETENTIO_SECRET_KEY is not set" in done.stderr


def test_two_server_processes_share_one_sqlite_store(tmp_path: Path) -> None:
    """With --workers 2 both processes write to one SQLite file: batches sent at once all land,
    none twice, and the store stays consistent."""
    env = _environment()
    subprocess.run([str(CLI), "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    key = subprocess.run(
        [str(CLI), "apikey", "create", "--name", "t", "--scope", "write"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        deadline = time.monotonic() + 90  # two processes import the analytics stack at once
        while True:
            try:
                httpx.get(f"{base}/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the server did not start: {server.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.2)

        def send(batch: int) -> dict[str, int]:
            items = [
                {
                    "external_id": f"o{batch}-{i}",
                    "customer_id": f"c{i % 50}",  # every batch shares the customers
                    "ordered_at": "2026-03-01T10:00:00Z",
                    "currency": "DKK",
                    "total": "10.00",
                    "lines": [{"sku": "A", "amount": "10.00"}],
                }
                for i in range(500)
            ]
            fresh = httpx.Limits(max_keepalive_connections=0)  # spread over both processes
            with httpx.Client(timeout=60, limits=fresh) as http:
                answer = http.post(f"{base}/orders/batch", json={"items": items}, headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(send, range(16)))
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert sum(r["created"] for r in results) == 16 * 500
    assert all(r["failed"] == 0 for r in results)
    with sqlite3.connect(tmp_path / "retentio.db") as db:
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES]  # noqa: S608
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert counts == [50, 16 * 500, 16 * 500]


TABLES = ("customers", "orders", "order_lines")
