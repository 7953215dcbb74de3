"""Benchmark the delivery engine: enqueue a 1M-customer campaign (target: under 30 s) and
dispatch e-mail to a local SMTP sink (target: at least 500 a second on this 2-core machine).

Usage (from the repository root; ``make bench-campaigns``)::

    .venv/bin/python benchmarks/campaigns.py                                  # both stores
    .venv/bin/python benchmarks/campaigns.py --customers 100000 --emails 2000  # smoke run

**Enqueue.** The store of ``benchmarks/segments.py`` (``--customers`` customers, their
orders, scores and consents) gets a segment of every customer and a campaign with a 10 %
holdout; ``launch_campaign`` is timed: evaluating the segment, assigning every customer's arm
(SHA-256), writing the audience (1M rows) and the outbox (900,000 deliveries) in one
transaction.

**Dispatch.** A second store of ``--emails`` customers, each with an e-mail address and
consent, gets a launched campaign; ``--workers`` worker processes (``retentio worker
--until-idle``) then send it to an SMTP sink (aiosmtpd in its own process, counting what it
receives), and the time from their start to the last commit is measured: claims, guards,
rendering, the MIME message, the SMTP exchange, and one commit per message. The sink's count of
distinct Message-IDs must equal the deliveries.

Results: a Markdown table on stdout and ``benchmarks/results/campaigns-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from run import RESULTS, command_line, log, machine, source_state
from segments import NOW, filled_store, generate
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from retentio.campaigns import launch_campaign, save_campaign
from retentio.core.clock import FixedClock
from retentio.segments import save_segment
from retentio.store import make_engine
from retentio.store.campaign_tables import Delivery

HERE = Path(__file__).resolve().parent
ENQUEUE_TARGET_S = 30.0
DISPATCH_TARGET = 500.0
EVERYONE = {"name": "everyone", "where": {"not": {"country": "XX"}}}
KEY = "Bq7Tn2Wz9Lk4Xc1Vf8Mh3Rd6Js0Ya5Pe"
MESSAGE = {
    "default_locale": "en",
    "en": {
        "subject": "We miss you, {{ first_name | default('there') }}",
        "html": "<html><body><p>Hi {{ first_name | default('there') }},</p><p>You have ordered "
        "{{ order_count }} times. Here is 10 % off: <b>{{ offer_code }}</b></p></body></html>",
        "text": "Hi {{ first_name | default('there') }},\n\nYou have ordered {{ order_count }} "
        "times. Here is 10 % off: {{ offer_code }}\n",
    },
}


def campaign(name: str, holdout: float) -> dict[str, Any]:
    return {
        "name": name,
        "segment": "everyone",
        "holdout": holdout,
        "quiet_hours": False,
        "offer_code": "WINBACK10",
        "message": MESSAGE,
    }


def enqueue(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    clock = FixedClock(NOW)
    try:
        with Session(engine) as session:
            save_segment(session, EVERYONE)
            save_campaign(session, campaign("bench-enqueue", 0.1))
            started = time.perf_counter()
            result = launch_campaign(session, "bench-enqueue", clock=clock)
            seconds = time.perf_counter() - started
            queued = session.scalar(select(func.count()).select_from(Delivery))
    finally:
        engine.dispose()
    log(f"  launch: {result.audience:,} customers, {queued:,} queued in {seconds:.1f} s")
    return {
        "audience": result.audience,
        "queued": queued,
        "seconds": round(seconds, 2),
        "met": seconds < ENQUEUE_TARGET_S,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dkim_env() -> dict[str, str]:
    """A 2048-bit DKIM key in a temporary file, as the workers' settings."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = Path(tempfile.mkdtemp(prefix="retentio-dkim-")) / "dkim.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return {"RETENTIO_DKIM_KEY_FILE": str(path), "RETENTIO_DKIM_SELECTOR": "bench"}


