"""The FastAPI application: ``create_app(config)`` wires the store, the limits and the routes."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retentio import __version__
from retentio.api.config import ApiConfig
from retentio.api.keycache import KeyCache
from retentio.api.problems import ProblemBody, install_problem_handlers
from retentio.api.ratelimit import RateLimiter
from retentio.api.routes import (
    analytics,
    campaigns,
    consent,
    customers,
    health,
    inbox,
    ingest,
    journeys,
    loyalty,
    loyalty_referrals,
    loyalty_rewards,
    pages,
    preference_centre,
    preferences,
    privacy,
    push,
    segments,
    sms,
    subscription_page,
    subscriptions,
    survey_page,
    surveys,
    tracking,
)
from retentio.api.scores import ScoreCache
from retentio.bootstrap import Settings, build_worker, scheduled_jobs
from retentio.campaigns import Worker
from retentio.campaigns.schedule import Schedule, ScheduledJob
from retentio.core.clock import SystemClock
from retentio.core.errors import ConfigurationError
from retentio.store import current_revision, head_revision, make_engine
from retentio.store.arrow import read_transactions
from retentio.store.locks import writer_lock

__all__ = ["API_PREFIX", "app_from_settings", "create_app"]

API_PREFIX = "/api/v1"
#: Net allocations of tracked objects between collections of the youngest generation.
GC_YOUNG_THRESHOLD = 50_000
_log = logging.getLogger("retentio.api")
_DESCRIPTION = """retentio's REST API: feed it customers, orders and events; read KPIs,
profiles and predictions; manage consent and the privacy duties.

