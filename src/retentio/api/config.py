"""What the API server needs to run: built from Settings at the edge, plain values here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from retentio.campaigns import Worker
from retentio.campaigns.schedule import ScheduledJob
from retentio.core.signing import Signer
from retentio.feedback import DEFAULT_TOPICS, Topic

__all__ = ["ApiConfig"]


@dataclass(frozen=True)
class ApiConfig:
    """The API's configuration.

    ``rate_per_second`` and ``rate_burst`` form a token bucket per API key (and per client
    address on the public consent pages); ``max_body_bytes`` bounds every request body (a
    10,000-order batch with lines is about 4 MB); ``signer`` signs the customers' links
    (withdrawal), whose base is ``public_url`` (e.g. https://shop.example/retentio) when the
    server sits behind a proxy, else the URL the request came in on. A verified API key is
    remembered for ``key_cache_seconds`` (a revocation takes effect within that time; 0: every
    request looks its key up). ``delivery_worker`` builds the worker that the server runs
    in a thread while it serves (``retentio serve``'s default when SMTP is configured).
    """

    database_url: str
    secret: bytes | None = None
    rate_per_second: float = 100.0
    rate_burst: int = 200
    max_body_bytes: int = 32 * 1024 * 1024
    max_batch_items: int = 10_000
    idempotency_ttl: timedelta = timedelta(hours=24)
    idempotency_lease: timedelta = timedelta(seconds=60)
    scores_ttl: timedelta = timedelta(minutes=10)
    signer: Signer | None = None
    public_url: str | None = None
    key_cache_seconds: float = 1.0
    #: The share of customers in the global control group, for campaign launches.
    global_control: float = 0.0
    #: How answers to texts (STOP, HELP) name the shop: the SMS sender.
    sms_from: str | None = None
    #: The VAPID public key browsers subscribe with (None: no Web Push).
    vapid_public_key: str | None = None
    #: Builds the delivery worker the server runs in a thread (None: messages are queued and
    #: sent by a separate ``retentio worker``).
    delivery_worker: Callable[[], Worker] | None = None
    #: Jobs the server runs in a thread of its own (the loyalty programme's round), each at
    #: its interval; empty: separate ``retentio worker`` processes run them.
    scheduled_jobs: tuple[ScheduledJob, ...] = ()
    #: The topics customers choose from (stated preferences, the preference centre).
    preference_topics: tuple[Topic, ...] = DEFAULT_TOPICS
