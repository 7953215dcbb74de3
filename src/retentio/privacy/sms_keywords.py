"""Answers to the keywords a person texts back (TRUST.md, "Sending"): STOP and its synonyms put
the number on the suppression list with one confirmation; START lifts that again; HELP says
who is texting and how to stop.

- **STOP**, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT (and the Danish and Dutch AFMELD,
  AFMELDEN): the number goes on the suppression list (reason ``sms_stop``), which every SMS
  checks, marketing or not, whatever the consent ledger says. The confirmation is sent once: a
  second STOP from a number already stopped gets no answer.
- **START**, UNSTOP: a stop of the number's own (``sms_stop``) is lifted, and the number gets
  what it got before, with a confirmation. A suppression for another reason (a hard bounce,
  an erasure, one made by the shop) stays, and START gets no answer then.
- **HELP**, INFO (HJÆLP, HULP): who is texting and how to stop.
- Anything else: no action and no answer.

The keyword is the message's first word, in any case; the answer is in the language of the
number's country (Danish for +45, Dutch for +31 and +32, else English). The consent ledger is
not changed: the number, not a customer, said STOP, and a number can belong to no customer,
or to several. Only the number's keyed HMAC is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.privacy.addresses import address_hmac, normalise_phone
from retentio.privacy.suppression import add_suppression
from retentio.store.tables import Suppression

__all__ = ["KEYWORDS", "KeywordAnswer", "answer_keyword"]

Action = Literal["stop", "start", "help", "none"]
#: The keywords by action (upper case).
KEYWORDS: dict[Action, frozenset[str]] = {
    "stop": frozenset(
        {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "AFMELD", "AFMELDEN"}
    ),
    "start": frozenset({"START", "UNSTOP"}),
    "help": frozenset({"HELP", "INFO", "HJÆLP", "HJAELP", "HULP"}),
}
STOP_REASON = "sms_stop"
_ANSWERS: dict[str, dict[str, str]] = {
    "stop": {
        "da": "Du modtager ikke flere sms'er fra {sender}. Svar START for at få dem igen.",
        "nl": "Je ontvangt geen sms'jes meer van {sender}. Antwoord START om ze weer te krijgen.",
        "en": "You will get no more texts from {sender}. Reply START to get them again.",
    },
    "start": {
        "da": "Du modtager igen sms'er fra {sender}. Svar STOP for at afmelde.",
        "nl": "Je ontvangt weer sms'jes van {sender}. Antwoord STOP om je af te melden.",
        "en": "You will get texts from {sender} again. Reply STOP to opt out.",
    },
    "help": {
        "da": "{sender}: tilbud og nyheder på sms. Svar STOP for at afmelde, START for at "
        "tilmelde igen.",
        "nl": "{sender}: aanbiedingen en nieuws per sms. Antwoord STOP om je af te melden, "
        "START om je weer aan te melden.",
        "en": "{sender}: offers and news by text. Reply STOP to opt out, START to opt in again.",
    },
}
_LANGUAGE_BY_PREFIX = {"+45": "da", "+31": "nl", "+32": "nl"}


@dataclass(frozen=True, slots=True)
class KeywordAnswer:
    """What a text did (``action``) and what to text back (``reply``; None: nothing)."""

    action: Action
    reply: str | None
    number: str

    def to_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "reply": self.reply}


def _keyword(text: str) -> Action:
    words = text.strip().split(maxsplit=1)
    word = words[0].strip(".!,;:").upper() if words else ""
    for action, keywords in KEYWORDS.items():
        if word in keywords:
            return action
    return "none"


def _number(sender: str) -> str:
    """The sender in E.164; providers send it with or without the +."""
    raw = sender.strip()
    if raw and raw[0].isdigit():
        raw = "+" + raw
    try:
        return normalise_phone(raw)
    except DataError:
        raise DataError(f"from: not a phone number in international form: {sender!r}") from None


def _reply(action: Action, number: str, sender: str) -> str:
    language = next(
        (lang for prefix, lang in _LANGUAGE_BY_PREFIX.items() if number.startswith(prefix)), "en"
    )
    return _ANSWERS[action][language].format(sender=sender)


def answer_keyword(
    session: Session, secret: bytes, *, sender: str, text: str, shop: str
) -> KeywordAnswer:
    """Act on a text from ``sender`` (a phone number) and say what to answer (committed).
    ``shop`` is how the answers name the sender of the texts (``RETENTIO_SMS_FROM``)."""
    if len(text) > 1600:
        raise DataError("text: at most 1,600 characters")
    number = _number(sender)
    action = _keyword(text)
    if action == "none":
        return KeywordAnswer("none", None, number)
    digest = address_hmac(secret, "sms", number)
    if action == "help":
        return KeywordAnswer("help", _reply("help", number, shop), number)
    if action == "stop":
        if not add_suppression(session, "sms", digest, STOP_REASON):
            return KeywordAnswer("stop", None, number)  # stopped already: one confirmation
        try:
            session.commit()
        except IntegrityError:  # the same STOP at the same moment: it confirms once
            session.rollback()
            return KeywordAnswer("stop", None, number)
        return KeywordAnswer("stop", _reply("stop", number, shop), number)
    s = Suppression.__table__.c
    mine = (s.channel == "sms") & (s.address_hmac == digest)
    session.execute(delete(Suppression).where(mine, s.reason == STOP_REASON))
    other = session.execute(select(s.reason).where(mine)).first()
    session.commit()
    if other is not None:  # suppressed for another reason: texts do not resume
        return KeywordAnswer("start", None, number)
    return KeywordAnswer("start", _reply("start", number, shop), number)