def dispatch(url: str, emails: int, workers: int, dkim: bool = False) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE customers SET email = 'c' || id || '@example.com', "
                    "first_name = CASE WHEN id % 2 = 0 THEN 'Ida' END"
                )
            )
        with Session(engine) as session:
            save_segment(session, EVERYONE)
            save_campaign(session, campaign("bench-dispatch", 0.0))
            launched = launch_campaign(session, "bench-dispatch")
    finally:
        engine.dispose()
    port = _free_port()
    count_file = Path(tempfile.mkdtemp(prefix="retentio-sink-")) / "count.json"
    sink = subprocess.Popen(  # noqa: S603 (our own script)
        [sys.executable, str(HERE / "smtp_sink.py"), str(port), str(count_file)]
    )
    try:
        _wait_for_port(port)
        env = (
            os.environ
            | {
                "RETENTIO_DATABASE_URL": url,
                "RETENTIO_SECRET_KEY": KEY,
                "RETENTIO_SMTP_URL": f"smtp://127.0.0.1:{port}",
                "RETENTIO_MAIL_FROM": "Butikken <shop@butik.example>",
                "RETENTIO_PUBLIC_URL": "https://butik.example",
            }
            | (_dkim_env() if dkim else {})
        )
        command = [str(Path(sys.executable).parent / "retentio"), "worker", "--until-idle"]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(command + ["--batch", "200"], env=env, stderr=subprocess.DEVNULL)  # noqa: S603
            for _ in range(workers)
        ]
        for process in processes:
            process.wait()
        wall = time.perf_counter() - started
    finally:
        sink.terminate()
        sink.wait()
    received = json.loads(count_file.read_text())
    count_file.unlink()
    count_file.parent.rmdir()
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            sent = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            first, last = session.execute(
                select(func.min(Delivery.sent_at), func.max(Delivery.sent_at))
            ).one()
    finally:
        engine.dispose()
    sending = (last - first).total_seconds()
    rate = (sent or 0) / sending if sending > 0 else 0.0
    log(
        f"  dispatch: {sent:,} sent by {workers} worker(s); {rate:,.0f}/s between the first "
        f"and the last send ({wall:.1f} s with the workers' start-up); the sink got "
        f"{received['distinct']:,} distinct of {received['messages']:,}"
    )
    return {
        "queued": launched.queued,
        "sent": sent,
        "workers": workers,
        "dkim": dkim,
        "sending_s": round(sending, 2),
        "wall_s_with_startup": round(wall, 2),
        "emails_per_s": round(rate, 1),
        "sink_messages": received["messages"],
        "sink_distinct": received["distinct"],
        "met": rate >= DISPATCH_TARGET and received["distinct"] == sent,
    }


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the SMTP sink did not listen on {port}")


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | enqueue: customers | s (target < 30) | dispatch: e-mails | workers "
        "| e-mails/s (target ≥ 500) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, entry in result["databases"].items():
        e, d = entry["enqueue"], entry["dispatch"]
        lines.append(
            f"| {kind} | {e['audience']:,} | {e['seconds']:.1f} {'✓' if e['met'] else '✗'} "
            f"| {d['sent']:,} | {d['workers']} | {d['emails_per_s']:,.0f} "
            f"{'✓' if d['met'] else '✗'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign every e-mail (2048 bits)")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("campaigns.py") + " " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "source": source_state(),
        "customers": args.customers,
        "emails": args.emails,
        "databases": {},
    }
    big, small = generate(args.customers), generate(args.emails, seed=2)
    for kind in args.databases.split(","):
        entry: dict[str, Any] = {}
        with filled_store(kind, args.postgres, big) as url:
            entry["enqueue"] = enqueue(url)
        with filled_store(kind, args.postgres, small) as url:
            entry["dispatch"] = dispatch(url, args.emails, args.workers, args.dkim)
        result["databases"][kind] = entry
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.customers == 1_000_000 else f"-{args.customers}"
    suffix += "-dkim" if args.dkim else ""
    path = RESULTS / f"campaigns-{result['date']}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))  # noqa: T201
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
