"""The referral API's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AddressIn", "ReferralCodeOut", "ReferralIn", "ReferralOut"]

#: PostgreSQL text cannot hold NUL: refused here with the field's name, not by the database.
_NO_NUL = r"^[^\x00]*$"


class AddressIn(BaseModel):
    """A postal address in parts (compared loosely: case, accents and punctuation ignored)."""

    model_config = ConfigDict(extra="forbid")

    line1: str | None = Field(default=None, max_length=200, pattern=_NO_NUL)
    line2: str | None = Field(default=None, max_length=200, pattern=_NO_NUL)
    postcode: str | None = Field(default=None, max_length=20, pattern=_NO_NUL)
    city: str | None = Field(default=None, max_length=100, pattern=_NO_NUL)
    country: str | None = Field(default=None, max_length=100, pattern=_NO_NUL)


class ReferralIn(BaseModel):
    """A friend referred with a member's code; checked for fraud, once per key."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=_NO_NUL, examples=["K7QX3MHD"])
    friend: str = Field(
        min_length=1, max_length=200, pattern=_NO_NUL, description="The friend's external id."
    )
    email: str | None = Field(
        default=None, max_length=320, pattern=_NO_NUL, description="As the friend gave it."
    )
    phone: str | None = Field(default=None, max_length=40, pattern=_NO_NUL)
    address: Annotated[str, Field(max_length=500, pattern=_NO_NUL)] | AddressIn | None = Field(
        default=None, description="A text, or its parts."
    )
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=250,
        pattern=_NO_NUL,
        description="Once per key; default: the Idempotency-Key.",
    )


class ReferralOut(BaseModel):
    id: int
    referrer: str = Field(description="The referring member's external id.")
    friend: str
    status: str = Field(description="pending, flagged (held for review), completed or rejected.")
    flags: list[str] = Field(description="Why it was held: self, same_email, same_phone, ...")
    created_at: datetime
    order_id: str | None = Field(description="The friend's first qualifying order, once seen.")
    qualifies_at: datetime | None = Field(description="When that order's return window ends.")
    completed_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    repeated: bool = Field(description="True when the key was used before: nothing changed.")


class ReferralCodeOut(BaseModel):
    code: str = Field(description="The member's own referral code.")
    link: str | None = Field(description="The programme's referral link with the code.")
