"""The backfill's plan, computed from the orders alone: each replayed order's earn entry (its
points, pending points, release and expiry), the reverses of its refunds, what a new member's
lots would expire now, and the highest tier each member reached over the qualifying window;
pure, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from retentio.loyalty._backfill_input import Orders, per_member
from retentio.loyalty._backfill_time import (
    DAY,
    Ints,
    add_months_us,
    held_until,
    micros,
    window_start,
)
from retentio.loyalty.programme import Programme, refund_points
from retentio.loyalty.tiers import TierRules

__all__ = ["Plan", "Tiers", "best_tiers", "expiring", "plan_entries"]


@dataclass(slots=True)
class Plan:
    """The replayed orders' entries: one earn each (points, pending points, when they are
    released or expire: -1 for none) and a reverse for each order ``back`` indexes."""

    earn_points: Ints
    earn_pending: Ints
    releases: Ints
    expires: Ints
    back: Ints
    early_back: Ints  # pending points the reverse takes back
    late_back: Ints  # available points it takes back
    spent_back: Ints  # the refunded part of the order's amount (minor units)


def plan_entries(orders: Orders, programme: Programme, now_us: int, m: Ints, before: Ints) -> Plan:
    """The entries; ``before``: the members' available points before the backfill."""
    release = orders.at + programme.pending_days * DAY
    pending = release > now_us  # still inside the return window: the release job's
    taken, early = np.zeros_like(orders.points), np.zeros_like(orders.points)
    for i in np.flatnonzero(orders.refunded > 0).tolist():  # the exception: one call each
        paid = int(orders.points[i]), int(orders.minor[i])
        taken[i] = refund_points(*paid, int(orders.refunded[i]), 0)
        early[i] = refund_points(*paid, int(orders.early[i]), 0)
    back = np.flatnonzero(taken > 0)
    earn_points = np.where(pending, 0, orders.points - early)
    late = (taken - early)[back]
    if programme.returns == "cap_at_balance" and (before < 0).any():
        # Only a member below 0 already can reach the cap: history has no redemptions.
        room = np.maximum(before + per_member(m, earn_points, before.size), 0)
        for j in np.argsort(orders.refund_at[back], kind="stable").tolist():
            member = m[back[j]]
            if before[member] < 0:
                late[j] = min(late[j], room[member])
                room[member] -= late[j]
    expires = np.full(orders.at.size, -1, dtype=np.int64)
    if programme.expiry_months is not None:
        expires[~pending] = add_months_us(
            release[~pending], programme.expiry_months, programme.zone
        )
    amount = orders.minor[back]
    return Plan(
        earn_points=earn_points,
        earn_pending=np.where(pending, orders.points, early),
        releases=np.where(pending, release, -1),
        expires=expires,
        back=back,
        early_back=early[back],
        late_back=late,
        spent_back=amount * np.minimum(orders.refunded[back], amount) // amount,
    )


def expiring(
    programme: Programme, now: datetime, m: Ints, plan: Plan, available: Ints, last: Ints
) -> Ints:
    """Per member, the points ``expire_points`` would expire now if the member had only these
    entries: per lot, what the lots due by now hold beyond the debits (at most the balance);
    on inactivity, the whole balance."""
    n = available.size
    if programme.expiry_months is not None:
        due = (plan.expires >= 0) & (plan.expires <= micros(now)) & (plan.earn_points > 0)
        lots = per_member(m[due], plan.earn_points[due], n)
        amount = lots - per_member(m[plan.back], plan.late_back, n)
        return np.asarray(np.maximum(np.minimum(amount, available), 0), dtype=np.int64)
    if programme.inactive_months is not None:  # N months after the latest order, to the day
        since = add_months_us(last, programme.inactive_months, programme.zone) <= micros(now)
        return np.where(since, np.maximum(available, 0), 0)
    return np.zeros(n, dtype=np.int64)


def _window_sums(rm: Ints, rt: Ints, rv: Ints, m: Ints, start: Ints, end: Ints) -> Ints:
    """For each (member m, start, end): the sum of m's record values ``rv`` timed in [start,
    end] (end is the order's own instant: the window ends just after it). Times are ranked,
    so the sorted key (member, time rank) fits an int64."""
    times = np.unique(rt)
    width = times.size + 1
    keys = rm * width + np.searchsorted(times, rt)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    sums = np.concatenate(([0], np.cumsum(rv[order])))
    top = np.searchsorted(keys, m * width + np.searchsorted(times, end, "right") - 1, "right")
    bottom = np.searchsorted(keys, m * width + np.searchsorted(times, start, "left"), "left")
    return np.asarray(sums[top] - sums[bottom], dtype=np.int64)


@dataclass(slots=True)
class Tiers:
    """Per member: the rank of the tier reached (0: none), since and until when, the value."""

    rank: Ints
    since: Ints
    until: Ints
    value: Ints


def best_tiers(
    programme: Programme, rules: TierRules, now_us: int, records: tuple[Ints, Ints, Ints],
    candidates: tuple[Ints, Ints], members: int,
) -> Tiers:  # fmt: skip
    """The highest tier a still-held earn (``candidates``: member, µs) reached over the window
    ending at it, from the qualifying ``records`` (member, µs, value): since the first such
    earn, until the last one's tier ends."""
    zone = programme.zone
    found = Tiers(*(np.zeros(members, dtype=np.int64) for _ in range(4)))
    ends = held_until(rules, candidates[1], zone)
    held = ends + rules.grace_days * DAY > now_us  # not reviewed (moved down) by now
    m, at, ends = candidates[0][held], candidates[1][held], ends[held]
    if m.size == 0:
        return found
    reached = _window_sums(*records, m, window_start(rules, at, zone), at)
    levels = np.searchsorted([t.threshold for t in rules.levels], reached, side="right")
    order = np.lexsort((at, levels, m))
    m, at, ends, reached, levels = m[order], at[order], ends[order], reached[order], levels[order]
    last = np.flatnonzero(np.r_[m[1:] != m[:-1], True])
    blocks = np.flatnonzero(np.r_[True, (m[1:] != m[:-1]) | (levels[1:] != levels[:-1])])
    first = blocks[np.searchsorted(blocks, last, side="right") - 1]
    who = m[last]
    found.rank[who], found.since[who], found.until[who] = levels[last], at[first], ends[last]
    found.value[who] = reached[last]
    return found
