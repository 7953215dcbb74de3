"""Consent texts: the exact wording shown, versioned per language, immutable once published.

A marketing (or survey) text must tell the customer that consent can be withdrawn at any time
(GDPR art. 7(3)); publishing one without a withdrawal phrase of its language is refused. The
bundled defaults (Danish, English, Dutch) are for e-mail marketing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.vocabulary import CONSENT_CHANNELS, PURPOSES
from retentio.privacy._shared import iso, utc_now
from retentio.privacy.audit import record_access
from retentio.privacy.errors import ConsentError
from retentio.store.tables import ConsentText

__all__ = [
    "CONSENT_CHANNELS",
    "DEFAULT_TEXTS",
    "DEFAULT_TEXT_VERSION",
    "PURPOSES",
    "WITHDRAWAL_KEYWORDS",
    "ConsentTextInfo",
    "check_withdrawal_mention",
    "find_text",
    "list_texts",
    "normalise_language",
    "publish_default_texts",
    "publish_text",
]

#: Purposes whose texts must mention withdrawal (transactional messages need no consent).
_NEEDS_WITHDRAWAL = ("marketing", "surveys")

#: Phrases (lower case) of which a marketing text must contain one, per primary language.
WITHDRAWAL_KEYWORDS: dict[str, tuple[str, ...]] = {
    "da": ("trække dit samtykke tilbage", "trække samtykket tilbage", "tilbagekald", "afmeld"),
    "de": ("widerruf", "abmelden"),
    "en": ("withdraw", "unsubscribe", "opt out", "opt-out"),
    "nb": ("trekke tilbake", "trekke samtykket", "melde deg av"),
    "nl": ("intrekken", "trek je toestemming", "afmelden", "uitschrijven"),
    "sv": ("återkalla", "avregistrera", "avsluta prenumeration"),
}

DEFAULT_TEXT_VERSION = "retentio-1"
#: Bundled e-mail marketing consent texts, per language.
DEFAULT_TEXTS: dict[str, str] = {
    "da": (
        "Ja tak, jeg vil gerne modtage nyhedsbreve, tilbud og anbefalinger fra os på e-mail. "
        "Vi tilpasser indholdet efter dine køb og din aktivitet hos os. "
        "Du kan til enhver tid trække dit samtykke tilbage via linket i hver e-mail "
        "eller ved at kontakte os."
    ),
    "en": (
        "Yes, I would like to receive newsletters, offers and recommendations from us by email. "
        "We tailor them to your purchases and your activity with us. "
        "You can withdraw your consent at any time using the link in every email "
        "or by contacting us."
    ),
    "nl": (
        "Ja, ik wil graag nieuwsbrieven, aanbiedingen en aanbevelingen van ons per e-mail "
        "ontvangen. We stemmen ze af op je aankopen en je activiteit bij ons. "
        "Je kunt je toestemming altijd intrekken via de link in elke e-mail "
        "of door contact met ons op te nemen."
    ),
}


@dataclass(frozen=True)
class ConsentTextInfo:
    """A published consent text."""

    id: int
    version: str
    language: str
    channel: str
    purpose: str
    text: str
    published_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields above, ``published_at`` as ISO 8601."""
        return {**asdict(self), "published_at": iso(self.published_at)}


def normalise_language(language: str) -> str:
    """A BCP 47 tag trimmed and lower-cased, ``_`` read as ``-`` (``da_DK`` -> ``da-dk``)."""
    value = language.strip().lower().replace("_", "-")
    if not value or len(value) > 35 or not all(c.isalnum() or c == "-" for c in value):
        raise ConsentError(f"language: not a language tag: {language!r}")
    return value


