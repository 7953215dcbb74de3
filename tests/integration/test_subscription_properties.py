"""Subscriptions under random sequences of actions and time jumps (hypothesis, stateful), on
SQLite and PostgreSQL: no renewal while paused, no change a state does not allow (refused,
nothing changed), a repeated key changes nothing, one order per cycle, the next order always
on the schedule at the renewal time, across daylight-saving changes and month ends.

Each example is a new subscription of one database (a migration per example would cost more
than the example).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers
from retentio.store.subscription_tables import Subscription, SubscriptionOrder
from retentio.subscriptions import (
    Cadence,
    Policy,
    SubscriptionStateError,
    cancel_subscription,
    change_subscription,
    create_subscription,
    get_subscription,
    order_now,
    pause_subscription,
    renew_due,
    resume_subscription,
    skip_order,
)
from retentio.subscriptions.schedule import renewal_instant

POLICY = Policy()
CPH = ZoneInfo("Europe/Copenhagen")
#: Just before the spring change, on the last day of a long month.
T0 = datetime(2027, 3, 27, 20, tzinfo=UTC)
BY = "property"
_PEOPLE = itertools.count()


class SubscriptionMachine(RuleBasedStateMachine):
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(self.engine)
        self.person = f"subscriber-{next(_PEOPLE)}"
        ingest_customers(
            self.session,
            [{"external_id": self.person, "time_zone": "Europe/Copenhagen"}],
            secret=SECRET,
            actor=BY,
        )
        self.now = T0
        self.keys = itertools.count()
        self.sub = 0
        self.applied: list[tuple[str, str]] = []  # (action, key) that changed something

    def teardown(self) -> None:
        self.session.close()

    @initialize(
        cadence=st.sampled_from([Cadence("month", 1), Cadence("week", 2), Cadence("day", 10)]),
        first=st.sampled_from([date(2027, 3, 31), date(2027, 4, 30), date(2027, 3, 28)]),
    )
    def subscribe(self, cadence: Cadence, first: date) -> None:
        made = create_subscription(
            self.session,
            POLICY,
            customer=self.person,
            cadence=cadence,
            currency="DKK",
            items=[{"product": "BEANS", "quantity": 1, "price": "100.00"}],
            first_order_on=first,
            now=self.now,
            actor=BY,
        )
        self.sub = made.body["id"]

    # -- helpers ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        view = get_subscription(self.session, self.sub).to_dict()
        self.session.rollback()
        return view

    def attempt(self, action: str, call: Any) -> None:
        """Run ``call(key)``; a refusal must change nothing; the key is kept for a repeat."""
        before = self.state()
        key = f"{action}-{next(self.keys)}"
        try:
            view = call(key)
        except (SubscriptionStateError, DataError):
            self.session.rollback()
            assert self.state() == before  # refused: nothing changed
            return
        if not view.repeated:
            self.applied.append((action, key))

    def today(self) -> date:
        return self.now.astimezone(CPH).date()

    # -- rules -----------------------------------------------------------------------------

    @rule(cycles=st.integers(1, 3), open_ended=st.booleans())
    def pause(self, cycles: int, open_ended: bool) -> None:
        self.attempt(
            "pause",
            lambda key: pause_subscription(
                self.session,
                POLICY,
                self.sub,
                cycles=None if open_ended else cycles,
                key=key,
                now=self.now,
                actor=BY,
            ),
        )

    @rule(days=st.integers(0, 20))
    def resume(self, days: int) -> None:
        on = self.today() + timedelta(days=days) if days else None
        self.attempt(
            "resume",
            lambda key: resume_subscription(
                self.session, POLICY, self.sub, on=on, key=key, now=self.now, actor=BY
            ),
        )

    @rule()
    def skip(self) -> None:
        self.attempt(
            "skip",
            lambda key: skip_order(self.session, POLICY, self.sub, key=key, now=self.now, actor=BY),
        )

    @rule(days=st.integers(1, 60))
    def move_next(self, days: int) -> None:
        on = self.today() + timedelta(days=days)
        self.attempt(
            "change",
            lambda key: change_subscription(
                self.session, POLICY, self.sub, next_order_on=on, key=key, now=self.now, actor=BY
            ),
        )

    @rule()
    def order_now(self) -> None:
        self.attempt(
            "order_now",
            lambda key: order_now(self.session, POLICY, self.sub, key=key, now=self.now, actor=BY),
        )

    @rule(confirm=st.booleans())
    def cancel(self, confirm: bool) -> None:
        self.attempt(
            "cancel",
            lambda key: (
                cancel_subscription(
                    self.session,
                    POLICY,
                    self.sub,
                    reason="not_now",
                    confirm=confirm,
                    key=key,
                    now=self.now,
                    actor=BY,
                ).subscription
            ),
        )

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def repeat_a_key(self, data: st.DataObject) -> None:
        """The same request again (same key): nothing changes."""
        action, key = data.draw(st.sampled_from(self.applied))
        before = self.state()
        calls = {
            "pause": lambda: pause_subscription(
                self.session, POLICY, self.sub, key=key, now=self.now, actor=BY
            ),
            "resume": lambda: resume_subscription(
                self.session, POLICY, self.sub, key=key, now=self.now, actor=BY
            ),
            "skip": lambda: skip_order(
                self.session, POLICY, self.sub, key=key, now=self.now, actor=BY
            ),
            "order_now": lambda: order_now(
                self.session, POLICY, self.sub, key=key, now=self.now, actor=BY
            ),
        }
        if action not in calls:
            return
        view = calls[action]()
        assert view.repeated
        assert self.state() == before

    @rule(hours=st.sampled_from([1, 6, 23, 25, 24 * 7, 24 * 31]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule()
    def renewal_run(self) -> None:
        before = self.state()
        orders_before = self.orders()
        renew_due(self.session, POLICY, now=self.now)
        after = self.state()
        made = self.orders() - orders_before
        if before["status"] != "active" or (
            before["pause_from"] is not None and before["pause_from"] <= self.today().isoformat()
        ):
            assert made == 0, f"renewed a {before['status']} subscription"
        assert made <= 1  # never several orders at once
        if after["status"] == "active":  # the next one is ahead
            row = self.session.get_one(Subscription, self.sub)
            assert row.next_order_at > self.now
            self.session.rollback()

    def orders(self) -> int:
        count = self.session.scalar(
            select(func.count()).where(SubscriptionOrder.subscription_id == self.sub)
        )
        self.session.rollback()
        return int(count or 0)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def one_order_per_cycle_and_the_next_on_its_schedule(self) -> None:
        if not self.sub:
            return
        row = self.session.get_one(Subscription, self.sub)
        cycles = self.session.scalars(
            select(SubscriptionOrder.cycle).where(SubscriptionOrder.subscription_id == self.sub)
        ).all()
        assert sorted(cycles) == list(range(1, row.cycle + 1))
        cadence = Cadence(row.cadence_unit, row.cadence_count)
        assert cadence.first_on_or_after(row.anchor_on, row.next_order_on) == row.next_order_on
        expected = renewal_instant(row.next_order_on, POLICY.renewal_time, CPH)
        assert row.next_order_at == expected
        if row.status == "paused":
            assert row.pause_until is not None
        assert row.status in ("active", "paused", "cancelled")
        self.session.rollback()


def test_subscriptions_follow_their_rules(migrated_engine: Engine, database_url: str) -> None:
    SubscriptionMachine.engine = migrated_engine
    examples = 40 if database_url.startswith("sqlite") else 12
    run_state_machine_as_test(
        SubscriptionMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
