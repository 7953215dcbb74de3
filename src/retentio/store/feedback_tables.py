"""First- and zero-party data: surveys (NPS, CSAT, custom questions) and the answers customers
give, and the preferences they state themselves (topics, favourite categories, preferred
channel and frequency, birthday, sizes, a snooze of marketing), each with its source and time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.campaign_tables import BigId
from retentio.store.tables import Base

__all__ = ["CustomerPreference", "PreferenceEvent", "Survey", "SurveyResponse"]


class Survey(Base):
    """A survey: ``kind`` nps (0-10), csat (1-5) or custom, its questions and texts per locale,
    and how often one person may be asked (``throttle_days``)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    definition: Mapped[dict[str, Any]]
    throttle_days: Mapped[int] = mapped_column(Integer, default=90)
    #: active or archived.
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SurveyResponse(Base):
    """A customer's answer to a survey: the score (NPS 0-10, CSAT 1-5), answers to custom
    questions, a comment; from where (a link, a campaign's message, the API, an embed)."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        Index("ix_survey_responses_survey", "survey_id", "responded_at"),
        Index("ix_survey_responses_customer", "customer_id", "responded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    score: Mapped[int | None] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    #: The message that asked, when a campaign or journey did.
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    #: Once per key (a repeated submission changes nothing).
    key: Mapped[str] = mapped_column(String(300), unique=True)
    responded_at: Mapped[datetime]


class CustomerPreference(Base):
    """A preference the customer stated, as it stands now (``preference_events`` keeps every
    change): ``value`` is JSON (a list of topics, a channel, a date, sizes by kind)."""

    __tablename__ = "customer_preferences"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    #: Where it was stated: preference_centre, survey, api, import.
    source: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime]


class PreferenceEvent(Base):
    """One change of a stated preference (append-only): what, from where, when, by whom."""

    __tablename__ = "preference_events"
    __table_args__ = (Index("ix_preference_events_customer", "customer_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[Any] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(200))
