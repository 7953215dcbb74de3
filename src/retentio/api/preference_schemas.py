"""The stated preferences' request and response bodies (``/customers/{external_id}/preferences``).

The shapes here document the values; every value is also checked by
:func:`retentio.feedback.check_preference` (a known topic, a real date...), whose errors name
the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PreferenceChangeOut",
    "PreferenceHistoryOut",
    "PreferenceLinkOut",
    "PreferenceValues",
    "PreferencesIn",
    "PreferencesOut",
    "PreferencesUpdateOut",
    "StatedOut",
]


class PreferenceValues(BaseModel):
    """The preferences a customer states; a name left out stays as it is (PATCH) or is
    cleared (PUT), ``null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    topics: list[str] | None = Field(
        default=None, max_length=50, description="Topics of the shop's list (configured)."
    )
    favourite_categories: list[str] | None = Field(
        default=None, max_length=20, description="Up to 20 texts of 1-100 characters."
    )
    preferred_channel: Literal["email", "sms", "push", "in_app"] | None = None
    frequency: Literal["as_it_happens", "weekly", "monthly"] | None = Field(
        default=None,
        description="weekly / monthly: at most one marketing message in 7 / 30 days.",
    )
    birthday: str | None = Field(
        default=None,
        max_length=10,
        description="YYYY-MM-DD or MM-DD; also written to attributes.birthday (loyalty).",
        examples=["1990-04-01", "04-01"],
    )
    sizes: dict[str, str] | None = Field(
        default=None, description='Size by kind, e.g. {"shoes": "39", "tops": "M"}.'
    )
    snooze_until: str | None = Field(
        default=None,
        max_length=10,
        description="YYYY-MM-DD: no marketing until the end of that day (customer's clock).",
        examples=["2027-01-02"],
    )


class PreferencesIn(BaseModel):
    """A PUT (all the stated preferences) or PATCH (some) of a customer's preferences."""

    model_config = ConfigDict(extra="forbid")

    preferences: PreferenceValues
    source: Literal["api", "import", "survey"] = Field(
        default="api", description="Where the customer stated them."
    )


class StatedOut(BaseModel):
    """Where and when a preference was last stated."""

    source: str
    updated_at: datetime


class PreferencesOut(BaseModel):
    """A customer's stated preferences as they stand."""

    customer: str
    preferences: dict[str, Any]
    stated: dict[str, StatedOut]


class PreferencesUpdateOut(PreferencesOut):
    """The preferences after a change, and the names that changed (none: nothing recorded)."""

    changed: list[str]


class PreferenceChangeOut(BaseModel):
    """One recorded change; a ``null`` value: the preference was cleared."""

    name: str
    value: Any
    source: str
    recorded_at: datetime
    recorded_by: str


class PreferenceHistoryOut(BaseModel):
    """The latest changes, newest first."""

    customer: str
    items: list[PreferenceChangeOut]


class PreferenceLinkOut(BaseModel):
    """A signed link to the customer's preference centre."""

    token: str
    url: str
    expires_at: datetime
