"""Fault tests of the delivery engine (TRUST.md): kill -9 a worker process mid-batch, cut
the database connections mid-batch, then count what the SMTP server received: every
message, each once by Message-ID. At most the one message in flight at the moment of the
fault may arrive twice, with the same Message-ID, for the receiver to drop (at-least-once
with a stable id; a crash never loses a message)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from campaign_helpers import MAIL_FROM, PUBLIC_URL, add_shop, campaign, make_worker, save
from smtp_helpers import Sink, free_port, message_ids
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from retentio.campaigns import launch_campaign
from retentio.core.clock import SystemClock
from retentio.store.campaign_tables import Delivery

CUSTOMERS = 150
WORKER_KEY = "Wk4nP9sLq2Xv7Rt1Zy6Bm3Hc8Jd5Gf0AeKu"


class SlowSink(Sink):
    """A server that takes a while over each message, so a fault lands mid-batch."""

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def launched_shop(engine: Engine) -> set[int]:
    people = [{"external_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(CUSTOMERS)]
    add_shop(engine, people, now=SystemClock().now())
    save(engine, campaign(quiet_hours=False))  # real time: the tests may run at night
    with DbSession(engine) as session:
        launch_campaign(session, "winback")
        return set(session.scalars(select(Delivery.id)))


def outcome(engine: Engine) -> tuple[Counter[str], set[str]]:
    with DbSession(engine) as session:
        rows = session.execute(select(Delivery.status, Delivery.message_id)).all()
    return Counter(status for status, _ in rows), {mid for _, mid in rows if mid}


def worker_process(database_url: str, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``retentio worker`` in its own process, its log (stderr) written to ``log``."""
    env = os.environ | {
        "RETENTIO_DATABASE_URL": database_url,
        "RETENTIO_SECRET_KEY": WORKER_KEY,
        "RETENTIO_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "RETENTIO_MAIL_FROM": MAIL_FROM,
        "RETENTIO_PUBLIC_URL": PUBLIC_URL,
    }
    command = [str(Path(sys.executable).parent / "retentio"), "worker", "--batch", "20"]
    with log.open("ab") as stderr:
        return subprocess.Popen(  # noqa: S603 (our own console script)
            [*command, "--lease", "2", "--poll", "0.1", *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    migrated_engine: Engine, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    launched_shop(migrated_engine)
    handler, port = SlowSink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first = worker_process(database_url, port, log)
        try:
            wait_for(lambda: len(message_ids(handler)) >= 40, 60, "40 messages")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        at_kill = len(message_ids(handler))
        assert at_kill < CUSTOMERS, "the worker finished before it was killed"
        statuses, _ = outcome(migrated_engine)
        assert statuses["queued"] > 0
        time.sleep(2.5)  # the killed worker's lease runs out
        second = worker_process(database_url, port, log, "--until-idle")
        assert second.wait(timeout=120) == 0, log.read_text()
    finally:
        controller.stop()
    ids = message_ids(handler)
    statuses, stored = outcome(migrated_engine)
    assert statuses == Counter({"sent": CUSTOMERS})
    assert set(ids) == stored and len(stored) == CUSTOMERS  # none lost
    doubled = {mid: n for mid, n in Counter(ids).items() if n > 1}
    assert len(doubled) <= 1 and all(n == 2 for n in doubled.values()), doubled


def _cut_connections(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(cut[0]) if cut else 0


# A server restart is a PostgreSQL fault: SQLite is a file inside the worker's process.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_database_going_away_mid_batch_loses_nothing(
    migrated_engine: Engine, database_url: str
) -> None:
    launched_shop(migrated_engine)
    handler, port = SlowSink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    worker, channel = make_worker(
        migrated_engine, port, SystemClock(), batch=20, lease=timedelta(seconds=2)
    )
    stop = threading.Event()
    failures: list[BaseException] = []

    def work() -> None:
        try:
            worker.run(stop=stop)
        except BaseException as exc:  # noqa: BLE001 (reported by the test, not the thread)
            failures.append(exc)

    thread = threading.Thread(target=work)
    try:
        with channel:
            thread.start()
            wait_for(lambda: len(message_ids(handler)) >= 30, 60, "30 messages")
            assert _cut_connections(database_url) >= 1
            wait_for(lambda: outcome(migrated_engine)[0]["sent"] == CUSTOMERS, 90, "all sent")
            stop.set()
            thread.join(timeout=30)
            assert not thread.is_alive(), "the worker did not stop"
    finally:
        stop.set()
        controller.stop()
    assert failures == []
    ids = message_ids(handler)
    assert set(ids) == outcome(migrated_engine)[1] and len(set(ids)) == CUSTOMERS
    assert len(ids) - len(set(ids)) <= 1
