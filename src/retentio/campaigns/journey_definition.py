"""Journey definitions: a trigger, steps, a goal, written as data (YAML/JSON) and checked here.

A definition is a mapping::

    name: winback                        # letters, digits, - and _ (at most 60)
    trigger: {segment: lapsing-buyers}   # entering the segment; or {event: order_placed};
                                         # or {date: birthday, days_before: 0} (yearly)
    goal: order                          # an order after entering ends the journey (or none)
    re_entry: false                      # true: again after leaving; {after_days: 90}
    holdout: 0.1                         # entrants held out (recorded, sent nothing)
    channel: email
    purpose: marketing
    quiet_hours: {start: "21:00", end: "08:00", policy: hold}
    offer_code: WINBACK10
    steps:
      - send: {message: {en: {subject: ..., text: ...}}}   # a message, as in a campaign
                                                           # (and survey: <name>, its link)
      - wait: {days: 3, until: "09:00"}                    # days / hours, then a local time
      - branch: {if: {ordered_since_entry: true}, goto: thanks}   # or a segment condition
      - split: [{weight: 50, goto: offer}, {weight: 50}]   # random (A/B); no goto: next step
      - id: offer
        send: {message: ...}
      - exit: {}
      - id: thanks
        send: {message: ...}

Steps run in order; ``branch`` and ``split`` jump to a step by its ``id``. A journey ends at
its last step, at an ``exit``, or when the goal happens. :func:`parse_journey` raises
:class:`JourneyError` naming the path (``steps[2].wait.days``). Pure: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from retentio.campaigns.definition import CampaignDefinition, CampaignError, parse_campaign
from retentio.core.errors import DefinitionError
from retentio.segments import Condition, SegmentError, parse_definition

__all__ = [
    "SHARED_KEYS",
    "Branch",
    "Exit",
    "JourneyDefinition",
    "JourneyError",
    "Send",
    "Split",
    "Step",
    "Wait",
    "parse_journey",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")
_ATTRIBUTE = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")
_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$")
_KEYS = {
    "name",
    "description",
    "trigger",
    "goal",
    "re_entry",
    "holdout",
    "channel",
    "purpose",
    "quiet_hours",
    "offer_code",
    "attribution_days",
    "link",
    "webhook",
    "steps",
}
#: Keys of the journey that every send step's message shares (as a campaign would have them).
SHARED_KEYS = (
    "channel",
    "purpose",
    "quiet_hours",
    "offer_code",
    "attribution_days",
    "link",
    "webhook",
    "tracking",
)
_MAX_STEPS = 50
#: A send step's message, and the survey it links to (optional).
_SEND_KEYS = {"message", "survey"}
_MAX_WAIT_DAYS = 365


class JourneyError(DefinitionError):
    """A journey definition that cannot be used; ``path`` names where (``steps[1].wait``)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send the step's message (a campaign definition without a segment)."""

    id: str
    message: CampaignDefinition


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait ``delay``, then (with ``until``) until the customer's clock shows that time."""

    id: str
    delay: timedelta
    until: time | None = None


@dataclass(frozen=True, slots=True)
class Branch:
    """Go to ``goto`` when the condition holds; else on to the next step. The condition is
    ``ordered_since_entry`` or a segment condition (``condition``)."""

    id: str
    goto: str
    ordered_since_entry: bool | None = None
    condition: Condition | None = None
    definition: Any = None  # the condition as given, for the segment compiler


@dataclass(frozen=True, slots=True)
class Split:
    """Random split: each customer goes to one arm, by weight (``None``: the next step)."""

    id: str
    arms: tuple[tuple[float, str | None], ...]


@dataclass(frozen=True, slots=True)
class Exit:
    """Leave the journey."""

    id: str


Step = Send | Wait | Branch | Split | Exit


@dataclass(frozen=True, slots=True)
class JourneyDefinition:
    """A checked journey definition (see the module's docstring)."""

    name: str
    steps: tuple[Step, ...]
    trigger_segment: str | None = None
    trigger_event: str | None = None
    trigger_date: str | None = None  # a customer attribute: its anniversary
    days_before: int = 0
    goal: str | None = None
    re_entry: bool | int = False  # int: days after the last entry
    holdout: float = 0.1
    channel: str = "email"
    purpose: str = "marketing"
    description: str = ""
    attribution_days: int = 14  # how long after entering an order counts for the report

    def index_of(self, step_id: str) -> int:
        """The position of the step ``step_id``."""
        for number, step in enumerate(self.steps):
            if step.id == step_id:
                return number
        raise KeyError(step_id)  # pragma: no cover - checked when parsed


