"""In-process ingestion of the API benchmark's orders, without HTTP: where a batch's time goes.

Usage (from the repository root)::

    .venv/bin/python benchmarks/ingest_orders.py 200000                       # SQLite, temp file
    .venv/bin/python benchmarks/ingest_orders.py 200000 postgresql+psycopg://postgres@127.0.0.1:5432/empty_db
    PROFILE=1 .venv/bin/python benchmarks/ingest_orders.py 100000             # with cProfile

The orders are those of ``benchmarks/api.py`` (one line each, 4 per customer), sent to
``retentio.ingest.ingest_orders`` in batches of 10,000 after a JSON round trip, with the API
server's garbage-collector settings. Prints orders/s; the database must be empty.
"""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time

import orjson
from api import order_batches
from sqlalchemy.orm import Session

from retentio.api.app import GC_YOUNG_THRESHOLD
from retentio.ingest import ingest_orders
from retentio.store.engine import make_engine, upgrade


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/ingest.db"
    bodies = order_batches(orders, 10_000)
    engine = make_engine(url)
    upgrade(engine)
    gc.collect()
    gc.freeze()  # as the API server does (retentio.api.app)
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
    profile = cProfile.Profile() if os.environ.get("PROFILE") else None
    started = time.perf_counter()
    for body in bodies:
        items = orjson.loads(body)["items"]
        with Session(engine) as session:
            if profile is not None:
                profile.enable()
            result = ingest_orders(session, items, actor="benchmark")
            if profile is not None:
                profile.disable()
        if result.created != len(items):
            raise RuntimeError(f"created {result.created} of {len(items)}: is the store empty?")
    seconds = time.perf_counter() - started
    print(f"{orders / seconds:,.0f} orders/s in-process ({seconds:.1f} s, {url.split(':')[0]})")  # noqa: T201
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
