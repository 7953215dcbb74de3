"""Journeys on SQLite and PostgreSQL: entering by segment or event, waiting, branching,
splitting, the goal ending a win-back, re-entry rules, pausing, and the messages sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from campaign_helpers import NOON, SECRET, add_shop, make_worker
from smtp_helpers import Sink
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.campaigns import (
    JourneyError,
    advance_journeys,
    find_journey,
    list_campaigns,
    save_journey,
    set_journey_status,
)
from retentio.campaigns.journey_templates import TEMPLATES, journey_template
from retentio.core.clock import FixedClock
from retentio.ingest import ingest_events, ingest_orders
from retentio.segments import refresh_segment, save_segment
from retentio.store.campaign_tables import Delivery, JourneyEntry
from retentio.store.tables import Customer

PEOPLE = [{"external_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(6)]


def message(text: str) -> dict[str, Any]:
    return {"en": {"subject": text, "text": f"{text}, {{{{ first_name | default('you') }}}}"}}


def winback(**changes: Any) -> dict[str, Any]:
    journey: dict[str, Any] = {
        "name": "winback",
        "trigger": {"segment": "quiet"},
        "goal": "order",
        "holdout": 0,
        "quiet_hours": False,
        "steps": [
            {"id": "hello", "send": {"message": message("We miss you")}},
            {"wait": {"days": 3}},
            {"branch": {"if": {"ordered_since_entry": True}, "goto": "end"}},
            {"id": "reminder", "send": {"message": message("Still here")}},
            {"id": "end", "exit": {}},
        ],
    }
    return journey | changes


def statuses(engine: Engine) -> dict[str, str]:
    query = select(Customer.external_id, JourneyEntry.status).join(
        Customer, Customer.id == JourneyEntry.customer_id
    )
    with Session(engine) as session:
        return dict(session.execute(query).all())


def subjects(handler: Sink) -> list[tuple[str, str]]:
    return sorted((str(m["To"]), str(m["Subject"])) for m in handler.received)


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    add_shop(migrated_engine, PEOPLE)
    with Session(migrated_engine) as session:
        save_segment(session, {"name": "quiet", "where": {"country": "DK"}})
    return migrated_engine


def set_country(engine: Engine, names: list[str], country: str | None) -> None:
    with Session(engine) as session:
        for row in session.scalars(select(Customer).where(Customer.external_id.in_(names))):
            row.country = country
        session.commit()


def refresh(engine: Engine, clock: FixedClock) -> None:
    with Session(engine) as session:
        refresh_segment(session, "quiet", clock=clock)


def test_a_win_back_journey_sends_waits_and_stops_at_a_purchase(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    clock = FixedClock(NOON)
    with Session(shop) as session:
        save_journey(session, winback(), clock=clock)
        assert [c.name for c in list_campaigns(session)] == []  # steps are not campaigns to launch
    clock.advance(timedelta(minutes=1))
    set_country(shop, ["c0", "c1", "c2"], "DK")
    refresh(shop, clock)
    worker, channel = make_worker(shop, port, clock)
    with channel:
        worker.run(until_idle=True)
        assert subjects(handler) == [(f"c{n}@example.com", "We miss you") for n in range(3)]
        assert statuses(shop) == {"c0": "active", "c1": "active", "c2": "active"}
        # c1 orders during the wait: the goal ends the journey for them.
        clock.advance(timedelta(days=1))
        with Session(shop) as session:
            order = {
                "external_id": "late-c1",
                "customer_id": "c1",
                "ordered_at": clock.now().isoformat(),
                "currency": "DKK",
                "total": "80.00",
            }
            ingest_orders(session, [order], secret=SECRET, actor="test")
        clock.advance(timedelta(days=2, minutes=1))
        worker.run(until_idle=True)
    assert statuses(shop) == {"c0": "exited", "c1": "goal", "c2": "exited"}
    reminders = [to for to, subject in subjects(handler) if subject == "Still here"]
    assert reminders == ["c0@example.com", "c2@example.com"]
    # Nobody enters twice (re_entry: false), even after leaving and entering the segment again.
    set_country(shop, ["c0"], None)
    refresh(shop, clock)
    set_country(shop, ["c0"], "DK")
    clock.advance(timedelta(minutes=1))
    refresh(shop, clock)
    with Session(shop) as session:
        progress = advance_journeys(session, clock=clock)
        assert progress.counts["entered"] == 0
        assert find_journey(session, "winback").entries == {"exited": 2, "goal": 1}


def test_re_entry_after_days_and_the_holdout(shop: Engine) -> None:
    clock = FixedClock(NOON)
    journey = winback(
        re_entry={"after_days": 30}, holdout=0.5, steps=[{"send": {"message": message("Hi")}}]
    )
    with Session(shop) as session:
        save_journey(session, journey, clock=clock)
    clock.advance(timedelta(minutes=1))
    set_country(shop, [p["external_id"] for p in PEOPLE], "DK")
    refresh(shop, clock)
    with Session(shop) as session:
        first = advance_journeys(session, clock=clock)
    assert first.counts["entered"] + first.counts["held out"] == 6
    assert 0 < first.counts["held out"] < 6
    with Session(shop) as session:
        queued = session.scalars(select(Delivery.customer_id)).all()
    assert len(queued) == first.counts["entered"]  # the held out get nothing
    for days, expected in ((10, 0), (25, 6)):
        set_country(shop, [p["external_id"] for p in PEOPLE], None)
        refresh(shop, clock)
        clock.advance(timedelta(days=days))
        set_country(shop, [p["external_id"] for p in PEOPLE], "DK")
        refresh(shop, clock)
        with Session(shop) as session:
            again = advance_journeys(session, clock=clock)
        assert again.counts["entered"] + again.counts["held out"] == expected


def test_an_event_trigger_a_split_and_a_local_time_wait(shop: Engine) -> None:
    clock = FixedClock(NOON)
    journey = {
        "name": "post-purchase",
        "trigger": {"event": "order_placed"},
        "holdout": 0,
        "steps": [
            {"split": [{"weight": 1, "goto": "a"}, {"weight": 1, "goto": "b"}]},
            {"id": "a", "send": {"message": message("Thanks (A)")}},
            {"exit": {}},
            {"id": "b", "wait": {"days": 1, "until": "09:30"}},
            {"send": {"message": message("Thanks (B)")}},
        ],
    }
    with Session(shop) as session:
        save_journey(session, journey, clock=clock)
        events = [
            {
                "customer_id": p["external_id"],
                "name": "order_placed",
                "occurred_at": (NOON + timedelta(minutes=5)).isoformat(),
            }
            for p in PEOPLE
        ]
        ingest_events(session, events, actor="test")
    clock.advance(timedelta(minutes=10))
    with Session(shop) as session:
        advance_journeys(session, clock=clock)
        entries = session.scalars(select(JourneyEntry)).all()
        waiting = [e for e in entries if e.status == "active"]
        assert {e.path for e in entries} == {"step-1:0;", "step-1:1;"}  # both arms used
        # 09:30 in Copenhagen the day after tomorrow's wait: 2026-12-04 12:00 + 1 day -> 5th.
        assert {e.due_at for e in waiting} == {NOON.replace(day=5, hour=8, minute=30)}
        sent_a = session.scalars(select(Delivery).where(Delivery.status == "queued")).all()
        assert len(sent_a) == 6 - len(waiting)


def test_pausing_stops_entries_and_steps(shop: Engine) -> None:
    clock = FixedClock(NOON)
    with Session(shop) as session:
        save_journey(session, winback(), clock=clock)
        set_journey_status(session, "winback", "paused")
    clock.advance(timedelta(minutes=1))
    set_country(shop, ["c0"], "DK")
    refresh(shop, clock)
    with Session(shop) as session:
        assert advance_journeys(session, clock=clock).counts == {}
        set_journey_status(session, "winback", "active")
        assert advance_journeys(session, clock=clock).counts["entered"] == 1


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"trigger": {"segment": "nope"}}, "trigger.segment"),
        ({"trigger": {"webhook": "x"}}, "trigger.webhook"),
        ({"goal": "click"}, "goal"),
        ({"steps": []}, "steps"),
        ({"steps": [{"wait": {"weeks": 1}}]}, "steps[0].wait"),
        (
            {"steps": [{"branch": {"if": {"p_aliv": {"lt": 1}}, "goto": "x"}}]},
            "steps[0].branch.if.p_aliv",
        ),
        ({"steps": [{"branch": {"if": {"ordered_since_entry": True}, "goto": "x"}}]}, "steps[0]"),
        (
            {"steps": [{"send": {"message": {"en": {"text": "{{ nope }}"}}}}]},
            "steps[0].send.message.en.text",
        ),
        ({"steps": [{"split": [{"weight": 1}]}]}, "steps[0].split"),
    ],
)
def test_a_bad_definition_names_the_path(shop: Engine, changes: dict[str, Any], path: str) -> None:
    with Session(shop) as session, pytest.raises(JourneyError) as caught:
        save_journey(session, winback(**changes))
    assert caught.value.path == path, caught.value


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_built_in_template_saves_with_the_segment_it_names(
    migrated_engine: Engine, name: str
) -> None:
    text = journey_template(name)
    commented = [line[4:] for line in text.splitlines() if line.startswith("#   ")]
    with Session(migrated_engine) as session:
        if commented:  # the segment it needs, in the comment at the top
            save_segment(session, yaml.safe_load("\n".join(commented)))
        saved = save_journey(session, yaml.safe_load(text))
    assert saved.name == name and saved.status == "active"
    assert {"da", "en", "nl"} <= {
        locale
        for step in saved.definition.steps
        if hasattr(step, "message")
        for locale in step.message.message.variants
    }


def test_an_unknown_template_is_named() -> None:
    with pytest.raises(JourneyError, match="no template 'welcome'; there are winback"):
        journey_template("welcome")


def test_a_birthday_journey_enrols_on_the_customers_own_day_once_a_year(
    migrated_engine: Engine,
) -> None:
    people = [
        {"external_id": "cph", "email": "a@example.com", "time_zone": "Europe/Copenhagen",
         "attributes": {"birthday": "1990-12-05"}},
        {"external_id": "la", "email": "b@example.com", "time_zone": "America/Los_Angeles",
         "attributes": {"birthday": "12-05"}},
        {"external_id": "other-day", "email": "c@example.com",
         "attributes": {"birthday": "1990-06-01"}},
        {"external_id": "no-date", "email": "d@example.com"},
    ]  # fmt: skip
    add_shop(migrated_engine, people)
    clock = FixedClock(NOON)  # 3 December
    birthday = winback(name="birthday", trigger={"date": "birthday"}, goal=None)
    with Session(migrated_engine) as session:
        saved = save_journey(session, birthday, clock=clock)
        assert saved.to_dict()["trigger"] == {"date": "birthday", "days_before": 0}

    def entered_at(hours: float) -> dict[str, int]:
        clock.advance(timedelta(hours=hours))
        with Session(migrated_engine) as session:
            advance_journeys(session, clock=clock)
        query = select(Customer.external_id, func.count()).join(
            JourneyEntry, JourneyEntry.customer_id == Customer.id
        )
        with Session(migrated_engine) as session:
            return dict(session.execute(query.group_by(Customer.external_id)).all())

    assert entered_at(1) == {}  # 12:00 UTC on the 3rd: nobody's 5th yet
    assert entered_at(35) == {"cph": 1}  # 23:00 UTC on the 4th: midnight in Copenhagen
    assert entered_at(9) == {"cph": 1, "la": 1}  # 08:00 UTC on the 5th: midnight in LA
    assert entered_at(24) == {"cph": 1, "la": 1}  # the next day: nobody again
    assert entered_at(24 * 5) == {"cph": 1, "la": 1}  # their journeys end
    assert entered_at(24 * 360) == {"cph": 2, "la": 2}  # a year on: again (re-entry 300 days)