def parse_journey(data: Any) -> JourneyDefinition:
    """Check a decoded definition; a :class:`JourneyError` names the first problem."""
    if not isinstance(data, Mapping):
        raise JourneyError("(definition)", "a journey definition is a mapping")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise JourneyError(unknown[0], f"unknown key; known: {', '.join(sorted(_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise JourneyError("name", "1 to 60 letters, digits, '-' or '_', starting with one")
    trigger = data.get("trigger")
    segment = event = date_attribute = None
    days_before = 0
    if isinstance(trigger, Mapping) and "date" in trigger:
        date_attribute, days_before = _date_trigger(trigger)
    else:
        segment, event = _trigger(trigger)
    # A date comes back every year: by default, the same customer enters again after 300 days.
    default_re_entry: Any = {"after_days": 300} if date_attribute else False
    goal = data.get("goal")
    if goal not in (None, "order"):
        raise JourneyError(
            "goal", f"'order' (an order after entering ends it) or none, not {goal!r}"
        )
    shared = {k: data[k] for k in SHARED_KEYS if k in data}
    holdout = data.get("holdout", 0.1)
    titled = shared.get("channel") in ("push", "in_app")  # their messages need a subject
    probe_message = {"en": {"subject": "-", "text": "-"} if titled else {"text": "-"}}
    probe = _campaign(name, "probe", shared | {"holdout": holdout}, probe_message, "")
    steps = _steps(name, data.get("steps"), shared)
    return JourneyDefinition(
        name=name,
        steps=steps,
        trigger_segment=segment,
        trigger_event=event,
        goal=goal,
        re_entry=_re_entry(data.get("re_entry", default_re_entry)),
        trigger_date=date_attribute,
        days_before=days_before,
        holdout=probe.holdout,
        channel=probe.channel,
        purpose=probe.purpose,
        description=str(data.get("description") or ""),
        attribution_days=probe.attribution_days,
    )


def _date_trigger(value: Mapping[str, Any]) -> tuple[str, int]:
    """``{date: <attribute>, days_before: n}``: the attribute and the days before."""
    extra = sorted(str(k) for k in set(value) - {"date", "days_before"})
    if extra:
        raise JourneyError(f"trigger.{extra[0]}", "unknown key; known: date, days_before")
    name = value["date"]
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        raise JourneyError("trigger.date", "a customer attribute's name, e.g. birthday")
    before = value.get("days_before", 0)
    if not isinstance(before, int) or isinstance(before, bool) or not 0 <= before <= 60:
        raise JourneyError("trigger.days_before", "whole days from 0 to 60")
    return name, before


def _trigger(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise JourneyError(
            "trigger", "one of {segment: <saved segment>}, {event: <name>} or {date: <attribute>}"
        )
    ((kind, name),) = value.items()
    if kind not in ("segment", "event"):
        raise JourneyError(f"trigger.{kind}", "segment, event or date")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise JourneyError(f"trigger.{kind}", "a name")
    return (name, None) if kind == "segment" else (None, name)


def _re_entry(value: Any) -> bool | int:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping) and set(value) == {"after_days"}:
        days = value["after_days"]
        if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 3650:
            return days
    raise JourneyError("re_entry", "false, true, or {after_days: 1..3650}")


def _campaign(
    journey: str, step: str, shared: Mapping[str, Any], message: Any, path: str
) -> CampaignDefinition:
    data = {**shared, "name": f"{journey}--{step}", "segment": "-", "message": message}
    try:
        return parse_campaign(data)
    except CampaignError as exc:
        where = exc.path if exc.path not in ("name", "segment") else "name"
        raise JourneyError(f"{path}{where}" if path else where, exc.reason) from None


def _steps(journey: str, value: Any, shared: Mapping[str, Any]) -> tuple[Step, ...]:
    if not isinstance(value, list) or not value:
        raise JourneyError("steps", "a list of steps (send, wait, branch, split, exit)")
    if len(value) > _MAX_STEPS:
        raise JourneyError("steps", f"at most {_MAX_STEPS} steps")
    steps: list[Step] = []
    for number, raw in enumerate(value):
        path = f"steps[{number}]"
        if not isinstance(raw, Mapping):
            raise JourneyError(path, "a mapping such as {send: ...} or {wait: ...}")
        step_id = raw.get("id", f"step-{number + 1}")
        if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
            raise JourneyError(f"{path}.id", "1 to 30 letters, digits, '-' or '_'")
        kinds = sorted(set(raw) - {"id"})
        if len(kinds) != 1 or kinds[0] not in ("send", "wait", "branch", "split", "exit"):
            raise JourneyError(path, "exactly one of send, wait, branch, split, exit")
        steps.append(_step(journey, kinds[0], step_id, raw[kinds[0]], f"{path}.{kinds[0]}", shared))
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise JourneyError("steps", "step ids must be unique")
    for number, step in enumerate(steps):
        targets = [step.goto] if isinstance(step, Branch) else []
        if isinstance(step, Split):
            targets = [goto for _, goto in step.arms if goto is not None]
        for goto in targets:
            if goto not in ids:
                raise JourneyError(f"steps[{number}]", f"goto {goto!r}: no step has that id")
    return tuple(steps)


def _step(
    journey: str, kind: str, step_id: str, body: Any, path: str, shared: Mapping[str, Any]
) -> Step:
    if kind == "exit":
        return Exit(step_id)
    if kind == "send":
        if not isinstance(body, Mapping) or "message" not in body or set(body) - _SEND_KEYS:
            raise JourneyError(path, "{message: {<locale>: {subject, html, text}}, survey: <name>}")
        own = {"survey": body["survey"]} if "survey" in body else {}
        message = _campaign(journey, step_id, {**shared, **own}, body["message"], f"{path}.")
        return Send(step_id, message)
    if kind == "wait":
        return _wait(step_id, body, path)
    if kind == "branch":
        return _branch(step_id, body, path)
    return _split(step_id, body, path)


def _wait(step_id: str, body: Any, path: str) -> Wait:
    if not isinstance(body, Mapping) or not body or set(body) - {"days", "hours", "until"}:
        raise JourneyError(path, "{days: n} and/or {hours: n}, and/or {until: 'HH:MM'}")
    delay = timedelta()
    for unit in ("days", "hours"):
        amount = body.get(unit, 0)
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise JourneyError(f"{path}.{unit}", "a number of at least 0")
        delay += timedelta(**{unit: amount})
    if delay > timedelta(days=_MAX_WAIT_DAYS):
        raise JourneyError(path, f"at most {_MAX_WAIT_DAYS} days")
    until = body.get("until")
    at = None
    if until is not None:
        if isinstance(until, int) and not isinstance(until, bool) and 0 <= until < 1440:
            at = time(until // 60, until % 60)  # YAML 1.1 reads 09:00 as 540
        else:
            try:
                at = time.fromisoformat(str(until))
            except ValueError:
                raise JourneyError(f"{path}.until", "a time of day such as '09:00'") from None
    return Wait(step_id, delay, at)


def _branch(step_id: str, body: Any, path: str) -> Branch:
    if not isinstance(body, Mapping) or set(body) != {"if", "goto"}:
        raise JourneyError(path, "{if: <condition>, goto: <step id>}")
    goto = body["goto"]
    if not isinstance(goto, str):
        raise JourneyError(f"{path}.goto", "a step id")
    condition = body["if"]
    if isinstance(condition, Mapping) and set(condition) == {"ordered_since_entry"}:
        wanted = condition["ordered_since_entry"]
        if not isinstance(wanted, bool):
            raise JourneyError(f"{path}.if.ordered_since_entry", "true or false")
        return Branch(step_id, goto, ordered_since_entry=wanted)
    try:
        parsed = parse_definition({"name": "branch", "where": condition})
    except SegmentError as exc:
        where = exc.path.replace("where", f"{path}.if", 1)
        raise JourneyError(where, exc.reason) from None
    return Branch(step_id, goto, condition=parsed.where, definition=condition)


def _split(step_id: str, body: Any, path: str) -> Split:
    if not isinstance(body, list) or len(body) < 2:
        raise JourneyError(path, "a list of at least two arms: {weight: n, goto: <step id>}")
    arms: list[tuple[float, str | None]] = []
    for number, arm in enumerate(body):
        where = f"{path}[{number}]"
        if not isinstance(arm, Mapping) or set(arm) - {"weight", "goto"} or "weight" not in arm:
            raise JourneyError(where, "{weight: n, goto: <step id>} (goto optional)")
        weight = arm["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise JourneyError(f"{where}.weight", "a positive number")
        goto = arm.get("goto")
        if goto is not None and not isinstance(goto, str):
            raise JourneyError(f"{where}.goto", "a step id")
        arms.append((float(weight), goto))
    return Split(step_id, tuple(arms))