Authenticate with an API key (`retentio apikey create --scope read|write|admin`) sent as
`Authorization: Bearer rk_...`. Errors are RFC 9457 `application/problem+json`. Every
state-changing POST accepts an `Idempotency-Key` header."""


def _openapi(app: FastAPI, extra: tuple[type[BaseModel], ...]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            models: list[type[BaseModel]] = [*extra, ProblemBody]
            for model in models:
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(found.pop("$defs", {}))
                components[model.__name__] = found
            app.openapi_schema = schema
        return app.openapi_schema

    return build


_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds the headers every answer carries (plain ASGI: Starlette's BaseHTTPMiddleware
    cost a sixth of a tracked event's time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _no_autocheckpoint(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA wal_autocheckpoint = 0")


class _Checkpointer:
    """Copies SQLite's write-ahead log into the database file once a second, from its own
    thread. Left to the default, the commit that fills 1,000 pages of log does it, and that
    request waits (100 ms and more on a large store)."""

    def __init__(self, engine: Engine, every: float = 1.0) -> None:
        self._engine = engine
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                with self._engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except SQLAlchemyError as exc:  # try again next time; the log only grows meanwhile
                _log.warning("WAL checkpoint failed: %s", exc)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)


class _DeliveryThread:
    """The delivery worker, in a thread of the server process until it stops."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retentio-worker", daemon=True)
        self._thread.start()
        _log.info("delivery worker %s started in the server", worker.name)

    def _run(self) -> None:
        try:
            self._worker.run(stop=self._stop)
        except Exception:  # a crash must not pass silently: the outbox waits meanwhile
            _log.exception("the delivery worker stopped on an error; queued messages wait")
        finally:
            self._worker.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class _ScheduleThread:
    """The scheduled jobs (the loyalty programme's round), in a thread of the server: each
    looks at the clock every ``poll`` seconds and runs the jobs that are due."""

    def __init__(self, sessions: sessionmaker[Session], jobs: Sequence[ScheduledJob]) -> None:
        self._sessions, self._schedule = sessions, Schedule(jobs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retentio-jobs", daemon=True)
        self._thread.start()

    def _run(self, poll: float = 60.0) -> None:
        while True:
            try:
                with self._sessions() as session:
                    self._schedule.run_due(session, SystemClock().now())
            except SQLAlchemyError as exc:  # the database is away: next time
                _log.warning("scheduled jobs could not run: %s", exc)
            if self._stop.wait(poll):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def create_app(config: ApiConfig) -> FastAPI:
    """The API on the database ``config.database_url`` (migrated to this version)."""
    engine = make_engine(config.database_url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # the server checkpoints the WAL in the background, not in a request's commit
        event.listen(engine, "connect", _no_autocheckpoint)
    if current_revision(engine) != head_revision():
        engine.dispose()
        raise ConfigurationError(
            "the database is not at this retentio's revision: run `retentio init` first"
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The libraries loaded at start-up hold millions of objects that live for ever; frozen,
        # the collector stops re-scanning them while a 10,000-item batch allocates (a third
        # of a batch's time went to collections before).
        gc.collect()
        gc.freeze()
        # A batch allocates a few hundred thousand short-lived objects: the young generation
        # is collected every 50,000 allocations rather than every 700. (Every 200,000 saved
        # batches 2.7 µs of an order's 44, measured in-process; it was tried and set back
        # after tracked events saw maxima of 95-100 ms, but a later run at 50,000 saw 103 ms
        # too: what it does to latency is not known.)
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
        checkpoints = _Checkpointer(engine) if sqlite else None
        delivery = _DeliveryThread(config.delivery_worker()) if config.delivery_worker else None
        jobs = (
            _ScheduleThread(app.state.sessions, config.scheduled_jobs)
            if config.scheduled_jobs
            else None
        )
        yield
        if jobs is not None:
            jobs.stop()
        if delivery is not None:
            delivery.stop()
        if checkpoints is not None:
            checkpoints.stop()
        app.state.write_lock.close()
        engine.dispose()

    app = FastAPI(
        title="retentio",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.engine = engine
    app.state.sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)
    app.state.limiter = RateLimiter(config.rate_per_second, config.rate_burst)
    app.state.keys = KeyCache(config.key_cache_seconds)
    # SQLite has one writer at a time, and a blocked writer polls with growing sleeps (up to
    # 100 ms): writers of every server process queue on a lock instead. PostgreSQL locks rows.
    app.state.write_lock = writer_lock(engine)

    app.state.transactions = lambda: read_transactions(engine)
    app.state.scores = ScoreCache(app.state.transactions, config.scores_ttl)
    install_problem_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.state.signer = config.signer
    routers = (health, ingest, customers, consent, privacy, analytics, segments, campaigns)
    loyalties = (loyalty, loyalty_referrals, loyalty_rewards)
    for module in (*routers, journeys, sms, inbox, push, *loyalties, subscriptions, surveys):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(preferences.router, prefix=API_PREFIX)
    app.include_router(preference_centre.router)
    app.include_router(pages.router)
    app.include_router(subscription_page.router)
    app.include_router(tracking.router)
    app.include_router(survey_page.router)
    extra: tuple[type[BaseModel], ...] = (
        *ingest.BATCH_MODELS,
        *consent.BODY_MODELS,
        *segments.BODY_MODELS,
        *campaigns.BODY_MODELS,
        *journeys.BODY_MODELS,
        *sms.BODY_MODELS,
        *push.BODY_MODELS,
        *loyalty.BODY_MODELS,
        *loyalty_referrals.BODY_MODELS,
        *loyalty_rewards.BODY_MODELS,
        *subscriptions.BODY_MODELS,
        *surveys.BODY_MODELS,
        *preferences.BODY_MODELS,
    )
    app.openapi = _openapi(app, extra)  # type: ignore[method-assign]
    return app


def app_from_settings() -> FastAPI:
    """The API configured from the environment (``RETENTIO_*``): ``retentio serve`` runs this."""
    settings = Settings()
    return create_app(
        ApiConfig(
            database_url=settings.database_url,
            secret=settings.require_secret(),
            signer=settings.signer(),
            public_url=settings.public_url,
            rate_per_second=settings.api_rate_per_second,
            rate_burst=settings.api_rate_burst,
            global_control=settings.global_control,
            sms_from=settings.sms_from,
            preference_topics=settings.topics(),
            vapid_public_key=_vapid_public_key(settings),
            delivery_worker=_worker_of(settings),
            scheduled_jobs=scheduled_jobs(settings) if settings.serve_worker else (),
        )
    )


def _vapid_public_key(settings: Settings) -> str | None:
    key = settings.vapid_key()
    return key.public_key if key is not None else None


def _worker_of(settings: Settings) -> Callable[[], Worker] | None:
    """The in-process delivery worker of ``settings``: none when ``RETENTIO_SERVE_WORKER`` is
    false (workers run apart), or when nothing is set up for sending (no
    ``RETENTIO_PUBLIC_URL``, which every marketing message links to, and no channel)."""
    if not settings.serve_worker:
        return None
    if not settings.public_url and not settings.sending_channels():
        _log.warning(
            "RETENTIO_PUBLIC_URL and the channels (RETENTIO_SMTP_URL, RETENTIO_SMS_URL, "
            "RETENTIO_WEBHOOK_SECRET) are not set: campaign messages are queued, not sent"
        )
        return None
    # Checked now, so that a missing setting stops the server instead of the thread.
    engine = make_engine(settings.database_url)
    try:
        build_worker(settings, engine).close()
    finally:
        engine.dispose()

    def make() -> Worker:  # the server runs the scheduled jobs in a thread of their own
        engine = make_engine(settings.database_url, relaxed_commits=True)
        return build_worker(settings, engine, jobs=())

    return make
