"""The delivery worker as Dramatiq actors on Redis, for more than one process or machine
(``RETENTIO_BROKER_URL=redis://...``; ``retentio worker`` starts them).

The outbox stays the truth: deliveries are rows in the database, claimed with leases, so a
message sent twice or lost by the broker changes nothing. The broker only spreads the work:

- **dispatch** (an actor): one :meth:`Worker.run_once` in the process that takes the message:
  move the journeys along, claim a batch, send it. Every process keeps one worker (its SMTP
  connection open between batches).
- **rates**: ``RETENTIO_<CHANNEL>_RATE_PER_SECOND`` holds across every process and machine
  (:class:`RedisPacer`), not per process: it is the provider's limit.
- **pump** (a process of its own on every machine, ``--fork-function``): every
  ``poll`` seconds, the one pump that holds the Redis lock ``retentio:pump`` counts the due
  deliveries and enqueues one dispatch per batch due (at least one, so journeys move), never
  more than ``RETENTIO_BROKER_MAX_INFLIGHT`` waiting at once. The lock lives a few polls, so
  when a machine dies another's pump takes over.

Run: ``retentio worker --processes 4`` (with ``RETENTIO_BROKER_URL`` set) on each machine;
this module is what the Dramatiq processes import.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis import Redis, RedisError
from sqlalchemy import Engine, Table, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from retentio.bootstrap import Settings, build_worker
from retentio.campaigns import Worker, WorkerOptions
from retentio.core.errors import ConfigurationError
from retentio.store import make_engine
from retentio.store.campaign_tables import Delivery

__all__ = ["QUEUE", "RedisPacer", "broker", "dispatch", "pump", "pump_once"]

log = logging.getLogger("retentio.tasks")
QUEUE = "retentio-deliveries"
NAMESPACE = "retentio"
_LOCK = "retentio:pump"
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


def _settings() -> Settings:
    settings = Settings()
    if not settings.broker_url:
        raise ConfigurationError("RETENTIO_BROKER_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    return settings


def _options(settings: Settings) -> WorkerOptions:
    return WorkerOptions(batch=settings.broker_batch, poll_seconds=settings.broker_poll_seconds)


_SETTINGS = _settings()
broker = RedisBroker(url=_SETTINGS.broker_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)
_local = threading.local()


class RedisPacer:
    """At most ``rate`` sends a second of one channel across every process and machine on
    the broker: a counter per channel and window in Redis (``retentio:rate:<channel>:<n>``);
    a send past the window's allowance waits for the next window."""

    def __init__(self, redis: Redis, channel: str, rate: float | None) -> None:
        self._redis, self._channel, self._rate = redis, channel, rate
        self._window = max(1.0, 1.0 / rate) if rate else 1.0
        self._allowance = max(1, int(rate * self._window)) if rate else 0
        #: The window (its number) the last send was let through in.
        self.admitted: int | None = None

    def wait(self) -> None:
        if not self._rate:
            return
        while True:
            now = time.time()
            window = int(now // self._window)
            key = f"retentio:rate:{self._channel}:{window}"
            count = int(self._redis.incr(key))
            if count == 1:
                self._redis.expire(key, int(self._window) + 2)
            if count <= self._allowance:
                self.admitted = window
                return
            time.sleep(max(0.0, (window + 1) * self._window - now))


def _worker() -> Worker:
    """This thread's worker, built once (its channels' connections are kept); its channels'
    rates are shared by every worker on the broker."""
    found: Worker | None = getattr(_local, "worker", None)
    if found is None:
        engine = make_engine(_SETTINGS.database_url, relaxed_commits=True)
        redis = Redis.from_url(str(_SETTINGS.broker_url))
        found = _local.worker = build_worker(
            _SETTINGS,
            engine,
            _options(_SETTINGS),
            pacer=lambda channel, rate: RedisPacer(redis, channel, rate),
        )
    return found


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=15 * 60 * 1000)
def dispatch() -> None:
    """Move the journeys along and send one batch (see :meth:`Worker.run_once`)."""
    outcome = _worker().run_once()
    if outcome.claimed:
        log.info("dispatched %s", outcome.to_dict())


def _due(engine: Engine) -> int:
    """How many deliveries are due now (queued, not before now, no live lease)."""
    d = DELIVERIES.c
    now = datetime.now(UTC)
    query = (
        select(func.count())
        .select_from(DELIVERIES)
        .where(
            d.status == "queued",
            d.not_before <= now,
            or_(d.lease_until.is_(None), d.lease_until < now),
        )
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _hold(redis: Redis, me: str, hold_ms: int) -> bool:
    """Take or keep the pump lock; whether this pump holds it."""
    if redis.set(_LOCK, me, nx=True, px=hold_ms):
        return True
    holder = redis.get(_LOCK)
    if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == me:
        redis.pexpire(_LOCK, hold_ms)
        return True
    return False


def pump_once(redis: Redis, engine: Engine, me: str) -> int:
    """One beat of the pump: the dispatch messages it enqueued (0 when another pump holds
    the lock, or enough are waiting)."""
    settings = _SETTINGS
    hold_ms = int(max(settings.broker_poll_seconds * 5, 5.0) * 1000)
    if not _hold(redis, me, hold_ms):
        return 0
    waiting = int(redis.hlen(f"{NAMESPACE}:{QUEUE}.msgs"))  # queued and running
    batches = max(1, -(-_due(engine) // settings.broker_batch))
    count = max(0, min(batches, settings.broker_max_inflight - waiting))
    for _ in range(count):
        dispatch.send()
    return count


def pump() -> None:
    """The pump process (see the module's docstring); runs until it is stopped."""
    redis = Redis.from_url(str(_SETTINGS.broker_url))
    engine = make_engine(_SETTINGS.database_url)
    me = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
    while True:
        try:
            pump_once(redis, engine, me)
        except (RedisError, SQLAlchemyError) as exc:  # away for now: try again next beat
            log.warning("the pump failed (%s); trying again", exc)
        time.sleep(_SETTINGS.broker_poll_seconds)
