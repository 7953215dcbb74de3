"""The points ledger against a model of it (hypothesis, stateful): random sequences of orders,
partial refunds, redemptions, releases, expiry runs, repeated keys and jumps in time, on
SQLite and PostgreSQL.

The model is the rules written out as plainly as possible: lots of available points that
expire first in first out, pending points per order, refunds in proportion from pending
first. After every step the store must agree with it, the cached balances must be the sums of
the entries, and the balance never goes below 0 unless the programme lets refunds take it
there. Each example is a new member of one database (a migration per example would cost more
than the example).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from campaign_helpers import SECRET
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.ingest import ingest_customers
from retentio.loyalty import (
    InsufficientPoints,
    Programme,
    adjust_points,
    balance_of,
    earn_for_order,
    expire_points,
    order_points,
    parse_programme,
    redeem_points,
    refund_points,
    release_due,
    reverse_for_refund,
)
from retentio.loyalty.accounts import lot_expiry
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry
from retentio.store.tables import Customer

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
BY = "property"
_MEMBERS = itertools.count()


@dataclass
class ModelOrder:
    amount: int
    points: int
    releases_at: datetime
    refunded: int = 0  # refunded of the order so far
    pending_taken: int = 0  # points taken back from pending
    released: bool = False


@dataclass
class Model:
    """The ledger's rules, plainly."""

    programme: Programme
    orders: dict[str, ModelOrder] = field(default_factory=dict)
    lots: list[tuple[datetime, int]] = field(default_factory=list)  # (expires_at, points)
    debits: int = 0
    keys: dict[str, int] = field(default_factory=dict)  # redemption key -> points

    @property
    def available(self) -> int:
        return sum(points for _, points in self.lots) - self.debits

    @property
    def pending(self) -> int:
        return sum(o.points - o.pending_taken for o in self.orders.values() if not o.released)

    def release(self, now: datetime) -> None:
        for order in self.orders.values():
            if not order.released and order.releases_at <= now:
                order.released = True
                left = max(0, order.points - order.pending_taken)
                if left:
                    self.lots.append((_expiry(self.programme, order.releases_at), left))

    def refund(self, order: ModelOrder, refunded: int) -> None:
        """The share between what was refunded before and now; a capped part is forgiven."""
        refunded = min(refunded, order.amount)
        if refunded <= order.refunded:
            return
        back = refund_points(order.points, order.amount, refunded, 0) - refund_points(
            order.points, order.amount, order.refunded, 0
        )
        order.refunded = refunded
        still = 0 if order.released else max(0, order.points - order.pending_taken)
        from_pending = min(back, still)
        from_available = back - from_pending
        if self.programme.returns == "cap_at_balance":
            from_available = min(from_available, max(self.available, 0))
        order.pending_taken += from_pending
        self.debits += from_available

    def expire(self, now: datetime) -> int:
        due = sum(points for at, points in self.lots if at is not None and at <= now)
        expired = min(max(0, due - self.debits), max(self.available, 0))
        self.debits += expired
        return expired


