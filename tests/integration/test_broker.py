"""The delivery worker as Dramatiq actors on the machine's real Redis (issue 5: "CI runs a
multi-process test"): `retentio worker --processes 2` with RETENTIO_BROKER_URL sends a
campaign through a real SMTP server from both processes, each message once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from campaign_helpers import MAIL_FROM, PUBLIC_URL
from smtp_helpers import free_port, message_ids
from sqlalchemy import Engine
from test_campaign_faults import (
    CUSTOMERS,
    WORKER_KEY,
    SlowSink,
    launched_shop,
    outcome,
    wait_for,
)

redis = pytest.importorskip("redis")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (1-15, by the test process), emptied before and after."""
    database = 1 + os.getpid() % 15
    url = f"redis://127.0.0.1:6379/{database}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the machine's Redis at 127.0.0.1:6379: {exc}")
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({exc})")
    client.flushdb()
    yield url
    client.flushdb()


def test_two_dramatiq_processes_send_each_message_once(
    migrated_engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    launched_shop(migrated_engine)
    handler, port = SlowSink(), free_port()  # slow enough that both processes get batches
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    log = tmp_path / "worker.log"
    env = os.environ | {
        "RETENTIO_DATABASE_URL": database_url,
        "RETENTIO_SECRET_KEY": WORKER_KEY,
        "RETENTIO_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "RETENTIO_MAIL_FROM": MAIL_FROM,
        "RETENTIO_PUBLIC_URL": PUBLIC_URL,
        "RETENTIO_BROKER_URL": redis_url,
        "RETENTIO_BROKER_BATCH": "10",
        "RETENTIO_BROKER_POLL_SECONDS": "0.2",
    }
    command = [str(Path(sys.executable).parent / "retentio"), "worker", "--processes", "2"]
    try:
        with log.open("ab") as stderr:
            master = subprocess.Popen(  # noqa: S603 (our own console script)
                command, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            wait_for(lambda: len(message_ids(handler)) >= CUSTOMERS, 180, "every message")
            time.sleep(1.0)  # anything sent twice would arrive now
        finally:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(timeout=60)
            except subprocess.TimeoutExpired:
                master.kill()
    finally:
        controller.stop()
    text = log.read_text()
    ids = message_ids(handler)
    statuses, stored = outcome(migrated_engine)
    assert statuses == Counter({"sent": CUSTOMERS}), text[-3000:]
    assert Counter(ids) == Counter(stored) and len(stored) == CUSTOMERS  # each once
    senders = {m for m in re.findall(r"PID (\d+)\].*dispatched", text)}
    assert len(senders) == 2, text[-3000:]  # both processes sent
    assert "Fork process 'retentio.tasks:pump' is ready" in text


def test_a_channel_rate_holds_across_workers(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three threads (standing for three processes) share one limit of 20 a second."""
    import importlib
    import threading

    monkeypatch.setenv("RETENTIO_BROKER_URL", redis_url)
    tasks = importlib.import_module("retentio.tasks")
    client = redis.Redis.from_url(redis_url)
    stamps: list[int] = []  # the window each send was let through in
    lock = threading.Lock()

    def send(n: int) -> None:
        pacer = tasks.RedisPacer(client, "sms", 20.0)
        for _ in range(n):
            pacer.wait()
            with lock:
                stamps.append(pacer.admitted)

    threads = [threading.Thread(target=send, args=(20,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    per_second = Counter(stamps)
    assert len(stamps) == 60
    assert max(per_second.values()) <= 20, per_second
    assert len(per_second) >= 3  # 60 at 20 a second: three windows at the least
    slow = tasks.RedisPacer(client, "push", 0.5)  # one in each 2-second window
    slow.wait()
    first = slow.admitted
    slow.wait()
    assert first is not None and slow.admitted == first + 1
