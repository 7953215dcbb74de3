"""`retentio serve` as a user starts it: the console script, a real port, Ctrl-C to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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
