"""The survey API's bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from retentio.ingest.models import NO_NUL

__all__ = [
    "RecordedOut",
    "ResponseIn",
    "ResponsePage",
    "SurveyIn",
    "SurveyLinkOut",
    "SurveyOut",
    "SurveyReportOut",
]

_TEXT = "A text, or a mapping of locales to texts ({en: ..., da: ...})."


class SurveyIn(BaseModel):
    """A survey definition (docs/feedback.md): checked as a whole, errors name the path."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, examples=["nps-2026"])
    kind: Literal["nps", "csat", "custom"]
    description: str | None = Field(default=None, max_length=1000)
    default_locale: str | None = Field(default=None, examples=["en"])
    throttle_days: int | None = Field(default=None, ge=0, le=3650, description="Default 90.")
    question: str | dict[str, str] | None = Field(default=None, description=_TEXT)
    low: str | dict[str, str] | None = Field(default=None, description=_TEXT)
    high: str | dict[str, str] | None = Field(default=None, description=_TEXT)
    comment: str | dict[str, str] | bool | None = Field(
        default=None, description=f"{_TEXT} false: no comment field."
    )
    thanks: str | dict[str, str] | None = Field(default=None, description=_TEXT)
    questions: list[dict[str, Any]] | None = Field(
        default=None, description="Questions: {id, type: scale|choice|text, text, ...}."
    )


class SurveyOut(BaseModel):
    """A stored survey."""

    id: int
    name: str
    kind: str
    description: str
    status: str = Field(examples=["active"], description="active or archived")
    throttle_days: int
    default_locale: str
    questions: list[str] = Field(description="The ids of its questions besides the score.")
    definition: dict[str, Any] = Field(description="The definition as saved.")
    created_at: datetime
    updated_at: datetime


class ResponseIn(BaseModel):
    """A customer's answer: the score (NPS 0-10, CSAT 1-5, none for a custom survey), the
    answers to its questions by id, an optional comment."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, description="The customer's external id.", pattern=NO_NUL)
    score: StrictInt | None = Field(default=None, examples=[9])
    answers: dict[str, Any] = Field(default_factory=dict, max_length=50)
    comment: str | None = Field(default=None, max_length=2000)
    source: Literal["api", "embed", "import"] = "api"
    key: str | None = Field(
        default=None,
        max_length=250,
        pattern=NO_NUL,
        description="Once per key and customer; default: the Idempotency-Key.",
    )


class RecordedOut(BaseModel):
    """A stored answer; ``repeated`` when its key was seen before (the first answer)."""

    id: int
    survey: str
    kind: str
    customer: str
    score: int | None
    category: str | None = Field(description="NPS: promoter, passive or detractor.")
    satisfied: bool | None = Field(description="CSAT: a score of 4 or 5.")
    answers: dict[str, Any]
    comment: str | None
    source: str
    delivery_id: int | None
    responded_at: datetime
    repeated: bool


class ResponsePage(BaseModel):
    """A page of answers; ``next_cursor`` is null on the last page."""

    items: list[RecordedOut]
    next_cursor: str | None


class SurveyReportOut(BaseModel):
    """NPS or CSAT now and per period (or, for a custom survey, answers per period), and
    how each question was answered."""

    survey: str
    kind: str
    period: str
    start: str | None
    end: str | None
    summary: dict[str, Any]
    over_time: list[dict[str, Any]]
    questions: dict[str, Any] | None = None


class SurveyLinkOut(BaseModel):
    """A signed link where the customer answers, and one per score (one click preselects)."""

    url: str
    score_urls: dict[str, str]
    expires_at: datetime