def check_withdrawal_mention(language: str, text: str) -> None:
    """A ConsentError unless ``text`` says, in ``language``, that consent can be withdrawn."""
    primary = normalise_language(language).split("-")[0]
    keywords = WITHDRAWAL_KEYWORDS.get(primary)
    if keywords is None:
        known = ", ".join(sorted(WITHDRAWAL_KEYWORDS))
        raise ConsentError(
            f"language: no withdrawal phrases known for {language!r} (known: {known})"
        )
    lowered = text.lower()
    if not any(keyword in lowered for keyword in keywords):
        raise ConsentError(
            f"text: a consent text must say that consent can be withdrawn at any time; "
            f"the {primary} text contains none of: {', '.join(keywords)}"
        )


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConsentError(f"{field} must be one of {', '.join(choices)}, got {value!r}")


def _info(row: ConsentText) -> ConsentTextInfo:
    return ConsentTextInfo(
        row.id,
        row.version,
        row.language,
        row.channel,
        row.purpose,
        row.text,
        row.published_at,
    )


def publish_text(
    session: Session,
    *,
    version: str,
    language: str,
    channel: str,
    purpose: str,
    text: str,
    actor: str,
    now: datetime | None = None,
) -> ConsentTextInfo:
    """Publish a text version (committed); publishing the same wording again changes nothing."""
    language = normalise_language(language)
    version = version.strip()
    if not version or len(version) > 40:
        raise ConsentError("version must be 1 to 40 characters")
    _check_choice("channel", channel, CONSENT_CHANNELS)
    _check_choice("purpose", purpose, PURPOSES)
    if not text.strip():
        raise ConsentError("text must not be empty")
    if "\x00" in text or "\x00" in version:
        raise ConsentError("text and version must not contain NUL characters")
    if purpose in _NEEDS_WITHDRAWAL:
        check_withdrawal_mention(language, text)
    query = select(ConsentText).where(
        ConsentText.version == version, ConsentText.language == language
    )
    existing = session.scalars(query).one_or_none()
    if existing is not None:
        if (existing.channel, existing.purpose, existing.text) != (channel, purpose, text):
            raise ConsentError(
                f"version {version!r} ({language}) is already published with other wording; "
                "published texts never change: publish a new version"
            )
        return _info(existing)
    row = ConsentText(
        version=version,
        language=language,
        channel=channel,
        purpose=purpose,
        text=text,
        published_at=utc_now(now),
    )
    session.add(row)
    session.flush()
    details = {"version": version, "language": language, "channel": channel, "purpose": purpose}
    record_access(session, actor, "consent_text.publish", None, details)
    session.commit()
    return _info(row)


def publish_default_texts(session: Session, *, actor: str) -> list[ConsentTextInfo]:
    """Publish the bundled e-mail marketing texts (da, en, nl); idempotent."""
    return [
        publish_text(
            session,
            version=DEFAULT_TEXT_VERSION,
            language=language,
            channel="email",
            purpose="marketing",
            text=text,
            actor=actor,
        )
        for language, text in sorted(DEFAULT_TEXTS.items())
    ]


def list_texts(session: Session, *, language: str | None = None) -> list[ConsentTextInfo]:
    """The published texts, by language then version."""
    query = select(ConsentText).where(ConsentText.published_at.is_not(None))
    if language is not None:
        query = query.where(ConsentText.language == normalise_language(language))
    query = query.order_by(ConsentText.language, ConsentText.version)
    return [_info(row) for row in session.scalars(query)]


def find_text(session: Session, version: str, language: str) -> ConsentText:
    """The published text ``version`` in ``language``, else in its primary language (a
    customer's ``da-DK`` is shown the ``da`` text); a ConsentError when there is none."""
    tag = normalise_language(language)
    for wanted in dict.fromkeys((tag, tag.split("-")[0])):
        query = select(ConsentText).where(
            ConsentText.version == version,
            ConsentText.language == wanted,
            ConsentText.published_at.is_not(None),
        )
        row = session.scalars(query).one_or_none()
        if row is not None:
            return row
    raise ConsentError(
        f"text_version: no published consent text {version!r} in language {language!r}"
    )
