"""The composition root: one Settings object, read from the environment at the edges.

Only entry points (the CLI, later the API server and the worker) read settings; library code
takes arguments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from retentio.campaigns import Worker, WorkerOptions
from retentio.campaigns.push_subscriptions import mark_devices
from retentio.campaigns.schedule import ScheduledJob
from retentio.campaigns.worker import Channel, PacerFactory
from retentio.channels import (
    DkimKey,
    GatewaySender,
    HttpSmsChannel,
    InboxChannel,
    PushChannel,
    SmsSettings,
    SmtpChannel,
    SmtpSettings,
    VapidKey,
    WebhookChannel,
    WebPushSender,
    decode_secret,
    load_dkim_key,
    parse_networks,
)
from retentio.core.errors import ConfigurationError, DataError
from retentio.core.signing import Signer, derive_key
from retentio.feedback import DEFAULT_TOPICS, Topic, parse_topics
from retentio.loyalty.jobs import run_loyalty_jobs
from retentio.store import DEFAULT_DATABASE_URL
from retentio.subscriptions.charging import WebhookPaymentAdapter
from retentio.subscriptions.jobs import run_subscription_jobs

_PLACEHOLDER = re.compile(r"change.?me|secret|password|example|placeholder|xxxx", re.IGNORECASE)

__all__ = ["Settings", "build_worker", "scheduled_jobs"]

_log = logging.getLogger("retentio.worker")


class Settings(BaseSettings):
    """retentio's settings: environment variables ``RETENTIO_*`` (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="RETENTIO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path.db (the default, in the working directory) or "
        "postgresql://user:password@host:5432/db",
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description="32+ random characters that key the suppression list's HMACs and signed "
        "links; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
    )

    signing_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Keys of signed links (withdrawal, preferences) by key id, as JSON, e.g. "
        '{"2026a": "<32+ random characters>"}; empty: one key derived from the secret key',
    )
    signing_key_id: str | None = Field(
        default=None,
        description="The key id of signing_keys that signs new links (the others still verify)",
    )
    public_url: str | None = Field(
        default=None,
        description="The public base URL of the API server behind a proxy (e.g. "
        "https://shop.example/retentio), used in customers' links; default: the request's URL",
    )
    preference_topics: dict[str, str | dict[str, str]] | list[str] | None = Field(
        default=None,
        description="The topics customers choose from in the preference centre, as JSON: "
        'names (["news", "offers"]) or names with labels per language, e.g. {"running": '
        '{"en": "Running", "da": "Løb", "nl": "Hardlopen"}}; unset: news, offers, new_arrivals',
    )
    api_rate_per_second: float = Field(
        default=100.0, gt=0, description="Requests per second allowed per API key (token bucket)"
    )
    api_rate_burst: int = Field(
        default=200, ge=1, description="Requests an API key may make in a burst (bucket size)"
    )
    smtp_url: str | None = Field(
        default=None,
        description="The SMTP server e-mail goes through: smtp://host:port, "
        "smtp://user:password@host:587?starttls=true or smtps://user:password@host:465",
    )
    mail_from: str | None = Field(
        default=None, description="The From of marketing e-mail, e.g. 'Butikken <shop@butik.dk>'"
    )
    dkim_key_file: str | None = Field(
        default=None,
        description="The PEM file of the RSA key (2048 bits) that DKIM-signs e-mail (make one "
        "with: openssl genrsa -out dkim.pem 2048); unset: e-mail goes unsigned",
    )
    dkim_selector: str | None = Field(
        default=None,
        description="The DKIM selector, e.g. mail2026: receivers find the public key as the TXT "
        "record <selector>._domainkey.<domain> (required with a DKIM key)",
    )
    dkim_domain: str | None = Field(
        default=None,
        description="The signing domain (d=) of DKIM signatures; default: the domain of "
        "RETENTIO_MAIL_FROM",
    )
    global_control: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="The share of customers in the global control group, who get no marketing "
        "from any campaign, to measure the whole programme (0: none; e.g. 0.05)",
    )
    serve_worker: bool = Field(
        default=True,
        description="Whether `retentio serve` sends campaign messages itself, in a thread "
        "(needs RETENTIO_SMTP_URL); false when separate `retentio worker` processes do",
    )
    loyalty_jobs_minutes: int = Field(
        default=60,
        ge=1,
        le=1440,
        description="How often the worker (and `retentio serve`) runs the loyalty programme's "
        "round: release points past the return window, complete referrals, expire points and "
        "remind, review tiers",
    )
    subscription_jobs_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="How often the worker (and `retentio serve`) runs the subscriptions' round: "
        "renewal orders, pauses starting and ending, payment retries",
    )
    email_rate_per_second: float | None = Field(
        default=None,
        gt=0,
        description="At most this many e-mails a second per worker (your SMTP provider's "
        "limit); unset: as fast as the server takes them",
    )
    sms_url: str | None = Field(
        default=None,
        description="The SMS provider's HTTP JSON endpoint (see docs/campaigns.md, SMS), e.g. "
        "https://sms.example/v1/messages; unset: SMS messages stay queued",
    )
    sms_auth: SecretStr | None = Field(
        default=None,
        description="The Authorization header sent to the SMS provider, e.g. 'Bearer sk_...'",
    )
    sms_from: str | None = Field(
        default=None,
        max_length=15,
        description="The SMS sender: a number in E.164 or an alphanumeric id of up to 11 "
        "characters (e.g. Butikken)",
    )
    sms_rate_per_second: float | None = Field(
        default=None, gt=0, description="At most this many SMS a second per worker"
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The Standard Webhooks key that signs outgoing webhooks, whsec_<base64 of "
        "24+ random bytes>; unset: webhook messages stay queued",
    )
    webhook_allow_networks: str = Field(
        default="",
        description="Private networks webhooks may reach on purpose (e.g. 10.20.0.0/16 for a "
        "receiver on the shop's own network), comma-separated; by default every loopback, "
        "private and link-local address is refused",
    )
    payment_webhook_url: str | None = Field(
        default=None,
        description="The shop's payment integration: each subscription order waiting for "
        "payment is sent here as a signed subscription.charge_requested webhook (signed with "
        "RETENTIO_WEBHOOK_SECRET), e.g. https://butik.example/retentio/charge; unset: the shop "
        "reads the pending orders from the API",
    )
    vapid_private_key_file: str | None = Field(
        default=None,
        description="The PEM file of the shop's VAPID key that signs Web Push messages "
        "(make one with: retentio push vapid-keys); unset: no Web Push",
    )
    vapid_subject: str | None = Field(
        default=None,
        description="A contact the push services may use, mailto:ops@shop.example or an "
        "https:// address (required with a VAPID key)",
    )
    push_gateway_url: str | None = Field(
        default=None,
        description="The shop's mobile push gateway (in front of APNs and FCM), e.g. "
        "https://push.butik.dk/send; unset: no mobile push",
    )
    push_gateway_auth: SecretStr | None = Field(
        default=None, description="The Authorization header sent to the push gateway"
    )
    push_allow_networks: str = Field(
        default="",
        description="Private networks Web Push endpoints may be in on purpose (as "
        "RETENTIO_WEBHOOK_ALLOW_NETWORKS); by default internal addresses are refused",
    )
    push_rate_per_second: float | None = Field(
        default=None, gt=0, description="At most this many push messages a second per worker"
    )
    webhook_rate_per_second: float | None = Field(
        default=None, gt=0, description="At most this many webhook calls a second per worker"
    )
    broker_url: str | None = Field(
        default=None,
        description="The Redis that spreads the delivery work over processes and machines "
        "(redis://host:6379/0): `retentio worker` then runs Dramatiq actors; unset: one "
        "worker process polls the database",
    )
    broker_batch: int = Field(
        default=100, ge=1, le=10_000, description="Deliveries one dispatch actor claims"
    )
    broker_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the pump looks for due deliveries"
    )
    broker_max_inflight: int = Field(
        default=32,
        ge=1,
        description="At most this many dispatch messages queued or running at once",
    )
    retention_events_days: int = Field(
        default=730,
        ge=0,
        description="Delete events older than this many days (0 keeps them): two years of "
        "behaviour allow year-over-year comparison",
    )
    retention_inactive_customer_days: int = Field(
        default=1095,
        ge=0,
        description="Erase customers with no order, event or consent change for this many days "
        "and no consent granted (0 never): three years, the Danish and Dutch general limitation "
        "period for claims",
    )
    retention_audit_days: int = Field(
        default=1095,
        ge=0,
        description="Delete audit entries older than this many days (0 keeps them): three years, "
        "to answer complaints within the limitation period",
    )

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if len(text) < 32 or len(set(text)) < 8 or _PLACEHOLDER.search(text):
            raise ValueError(
                "RETENTIO_SECRET_KEY must be at least 32 random characters, not a placeholder"
            )
        return value

    def signer(self) -> Signer:
        """The signer of customers' links: ``signing_keys`` signing with ``signing_key_id``,
        else one key (id ``k0``) derived from the secret key."""
        if not self.signing_keys:
            return Signer({"k0": derive_key(self.require_secret(), "signing")}, "k0")
        current = self.signing_key_id
        if current is None and len(self.signing_keys) == 1:
            current = next(iter(self.signing_keys))
        if current is None:
            raise ConfigurationError(
                "RETENTIO_SIGNING_KEY_ID must name the key of RETENTIO_SIGNING_KEYS that signs"
            )
        keys = {
            kid: key.get_secret_value().encode("utf-8") for kid, key in self.signing_keys.items()
        }
        return Signer(keys, current)

    def topics(self) -> tuple[Topic, ...]:
        """The shop's topics of ``RETENTIO_PREFERENCE_TOPICS``, else the built-in ones."""
        if self.preference_topics is None:
            return DEFAULT_TOPICS
        return parse_topics(self.preference_topics, setting="RETENTIO_PREFERENCE_TOPICS")

    def email_channel(self) -> SmtpChannel:
        """The SMTP channel of ``RETENTIO_SMTP_URL`` (a ConfigurationError when unset)."""
        if not self.smtp_url:
            raise ConfigurationError(
                "RETENTIO_SMTP_URL is not set (e.g. smtp://127.0.0.1:1025 for a local relay)"
            )
        return SmtpChannel(SmtpSettings.from_url(self.smtp_url), dkim=self.dkim_key())

    def dkim_key(self) -> DkimKey | None:
        """The DKIM key of ``RETENTIO_DKIM_KEY_FILE``, or None when unset."""
        if not self.dkim_key_file:
            return None
        if not self.dkim_selector:
            raise ConfigurationError(
                "RETENTIO_DKIM_SELECTOR is not set (required with RETENTIO_DKIM_KEY_FILE)"
            )
        domain = self.dkim_domain or parseaddr(self.mail_from or "")[1].rpartition("@")[2]
        if not domain:
            raise ConfigurationError(
                "RETENTIO_DKIM_DOMAIN is not set, and RETENTIO_MAIL_FROM has no domain to sign for"
            )
        return load_dkim_key(self.dkim_selector, domain.lower(), self.dkim_key_file)

    def sms_channel(self) -> HttpSmsChannel:
        """The SMS channel of ``RETENTIO_SMS_URL`` (a ConfigurationError when unset)."""
        if not self.sms_url:
            raise ConfigurationError("RETENTIO_SMS_URL is not set (the SMS provider's endpoint)")
        auth = self.sms_auth.get_secret_value() if self.sms_auth else None
        return HttpSmsChannel(SmsSettings(self.sms_url, authorization=auth, sender=self.sms_from))

    def webhook_channel(self) -> WebhookChannel:
        """The webhook channel signing with ``RETENTIO_WEBHOOK_SECRET``."""
        if self.webhook_secret is None:
            raise ConfigurationError(
                "RETENTIO_WEBHOOK_SECRET is not set; generate one with: python -c 'import "
                'base64, secrets; print("whsec_" + base64.b64encode(secrets.token_bytes(32))'
                ".decode())'"
            )
        try:
            allowed = parse_networks(self.webhook_allow_networks)
        except DataError as exc:
            raise ConfigurationError(f"RETENTIO_WEBHOOK_ALLOW_NETWORKS: {exc}") from None
        key = decode_secret(self.webhook_secret.get_secret_value())
        return WebhookChannel(key, allowed=allowed)

    def payment_adapter(self) -> WebhookPaymentAdapter | None:
        """The payment adapter of ``RETENTIO_PAYMENT_WEBHOOK_URL`` (None when unset)."""
        url = self.payment_webhook_url
        if not url:
            return None
        if not url.startswith("https://"):
            scheme = url.partition(":")[0]
            raise ConfigurationError(f"RETENTIO_PAYMENT_WEBHOOK_URL: https only, not {scheme}:")
        return WebhookPaymentAdapter(self.webhook_channel(), url)

    def vapid_key(self) -> VapidKey | None:
        """The VAPID key of ``RETENTIO_VAPID_PRIVATE_KEY_FILE``, or None when unset."""
        if not self.vapid_private_key_file:
            return None
        return VapidKey.load(self.vapid_private_key_file, self.vapid_subject)

    def push_channel(self, engine: Engine) -> PushChannel:
        """The push channel: Web Push with the VAPID key, the gateway where set; gone
        subscriptions are revoked through ``engine``."""
        try:
            allowed = parse_networks(self.push_allow_networks)
        except DataError as exc:
            raise ConfigurationError(f"RETENTIO_PUSH_ALLOW_NETWORKS: {exc}") from None
        key = self.vapid_key()
        web = WebPushSender(key, allowed=allowed) if key is not None else None
        gateway = None
        if self.push_gateway_url:
            auth = self.push_gateway_auth.get_secret_value() if self.push_gateway_auth else None
            gateway = GatewaySender(self.push_gateway_url, authorization=auth)
        return PushChannel(
            web=web,
            gateway=gateway,
            on_gone=lambda ids: mark_devices(engine, ids, now=datetime.now(UTC), gone=True),
            on_sent=lambda ids: mark_devices(engine, ids, now=datetime.now(UTC), gone=False),
        )

    def sending_channels(self) -> tuple[str, ...]:
        """The channels that reach outside retentio and are configured."""
        configured = {
            "email": self.smtp_url,
            "sms": self.sms_url,
            "push": self.vapid_private_key_file or self.push_gateway_url,
            "webhook": self.webhook_secret,
        }
        return tuple(name for name, value in configured.items() if value)

    def channel_rates(self) -> dict[str, float]:
        """Messages per second per channel, where a limit is set."""
        rates = {
            "email": self.email_rate_per_second,
            "sms": self.sms_rate_per_second,
            "push": self.push_rate_per_second,
            "webhook": self.webhook_rate_per_second,
        }
        return {name: rate for name, rate in rates.items() if rate is not None}

    def require_secret(self) -> bytes:
        """The secret key as bytes; a ConfigurationError saying how to set it when missing."""
        if self.secret_key is None:
            raise ConfigurationError(
                "RETENTIO_SECRET_KEY is not set; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self.secret_key.get_secret_value().encode("utf-8")


#: Seconds a worker's round spends asking the payment provider to charge (the deliveries wait
#: meanwhile); the next round goes on.
_CHARGE_BUDGET_SECONDS = 120.0


def scheduled_jobs(settings: Settings) -> tuple[ScheduledJob, ...]:
    """The jobs a worker runs between its batches: the loyalty programme's round and the
    subscriptions' renewals."""

    def loyalty(session: Session, now: datetime) -> None:
        run = run_loyalty_jobs(session, now=now)
        if run.ran:
            _log.info("loyalty round: %s", run.to_dict())

    adapter = settings.payment_adapter()

    def subscriptions(session: Session, now: datetime) -> None:
        run = run_subscription_jobs(
            session, now=now, adapter=adapter, charge_budget_seconds=_CHARGE_BUDGET_SECONDS
        )
        if run.renewals.orders or run.retries or (run.charges and run.charges.requested):
            _log.info("subscription round: %s", run.to_dict())
        if run.charges and run.charges.failed:
            _log.warning(
                "%d charge request(s) failed (asked again next round): %s",
                run.charges.failed,
                run.charges.last_error,
            )

    return (
        ScheduledJob("loyalty", timedelta(minutes=settings.loyalty_jobs_minutes), loyalty),
        ScheduledJob(
            "subscriptions", timedelta(minutes=settings.subscription_jobs_minutes), subscriptions
        ),
    )


def build_worker(
    settings: Settings,
    engine: Engine,
    options: WorkerOptions = WorkerOptions(),  # noqa: B008 (frozen)
    *,
    pacer: PacerFactory | None = None,
    jobs: tuple[ScheduledJob, ...] | None = None,
) -> Worker:
    """The delivery worker of ``settings``: the in-app inbox always; e-mail over
    ``RETENTIO_SMTP_URL``, SMS through ``RETENTIO_SMS_URL``, push with a VAPID key or a
    gateway, and webhooks signed with
    ``RETENTIO_WEBHOOK_SECRET`` where they are set; unsubscribe links to
    ``RETENTIO_PUBLIC_URL``; at most ``RETENTIO_<CHANNEL>_RATE_PER_SECOND`` per channel;
    between batches, ``jobs`` (default: :func:`scheduled_jobs`)."""
    if not settings.public_url and not settings.sending_channels():
        raise ConfigurationError(
            "nothing is set up for sending: set RETENTIO_PUBLIC_URL (the https:// address "
            "messages link to) and the channels to send through (RETENTIO_SMTP_URL, "
            "RETENTIO_SMS_URL, RETENTIO_VAPID_PRIVATE_KEY_FILE, RETENTIO_PUSH_GATEWAY_URL, "
            "RETENTIO_WEBHOOK_SECRET; the in-app inbox needs none)"
        )
    options = replace(options, channel_rates={**settings.channel_rates(), **options.channel_rates})
    makers: dict[str, Callable[[], Channel]] = {
        "email": settings.email_channel,
        "sms": settings.sms_channel,
        "push": lambda: settings.push_channel(engine),
        "webhook": settings.webhook_channel,
    }
    channels: dict[str, Channel] = {"in_app": InboxChannel(engine)}
    channels |= {name: makers[name]() for name in settings.sending_channels()}
    return Worker(
        sessionmaker(engine),
        channels,
        secret=settings.require_secret(),
        signer=settings.signer(),
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        options=options,
        pacer=pacer,
        jobs=scheduled_jobs(settings) if jobs is None else jobs,
    )
