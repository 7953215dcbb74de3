"""The rewards catalogue: what points buy, at what cost, how often, and the coupon code a
redemption issues. Pure: no database.

::

    rewards:
      - {id: 50-off, kind: amount_off, amount: 50, points: 500, limit: {count: 1, per: month}}
      - {id: 10-pct, kind: percent_off, percent: 10, points: 800, tier: Silver}
      - {id: free-shipping, kind: free_shipping, points: 300}
      - {id: free-mug, kind: free_product, product: MUG-1, points: 1500, valid_days: 30}
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from retentio.core.money import minor_unit_exponent
from retentio.loyalty._parse import (
    Limit,
    ProgrammeError,
    limit,
    mapping,
    name,
    number,
    unknown,
    whole,
)

__all__ = ["CODE_ALPHABET", "REWARD_KINDS", "Reward", "coupon_code", "parse_rewards"]

REWARD_KINDS = ("amount_off", "percent_off", "free_shipping", "free_product")
#: Coupon codes avoid letters and digits people confuse (0/O, 1/I/L, 5/S, 8/B, 2/Z).
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
_KEYS = {
    "id",
    "name",
    "kind",
    "amount",
    "percent",
    "product",
    "points",
    "limit",
    "tier",
    "valid_days",
    "minimum_order",
}


@dataclass(frozen=True, slots=True)
class Reward:
    """A reward of the catalogue (see the module's docstring)."""

    id: str
    name: str
    kind: str
    points: int
    amount_minor: int | None = None
    percent: Decimal | None = None
    product: str | None = None
    limit: Limit | None = None
    tier: str | None = None
    valid_days: int = 90
    minimum_order_minor: int = 0

    def value(self, currency: str) -> dict[str, Any]:
        """What the shop applies for the coupon (money in major units, as text)."""
        found: dict[str, Any] = {"kind": self.kind}
        if self.amount_minor is not None:
            exponent = minor_unit_exponent(currency)
            found["amount"] = str(Decimal(self.amount_minor).scaleb(-exponent))
            found["currency"] = currency
        if self.percent is not None:
            found["percent"] = str(self.percent)
        if self.product is not None:
            found["product"] = self.product
        if self.minimum_order_minor:
            exponent = minor_unit_exponent(currency)
            found["minimum_order"] = str(Decimal(self.minimum_order_minor).scaleb(-exponent))
        return found


def coupon_code(prefix: str = "LOY") -> str:
    """A new coupon code: the prefix and 12 characters from a CSPRNG (about 56 bits)."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{prefix}-{body[:4]}-{body[4:8]}-{body[8:]}"


def _title(reward: Mapping[str, Any], kind: str, currency: str) -> str:
    if kind == "amount_off":
        return f"{reward['amount']} {currency} off"
    if kind == "percent_off":
        return f"{reward['percent']}% off"
    if kind == "free_shipping":
        return "Free shipping"
    return f"Free {reward['product']}"


def parse_rewards(data: Any, currency: str, tiers: Collection[str]) -> tuple[Reward, ...]:
    """``rewards``: a list; ids are unique, a ``tier`` must be one of ``tiers``."""
    if not isinstance(data, list):
        raise ProgrammeError("rewards", "a list of {id, kind, points, ...}")
    scale = 10 ** minor_unit_exponent(currency)
    found: list[Reward] = []
    for n, item in enumerate(data):
        path = f"rewards[{n}]"
        reward = mapping(item, path, "id, kind, points, ...")
        unknown(reward, _KEYS, f"{path}.")
        for required in ("id", "kind", "points"):
            if required not in reward:
                raise ProgrammeError(f"{path}.{required}", "required")
        ident = name(reward["id"], f"{path}.id")
        if any(r.id == ident for r in found):
            raise ProgrammeError(f"{path}.id", f"{ident!r} is used twice")
        kind = reward["kind"]
        if kind not in REWARD_KINDS:
            raise ProgrammeError(f"{path}.kind", f"one of {', '.join(REWARD_KINDS)}")
        needs = {"amount_off": "amount", "percent_off": "percent", "free_product": "product"}
        wanted = needs.get(str(kind))
        if wanted is not None and wanted not in reward:
            raise ProgrammeError(f"{path}.{wanted}", f"required for {kind}")
        for other in set(needs.values()) - {wanted}:
            if other in reward:
                raise ProgrammeError(f"{path}.{other}", f"not used by {kind}")
        amount = reward.get("amount")
        percent = reward.get("percent")
        tier = reward.get("tier")
        if tier is not None and tier not in tiers:
            raise ProgrammeError(f"{path}.tier", "not a level of tiers.levels")
        title = reward.get("name") or _title(reward, str(kind), currency)
        if not isinstance(title, str) or len(title) > 200:
            raise ProgrammeError(f"{path}.name", "a text of up to 200 characters")
        minimum = number(reward.get("minimum_order", 0), f"{path}.minimum_order", low=0, high=1e9)
        found.append(
            Reward(
                id=ident,
                name=title,
                kind=str(kind),
                points=whole(reward["points"], f"{path}.points", low=1, high=100_000_000),
                amount_minor=None
                if amount is None
                else int(number(amount, f"{path}.amount", low=0.01, high=1e9) * scale),
                percent=None
                if percent is None
                else number(percent, f"{path}.percent", low=0.01, high=100),
                product=None
                if reward.get("product") is None
                else name(reward["product"], f"{path}.product", length=200),
                limit=limit(reward.get("limit"), f"{path}.limit"),
                tier=None if tier is None else str(tier),
                valid_days=whole(
                    reward.get("valid_days", 90), f"{path}.valid_days", low=1, high=3650
                ),
                minimum_order_minor=int(minimum * scale),
            )
        )
    return tuple(found)
