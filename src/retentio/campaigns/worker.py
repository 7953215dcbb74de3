"""The delivery worker: claims due deliveries, checks each against the guards, renders it and
hands it to its channel, then records the outcome (``retentio worker``; in-process in
``retentio serve``).

For each claimed delivery, in order:

1. **Who.** An erased customer, one without an address for the channel, or one whose address
   is on the suppression list is skipped. Marketing needs an effective consent for the
   channel (a webhook's: the consent it names), checked now (a withdrawal a second ago
   counts).
2. **When.** Unless the message is transactional, quiet hours on the customer's clock hold it
   until the window opens (or drop it, as the campaign says), and the frequency caps, counted
   over every channel's recent sends, hold it until no cap blocks. What the customer stated
   comes first: a marketing message during their snooze (``snooze_until``, to the end of that
   day on their clock) or over the frequency they chose (weekly, monthly) is skipped, not
   held, so that it does not pile up for the day the snooze ends. A message that carries a
   survey (``survey:``) is skipped for a customer who answered or was sent a survey within
   the survey's ``throttle_days`` (:mod:`retentio.campaigns.surveys`).
3. **Send.** The message is rendered in the sandbox, composed for its channel (e-mail, SMS,
   push, in-app inbox, webhook: :mod:`retentio.campaigns.compose`) and sent with a reference
   derived from the delivery, the same on every try (an e-mail's Message-ID, an SMS's
   idempotency key, a webhook's id). ``sent`` is recorded at once; a transient failure is
   tried again after a growing wait (1 minute to 12 hours, or the provider's longer
   ``Retry-After``) until ``max_attempts``; a permanent one (a hard bounce) suppresses the
   address; a message the provider rejects fails at once.

A worker claims only the deliveries of the channels it has; the others wait in the queue for
a worker that has them. Before each claim the worker runs its scheduled jobs that are due
(:mod:`retentio.campaigns.schedule`: the loyalty programme's round) and moves the journeys'
entrants along
(:mod:`retentio.campaigns.journeys`), which queues their messages. Any number of workers may
run: each claim is a lease (see :mod:`retentio.campaigns.outbox`), and each journey is
advanced by one worker at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from retentio.campaigns.compose import (
    compose_email,
    compose_inbox,
    compose_push,
    compose_sms,
    compose_webhook,
    delivery_reference,
    message_id,
    sender_domain,
)
from retentio.campaigns.definition import CampaignDefinition, parse_campaign
from retentio.campaigns.guards import (
    DEFAULT_CAPS,
    PREFERRED_FREQUENCY_CAPS,
    FrequencyCap,
    PastSend,
    blocking_cap,
    next_allowed,
    quiet_until,
    snoozed,
)
from retentio.campaigns.journeys import advance_journeys
from retentio.campaigns.outbox import Claimed, backoff, claim, finish, record_event, reschedule
from retentio.campaigns.recipients import Recipient, load_recipients, subscription_url
from retentio.campaigns.schedule import Schedule, ScheduledJob
from retentio.campaigns.surveys import SurveyAsks
from retentio.campaigns.templates import RenderedMessage, TemplateError, render_message
from retentio.campaigns.tracking import track_message
from retentio.channels.base import DeliveryResult
from retentio.core.clock import Clock, SystemClock
from retentio.core.errors import ConfigurationError
from retentio.core.signing import Signer
from retentio.core.vocabulary import CONSENT_CHANNELS
from retentio.privacy.addresses import address_hmac
from retentio.privacy.preference_links import preference_link
from retentio.privacy.suppression import add_suppression
from retentio.privacy.withdrawal import withdrawal_token
from retentio.store.campaign_tables import Campaign

__all__ = ["BatchOutcome", "Channel", "Pacer", "PacerFactory", "Worker", "WorkerOptions"]

log = logging.getLogger("retentio.worker")
#: The channels whose addresses go on the suppression list when they bounce.
SUPPRESSIBLE = ("email", "sms")


class Channel(Protocol):
    """A channel port: send one message, say what happened."""

    def send(self, message: Any) -> DeliveryResult: ...


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker claims and sends."""

    batch: int = 100
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    caps: tuple[FrequencyCap, ...] = DEFAULT_CAPS
    #: Messages per second per channel (None: as fast as the channel takes them) ...
    rate_per_second: float | None = None
    #: ... unless the channel has its own rate here.
    channel_rates: Mapping[str, float] = field(default_factory=dict)
    poll_seconds: float = 1.0
    default_zone: str = "Europe/Copenhagen"