def _expiry(programme: Programme, start: datetime) -> datetime:
    at = lot_expiry(programme, start)
    assert at is not None
    return at


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(self.engine)
        self.member = f"member-{next(_MEMBERS)}"
        ingest_customers(self.session, [{"external_id": self.member}], secret=SECRET, actor=BY)
        self.now = T0
        self.numbers = itertools.count(1)
        self.model: Model | None = None

    def teardown(self) -> None:
        self.session.close()

    @initialize(
        returns=st.sampled_from(["allow_negative", "cap_at_balance"]),
        pending=st.sampled_from([0, 7, 14]),
        months=st.sampled_from([1, 3, 12]),
    )
    def programme(self, returns: str, pending: int, months: int) -> None:
        self.model = Model(
            parse_programme(
                {"pending_days": pending, "expiry": {"months": months}, "returns": returns}
            )
        )

    @property
    def m(self) -> Model:
        assert self.model is not None
        return self.model

    # -- rules -------------------------------------------------------------------------

    @rule(amount=st.integers(0, 300_000))
    def order(self, amount: int) -> None:
        order_id = f"{self.member}-O{next(self.numbers)}"
        posted = earn_for_order(
            self.session, self.m.programme, customer=self.member, order_id=order_id,
            amount_minor=amount, currency="DKK", ordered_at=self.now, now=self.now,
            recorded_by=BY,
        )  # fmt: skip
        points = order_points(self.m.programme, amount, "DKK")
        assert (posted is None) == (points == 0)
        if points:
            pending = self.m.programme.pending_days
            releases = self.now + timedelta(days=pending)
            self.m.orders[order_id] = ModelOrder(amount, points, releases)
            if pending == 0:  # available at once, a lot of its own
                self.m.orders[order_id].released = True
                self.m.lots.append((_expiry(self.m.programme, self.now), points))

    @precondition(lambda self: self.model is not None and bool(self.model.orders))
    @rule(data=st.data(), share=st.sampled_from([0.25, 0.5, 1.0]))
    def refund(self, data: st.DataObject, share: float) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.m.orders)))
        order = self.m.orders[order_id]
        refunded = min(order.amount, order.refunded + round(order.amount * share))
        reverse_for_refund(
            self.session, self.m.programme, customer=self.member, order_id=order_id,
            amount_minor=order.amount, refunded_minor=refunded,
            refund_id=f"R{next(self.numbers)}", now=self.now, recorded_by=BY,
        )  # fmt: skip
        self.m.refund(order, refunded)

    @rule(points=st.integers(1, 2_000))
    def redeem(self, points: int) -> None:
        key = f"{self.member}-K{next(self.numbers)}"
        try:
            redeem_points(
                self.session, customer=self.member, points=points, key=key, now=self.now,
                recorded_by=BY,
            )  # fmt: skip
        except InsufficientPoints:
            assert self.m.available < points
            return
        assert self.m.available >= points
        self.m.debits += points
        self.m.keys[key] = points

    @precondition(lambda self: self.model is not None and bool(self.model.keys))
    @rule(data=st.data())
    def repeat_a_redemption(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.m.keys)))
        again = redeem_points(
            self.session, customer=self.member, points=self.m.keys[key], key=key, now=self.now,
            recorded_by=BY,
        )  # fmt: skip
        assert again.repeated

    @rule(points=st.integers(1, 500))
    def goodwill(self, points: int) -> None:
        adjust_points(
            self.session, self.m.programme, customer=self.member, points=points,
            key=f"{self.member}-A{next(self.numbers)}", reason="goodwill", now=self.now,
            recorded_by=BY,
        )  # fmt: skip
        self.m.lots.append((_expiry(self.m.programme, self.now), points))

    @rule(days=st.sampled_from([1, 6, 13, 14, 15, 31, 92, 200]))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def daily_run(self) -> None:
        release_due(self.session, self.m.programme, now=self.now)
        self.m.release(self.now)
        before = self.expired()
        expire_points(self.session, self.m.programme, now=self.now)  # every member's
        assert self.expired() - before == self.m.expire(self.now)

    def expired(self) -> int:
        """The points of this member's expire entries."""
        e = LoyaltyEntry
        total = self.session.scalar(
            select(func.coalesce(func.sum(-e.points), 0))
            .join(LoyaltyAccount, LoyaltyAccount.id == e.account_id)
            .join(Customer, Customer.id == LoyaltyAccount.customer_id)
            .where(Customer.external_id == self.member, e.kind == "expire")
        )
        self.session.rollback()
        return int(total or 0)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.model is None:
            return
        balance = balance_of(self.session, self.member)
        self.session.rollback()
        assert (balance.available, balance.pending) == (self.m.available, self.m.pending)
        if self.m.programme.returns == "cap_at_balance":
            assert balance.available >= 0
        assert balance.pending >= 0

    @invariant()
    def cached_balances_are_the_sums_of_the_entries(self) -> None:
        row = customer_by_external_id(self.session, self.member)
        assert row is not None
        account = self.session.scalars(
            select(LoyaltyAccount).where(LoyaltyAccount.customer_id == row.id)
        ).one_or_none()
        if account is not None:
            e = LoyaltyEntry
            sums = self.session.execute(
                select(func.sum(e.points), func.sum(e.pending_points)).where(
                    e.account_id == account.id
                )
            ).one()
            assert (account.available, account.pending) == (int(sums[0]), int(sums[1]))
        self.session.rollback()


@pytest.fixture()
def ledger_machine(migrated_engine: Engine) -> Any:
    LedgerMachine.engine = migrated_engine
    return LedgerMachine


def test_the_ledger_follows_its_rules(ledger_machine: Any, database_url: str) -> None:
    examples = 40 if database_url.startswith("sqlite") else 15
    run_state_machine_as_test(
        ledger_machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