@dataclass(slots=True)
class BatchOutcome:
    """What a batch (or a run) did, by outcome: sent, held, skipped, retry, failed, bounced."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def claimed(self) -> int:
        return sum(self.counts.values())

    def add(self, other: BatchOutcome) -> None:
        self.counts.update(other.counts)

    def to_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


class Pacer(Protocol):
    """Paces one channel's sends: ``wait`` returns when the next send may go."""

    def wait(self) -> None: ...


#: Makes the pacer of a channel at a rate (messages a second; None: no limit).
PacerFactory = Callable[[str, float | None], Pacer]


class _Pacer:
    """At most ``rate`` calls a second in this worker: waits before a call that would come
    too early."""

    def __init__(self, rate: float | None) -> None:
        self._gap = 1.0 / rate if rate else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if not self._gap:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + self._gap


class Worker:
    """Dispatches the outbox. ``sessions`` makes sessions; ``channels`` maps a channel name
    (``email``, ``sms``, ``push``, ``in_app``, ``webhook``) to its adapter; ``mail_from`` is
    the From of e-mail; ``public_url`` (https) is where unsubscribe links point
    (``/u/<token>``). ``pacer`` makes each channel's pacer (default: a limit per worker; with
    a broker, one shared by every worker: :class:`retentio.tasks.RedisPacer`)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        channels: Mapping[str, Channel],
        *,
        secret: bytes,
        signer: Signer,
        mail_from: str | None,
        public_url: str | None,
        options: WorkerOptions = WorkerOptions(),  # noqa: B008 (frozen)
        clock: Clock | None = None,
        name: str | None = None,
        pacer: PacerFactory | None = None,
        jobs: Sequence[ScheduledJob] = (),
    ) -> None:
        self._domain = ""
        if "email" in channels:
            if not mail_from:
                raise ConfigurationError("RETENTIO_MAIL_FROM is not set (the From of e-mail)")
            self._domain = sender_domain(mail_from)  # the Message-IDs' domain, read once
        if not public_url or not public_url.startswith("https://"):
            raise ConfigurationError(
                "RETENTIO_PUBLIC_URL must be set to the server's https:// address: every "
                "marketing message carries an unsubscribe link to it (RFC 8058)"
            )
        self.sessions, self.channels = sessions, dict(channels)
        self.secret, self.signer = secret, signer
        self.mail_from, self.public_url = mail_from, public_url.rstrip("/")
        self.options, self.clock = options, clock or SystemClock()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._campaigns: dict[int, CampaignDefinition] = {}
        make_pacer: PacerFactory = pacer or (lambda _channel, rate: _Pacer(rate))
        self._pacers = {
            channel: make_pacer(
                channel, options.channel_rates.get(channel, options.rate_per_second)
            )
            for channel in channels
        }
        self._channel_names = tuple(sorted(channels))
        self._schedule = Schedule(jobs)

    def close(self) -> None:
        """Close the channels' connections (a channel with a ``close`` method)."""
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the loop -------------------------------------------------------------------------

    def run(self, *, stop: threading.Event | None = None, until_idle: bool = False) -> BatchOutcome:
        """Work until ``stop`` is set (or, ``until_idle``, until nothing is due). A lost
        database connection is waited out: the batch's leases run out and are taken again."""
        stop = stop or threading.Event()
        total = BatchOutcome()
        while not stop.is_set():
            try:
                outcome = self.run_once()
            except SQLAlchemyError as exc:  # a lost connection, a restart: wait it out
                cause = exc.orig if isinstance(exc, DBAPIError) else exc
                log.warning("worker %s: the database failed (%s); retrying", self.name, cause)
                stop.wait(self.options.poll_seconds)
                continue
            total.add(outcome)
            if outcome.claimed == 0:
                if until_idle:
                    break
                stop.wait(self.options.poll_seconds)
        return total

    def run_once(self) -> BatchOutcome:
        """Move the journeys' entrants along (queueing their messages), then claim one batch
        and deal with each delivery in it."""
        outcome = BatchOutcome()
        with self.sessions() as session:
            self._schedule.run_due(session, self.clock.now())
            advance_journeys(session, clock=self.clock)
            now = self.clock.now()
            claimed = claim(
                session,
                owner=self.name,
                now=now,
                lease=self.options.lease,
                limit=self.options.batch,
                channels=self._channel_names,
            )
            if not claimed:
                return outcome
            by_channel: dict[str, list[Claimed]] = {}
            for delivery in claimed:
                by_channel.setdefault(delivery.channel, []).append(delivery)
            with session.get_bind().engine.connect() as connection:
                # Outcomes are single statements: each commits by itself, in one round trip.
                writes = connection.execution_options(isolation_level="AUTOCOMMIT")
                for channel, deliveries in by_channel.items():
                    self._dispatch(session, writes, channel, deliveries, outcome)
        return outcome

    # -- one batch of one channel ------------------------------------------------------------

    def _dispatch(
        self,
        session: Session,
        writes: Connection,
        channel: str,
        deliveries: list[Claimed],
        outcome: BatchOutcome,
    ) -> None:
        now = self.clock.now()
        recipients = load_recipients(
            session,
            [d.customer_id for d in deliveries],
            channel=channel,
            secret=self.secret,
            now=now,
            default_zone=self.options.default_zone,
        )
        campaigns = [self._campaign(session, d.campaign_id) for d in deliveries]
        asks = SurveyAsks.load(session, {c.survey for c in campaigns if c.survey}, recipients, now)
        session.commit()  # no read transaction held open while sending
        held: dict[datetime, list[int]] = {}
        for delivery in deliveries:
            campaign = self._campaign(session, delivery.campaign_id)
            recipient = recipients.get(delivery.customer_id)
            reason = self._refusal(delivery, recipient, campaign)
            if reason is None and campaign.survey is not None:
                reason = asks.refusal(delivery.customer_id, campaign.survey)
            if reason is not None:
                self._skip(writes, delivery, reason, now, outcome)
                continue
            assert recipient is not None  # noqa: S101 (a refusal otherwise)
            later, reason = self._timing(delivery, recipient, campaign, self.clock.now())
            if reason is not None and later is None:
                self._skip(writes, delivery, reason, now, outcome)
                continue
            if later is not None:
                held.setdefault(later, []).append(delivery.id)
                outcome.counts["held"] += 1
                continue
            extra: dict[str, Any] = {}
            if campaign.survey is not None:
                extra = asks.values(
                    self.signer, self.public_url, campaign.survey, customer_id=recipient.id,
                    delivery_id=delivery.id, locale=recipient.locale,
                )  # fmt: skip
            sent = self._send(session, writes, delivery, recipient, campaign, extra)
            if sent == "sent" and campaign.survey is not None:
                asks.sent(recipient.id, campaign.survey, self.clock.now(), delivery.id)
            outcome.counts[sent] += 1
        for until, ids in held.items():
            reschedule(writes, ids, owner=self.name, until=until, now=now, detail="held")

    def _skip(
        self,
        writes: Connection,
        delivery: Claimed,
        reason: str,
        now: datetime,
        outcome: BatchOutcome,
    ) -> None:
        """Record that the message will not go, and why."""
        finish(
            writes,
            delivery.id,
            owner=self.name,
            status="skipped",
            now=now,
            detail=reason,
            attempted=False,
        )
        outcome.counts["skipped"] += 1

    def _campaign(self, session: Session, campaign_id: int | None) -> CampaignDefinition:
        if campaign_id is None:  # pragma: no cover - journeys add sources without a campaign
            raise ConfigurationError("a delivery without a campaign")
        found = self._campaigns.get(campaign_id)
        if found is None:
            row = session.get(Campaign, campaign_id)
            if row is None:  # pragma: no cover - a foreign key
                raise ConfigurationError(f"delivery of an unknown campaign {campaign_id}")
            found = self._campaigns[campaign_id] = parse_campaign(row.definition)
        return found

    @staticmethod
    def _refusal(
        delivery: Claimed, recipient: Recipient | None, campaign: CampaignDefinition
    ) -> str | None:
        """Why the customer must not get this message at all, or None."""
        channel = delivery.channel
        if recipient is None or recipient.erased:
            return "erased"
        if channel not in recipient.addresses or channel in recipient.unusable:
            return f"no usable {channel} address"
        if channel in recipient.suppressed:
            return "suppressed"
        consent = campaign.consent_channel
        if delivery.purpose != "transactional" and (consent, delivery.purpose) not in (
            recipient.consents
        ):
            return f"no consent for {consent} {delivery.purpose}"
        return None

    def _timing(
        self,
        delivery: Claimed,
        recipient: Recipient,
        campaign: CampaignDefinition,
        now: datetime,
    ) -> tuple[datetime | None, str | None]:
        """(None, None): send now. (until, reason): hold until then. (None, reason): drop."""
        if campaign.exempt:
            return None, None
        if delivery.purpose == "marketing" and snoozed(recipient.snooze_until, now, recipient.zone):
            return None, f"snoozed until {recipient.snooze_until}"
        chosen = PREFERRED_FREQUENCY_CAPS.get(recipient.frequency or "")
        if chosen is not None and blocking_cap(
            recipient.sends, now, delivery.channel, delivery.purpose, recipient.zone, (chosen,)
        ):
            return None, f"over the customer's chosen frequency ({recipient.frequency})"
        at = next_allowed(
            recipient.sends,
            now,
            delivery.channel,
            delivery.purpose,
            recipient.zone,
            self.options.caps,
        )
        if at is None:
            return None, "a frequency cap of 0 messages"
        if campaign.quiet_hours is not None:
            opens = quiet_until(at, recipient.zone, campaign.quiet_hours)
            if opens != at and campaign.quiet_policy == "drop":
                return None, "quiet hours"
            at = opens
        return (None, None) if at <= now else (at, "held")

    def _send(
        self,
        session: Session,
        writes: Connection,
        delivery: Claimed,
        recipient: Recipient,
        campaign: CampaignDefinition,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Render and send one message (``extra``: more values for its template, a survey's
        links); record the outcome. Returns the outcome's name."""
        now = self.clock.now()
        reference = delivery_reference(delivery.id, delivery.source)
        if delivery.channel == "email":
            reference = message_id(delivery.id, delivery.source, self._domain)
        unsubscribe = self._unsubscribe_url(delivery, campaign)
        via = delivery.channel if delivery.channel in CONSENT_CHANNELS else None
        preferences = preference_link(
            self.signer, self.public_url, delivery.customer_id, via=via, now=now
        )
        subscription = None
        if recipient.subscription_id is not None:
            subscription = subscription_url(self.signer, self.public_url, recipient.subscription_id)
        context = recipient.context(
            now,
            campaign=campaign.name,
            offer_code=campaign.offer_code,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
            subscription_url=subscription,
            **(extra or {}),
        )
        try:
            rendered = render_message(campaign.message, context, locale=recipient.locale)
        except TemplateError as exc:
            self._finish(writes, delivery, "failed", now, str(exc), reference)
            return "failed"
        links = (unsubscribe, preferences, subscription)
        message = self._compose(delivery, recipient, campaign, rendered, reference, links)
        self._pacers[delivery.channel].wait()
        result = self.channels[delivery.channel].send(message)
        return self._record(session, writes, delivery, recipient, result, reference)

    def _compose(
        self,
        delivery: Claimed,
        recipient: Recipient,
        campaign: CampaignDefinition,
        rendered: RenderedMessage,
        reference: str,
        links: tuple[str | None, str, str | None],
    ) -> Any:
        """What the delivery's channel sends (see :mod:`retentio.campaigns.compose`);
        ``links``: the unsubscribe link (marketing), the preference centre's and the
        subscription page's (none are click-tracked: they are the customer's own pages)."""
        now, channel = self.clock.now(), delivery.channel
        unsubscribe, preferences, subscription = links
        if channel == "email":
            assert self.mail_from is not None  # noqa: S101 (checked for e-mail at start)
            if campaign.track_opens or campaign.track_clicks:
                rendered = track_message(
                    rendered,
                    signer=self.signer,
                    delivery_id=delivery.id,
                    base_url=self.public_url,
                    opens=campaign.track_opens,
                    clicks=campaign.track_clicks,
                    keep=tuple(link for link in (preferences, unsubscribe, subscription) if link),
                )
            return compose_email(
                rendered,
                recipient=recipient.addresses["email"],
                sender=self.mail_from,
                message_id=reference,
                unsubscribe_url=unsubscribe,
                sent_at=now,
                preferences_url=preferences,
            )
        if channel == "sms":
            return compose_sms(
                rendered,
                recipient=recipient.addresses["sms"],
                reference=reference,
                marketing=delivery.purpose != "transactional",
            )
        if channel == "push":
            return compose_push(
                rendered, reference=reference, link=campaign.link, devices=recipient.devices
            )
        if channel == "in_app":
            return compose_inbox(
                rendered,
                delivery_id=delivery.id,
                customer_id=delivery.customer_id,
                link=campaign.link,
                sent_at=now,
            )
        if channel == "webhook" and campaign.webhook_url is not None:
            return compose_webhook(
                rendered,
                url=campaign.webhook_url,
                reference=reference,
                delivery_id=delivery.id,
                campaign=campaign.name,
                purpose=delivery.purpose,
                customer=recipient.external_id,
                link=campaign.link,
                offer_code=campaign.offer_code,
                unsubscribe_url=unsubscribe,
                sent_at=now,
            )
        raise ConfigurationError(f"no composer for channel {channel!r}")  # pragma: no cover

    def _record(
        self,
        session: Session,
        writes: Connection,
        delivery: Claimed,
        recipient: Recipient,
        result: DeliveryResult,
        reference: str,
    ) -> str:
        """Record what the channel answered; returns the outcome's name.

        ``sent``: done. ``rejected``: failed at once. ``permanent``: a hard bounce, the
        address suppressed. ``transient``: tried again after the backoff (or the provider's
        longer ``Retry-After``) until ``max_attempts``; an answer about the recipient (a soft
        bounce) on every try suppresses the address, an outage never does."""
        done = self.clock.now()
        if result.status == "sent":
            self._finish(writes, delivery, "sent", done, result.detail, reference, result)
            recipient.sends.append(PastSend(done, delivery.channel, delivery.purpose))
            return "sent"
        if result.status == "rejected":
            self._finish(writes, delivery, "failed", done, result.detail, reference)
            return "failed"
        tries = delivery.attempts + 1
        if result.status == "permanent" or (result.refused and tries >= self.options.max_attempts):
            kind = "hard" if result.status == "permanent" else "soft"
            if delivery.channel in SUPPRESSIBLE:
                self._suppress(session, recipient, delivery, result, done, kind)
            detail = result.detail if kind == "hard" else f"after {tries} tries: {result.detail}"
            self._finish(session.connection(), delivery, "bounced", done, detail, reference)
            session.commit()  # the suppression, its event and the outcome together
            return "bounced"
        if tries >= self.options.max_attempts:
            detail = f"after {tries} tries: {result.detail}"
            self._finish(writes, delivery, "failed", done, detail, reference)
            return "failed"
        log.info("delivery %s: %s; trying again", delivery.id, result.detail)
        wait = max(backoff(tries), timedelta(seconds=result.retry_after or 0))
        reschedule(
            writes,
            [delivery.id],
            owner=self.name,
            until=done + wait,
            now=done,
            detail=result.detail[:500],
            attempted=True,
        )
        return "retry"

    def _finish(
        self,
        connection: Connection,
        delivery: Claimed,
        status: str,
        now: datetime,
        detail: str,
        reference: str,
        result: DeliveryResult | None = None,
    ) -> None:
        finish(
            connection,
            delivery.id,
            owner=self.name,
            status=status,
            now=now,
            detail=detail[:500],
            message_id=reference,
            provider_id=result.provider_id if result is not None else None,
        )

    def _unsubscribe_url(self, delivery: Claimed, campaign: CampaignDefinition) -> str | None:
        """The one-click withdrawal of the consent the message relies on (marketing)."""
        consent = campaign.consent_channel
        if delivery.purpose == "transactional" or consent is None:
            return None
        token = withdrawal_token(
            self.signer, delivery.customer_id, consent, delivery.purpose, delivery_id=delivery.id
        )
        return f"{self.public_url}/u/{token}"

    def _suppress(
        self,
        session: Session,
        recipient: Recipient,
        delivery: Claimed,
        result: DeliveryResult,
        at: datetime,
        kind: str,
    ) -> None:
        """A hard bounce, or a soft one (4xx) on every try: the address goes on the
        suppression list (with the outcome's commit)."""
        address = recipient.addresses[delivery.channel]
        digest = address_hmac(self.secret, delivery.channel, address, recipient.country)
        add_suppression(session, delivery.channel, digest, f"{kind}_bounce")
        record_event(
            session, delivery.id, "bounced", at=at, detail=f"{kind}: {result.detail}"[:500]
        )
        recipient.suppressed.add(delivery.channel)
