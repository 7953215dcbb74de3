"""A segment definition compiled to one SQL query: the ids of the customers in it, set-based.

The query reads ``customers`` and joins only what the definition needs, one row a customer:
the order figures kept beside the orders (``customer_order_stats``, and ``customer_spend`` in
the definition's currency), the stored ``customer_scores``, each stated preference tested
(``customer_preferences``, one row per customer and name); and ``IN`` sub-queries for events,
consent and what a stated list (``topics``) contains; the latest survey answers of each kind
(one row per customer, ranked over ``survey_responses``). Every condition is two-valued
(``COALESCE(..., false)``), so ``not`` is the complement of its condition even where a value
is missing. Erased customers are never members. The same query runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    FromClause,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)

from retentio.analytics.feedback import DETRACTOR_MAX, PROMOTER_MIN
from retentio.core.money import minor_unit_exponent
from retentio.segments.definition import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    ConsentCondition,
    EventCondition,
    Not,
    SegmentDefinition,
    SegmentError,
)
from retentio.segments.fields import ATTRIBUTE_PREFIX, FIELDS, source_of
from retentio.store.feedback_tables import CustomerPreference, Survey, SurveyResponse
from retentio.store.loyalty_tables import LoyaltyAccount
from retentio.store.order_stats import SPEND, STATS
from retentio.store.tables import (
    Consent,
    Customer,
    CustomerScore,
    Event,
    Timestamp,
)

__all__ = ["member_ids", "member_query"]

CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
CONSENTS: Table = Consent.__table__  # type: ignore[assignment]
LOYALTY: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
PREFERENCES: Table = CustomerPreference.__table__  # type: ignore[assignment]
#: The stored name of each preference field whose name differs.
_PREFERENCE_NAMES = {"snoozed_until": "snooze_until"}
_LOYALTY_COLUMNS = {
    "loyalty_tier": "tier",
    "loyalty_points": "available",
    "loyalty_pending_points": "pending",
    "loyalty_points_expiring": "expiring_points",
    "loyalty_points_expire_at": "expiring_at",
}
_DAY = timedelta(days=1)
_SINCE = {
    "days_since_first_order": "first_order_at",
    "days_since_last_order": "last_order_at",
    "days_since_last_survey_answer": "last_survey_answer_at",
}
RESPONSES: Table = SurveyResponse.__table__  # type: ignore[assignment]
SURVEYS: Table = Survey.__table__  # type: ignore[assignment]


def member_ids(definition: SegmentDefinition, *, now: datetime, dialect: str) -> Select[Any]:
    """``SELECT customers.id`` of the members of ``definition`` at ``now`` (aware UTC)."""
    return member_query(definition, now=now, dialect=dialect, columns=None)


def member_query(
    definition: SegmentDefinition,
    *,
    now: datetime,
    dialect: str,
    columns: tuple[str, ...] | None,
) -> Select[Any]:
    """The members' ``customers.id`` (labelled ``customer_id``) and, unless ``columns`` is
    None, their ``external_id`` and each field of ``columns`` labelled with its name."""
    compiler = _Compiler(definition, now, dialect, set(columns or ()))
    where = compiler.condition(definition.where)
    selected: list[ColumnElement[Any]] = [CUSTOMERS.c.id.label("customer_id")]
    if columns is not None:
        selected.append(CUSTOMERS.c.external_id.label("external_id"))
        selected += [
            compiler.shown(name).label(name) for name in columns if name != "external_id"
        ]  # (the id is there already)
    return (
        select(*selected)
        .select_from(compiler.joined())
        .where(CUSTOMERS.c.erased_at.is_(None), where)
    )


class _Compiler:
    def __init__(
        self, definition: SegmentDefinition, now: datetime, dialect: str, shown: set[str]
    ) -> None:
        self.definition = definition
        self.now = now
        self.dialect = dialect
        unknown = [n for n in shown if n not in FIELDS and not n.startswith(ATTRIBUTE_PREFIX)]
        if unknown:
            raise SegmentError(unknown[0], "unknown field (see `retentio segment fields`)")
        needed = {*definition.sources(), *(source_of(name) for name in shown)}
        self.orders = "orders" in needed
        self.spend = self._spend(shown)
        self.scores = "scores" in needed
        self.loyalty = "loyalty" in needed
        self.answers = _latest_answers() if "feedback" in needed else None
        named = definition.fields() | shown
        self.preferences = {  # one outer join per stated preference read as a value
            name: PREFERENCES.alias(f"preference_{name}")
            for name in sorted(named)
            if name in FIELDS and FIELDS[name].source == "preferences"
        }
        if self.spend and definition.currency is None:  # only a shown column can get here
            raise SegmentError(
                "currency", "set the definition's currency to show spend (e.g. currency: DKK)"
            )

    def _spend(self, shown: set[str]) -> bool:
        names = self.definition.fields() | shown
        return bool(names & {"total_spend", "average_order_value"})

    def joined(self) -> FromClause:
        joined: FromClause = CUSTOMERS
        c = CUSTOMERS.c
        if self.orders:
            joined = joined.outerjoin(STATS, STATS.c.customer_id == c.id)
        if self.spend:
            s = SPEND.c
            in_currency = (s.customer_id == c.id) & (s.currency == self.definition.currency)
            joined = joined.outerjoin(SPEND, in_currency)
        if self.scores:
            joined = joined.outerjoin(SCORES, SCORES.c.customer_id == c.id)
        if self.loyalty:
            joined = joined.outerjoin(LOYALTY, LOYALTY.c.customer_id == c.id)
        if self.answers is not None:
            joined = joined.outerjoin(self.answers, self.answers.c.customer_id == c.id)
        for name, stated in self.preferences.items():
            stored = _PREFERENCE_NAMES.get(name, name)
            joined = joined.outerjoin(
                stated, and_(stated.c.customer_id == c.id, stated.c.name == stored)
            )
        return joined

    # -- conditions ------------------------------------------------------------------------

    def condition(self, condition: Condition) -> ColumnElement[bool]:
        if isinstance(condition, AllOf):
            return and_(*(self.condition(part) for part in condition.parts))
        if isinstance(condition, AnyOf):
            return or_(*(self.condition(part) for part in condition.parts))
        if isinstance(condition, Not):
            return not_(self.condition(condition.part))
        if isinstance(condition, EventCondition):
            return CUSTOMERS.c.id.in_(self.events(condition))
        if isinstance(condition, ConsentCondition):
            return CUSTOMERS.c.id.in_(_consented(condition))
        return func.coalesce(self.compare(condition), false())

    def compare(self, test: Compare) -> ColumnElement[bool]:
        field = FIELDS.get(test.field)
        if field is not None and field.source == "preferences":
            return self.stated(test, field.kind)
        if test.field in _SINCE:
            return self.days_since(self.value(_SINCE[test.field]), test.op, test.value)
        value = self.value(test.field)
        if test.field.startswith(ATTRIBUTE_PREFIX):
            value = _attribute(CUSTOMERS.c.attributes, test, self.dialect)
        return _compared(value, test.op, test.value)

    def stated(self, test: Compare, kind: str) -> ColumnElement[bool]:
        """A test of a stated preference: a list ``contains`` one value, a date (kept as
        YYYY-MM-DD text) compared by date, a text as text."""
        stated = self.preferences[test.field]
        if test.op == "exists":
            present = stated.c.value.is_not(None)
            return present if test.value else not_(present)
        if kind == "list":
            return CUSTOMERS.c.id.in_(self.containing(test.field, test.value))
        value = self.value(test.field)
        if kind == "time":  # before: strictly earlier; after: on or after
            day = test.value.date().isoformat()
            return value < day if test.op == "before" else value >= day  # type: ignore[no-any-return]
        return _compared(value, test.op, test.value)

    def containing(self, name: str, wanted: str) -> Select[Any]:
        """The customers whose stated list ``name`` holds ``wanted``."""
        p = PREFERENCES.c
        # A stated list is an array; anything else (a hand-edited row) holds nothing.
        if self.dialect == "sqlite":  # json_each would read a scalar as a list of one
            items = func.json_each(p.value).table_valued("value")
            is_list = func.json_type(p.value) == "array"
        else:  # json_array_elements_text would fail on a scalar: it gets an empty array
            empty = func.json_build_array()
            array = case((func.json_typeof(p.value) == "array", p.value), else_=empty)
            items = func.json_array_elements_text(array).table_valued("value")
            is_list = true()
        return (
            select(p.customer_id)
            .select_from(PREFERENCES.join(items, true()))
            .where(p.name == _PREFERENCE_NAMES.get(name, name), is_list, items.c.value == wanted)
        )

    def days_since(self, at: ColumnElement[Any], op: str, days: Any) -> ColumnElement[bool]:
        """Whole days elapsed since ``at`` compared with ``days``, as comparisons of ``at`` with
        instants (floor(elapsed) >= n  <=>  at <= now - n days), so no date arithmetic in SQL."""
        if op == "exists":
            return at.is_not(None) if days else at.is_(None)
        if op == "between":
            low, high = days
            return and_(self.days_since(at, "gte", low), self.days_since(at, "lte", high))

        def ago(n: int) -> ColumnElement[Any]:
            return literal(self.now - n * _DAY, Timestamp)

        at_least = at <= ago(days)  # floor(elapsed) >= days
        more = at <= ago(days + 1)  # floor(elapsed) > days
        return {
            "gte": at_least,
            "gt": more,
            "lt": not_(at_least),
            "lte": not_(more),
            "eq": and_(at_least, not_(more)),
            "ne": or_(not_(at_least), more),
        }[op]

    def events(self, condition: EventCondition) -> Select[Any]:
        e = EVENTS.c
        query = select(e.customer_id).where(e.name == condition.name)
        if condition.within_days is not None:
            since = self.now - condition.within_days * _DAY
            query = query.where(e.occurred_at >= literal(since, Timestamp))
        for key, expected in condition.properties:
            query = query.where(_json_equals(e.properties, key, expected, self.dialect))
        if condition.at_least > 1:
            query = query.group_by(e.customer_id).having(func.count() >= condition.at_least)
        return query

    # -- values ----------------------------------------------------------------------------

    def shown(self, name: str) -> ColumnElement[Any]:
        """Field ``name`` as a person reads it: money in major units, whole days."""
        value = self.value(name)
        if name in _SINCE:
            if self.dialect == "sqlite":  # no floor() in every SQLite: truncate, then step down
                whole = cast(value, Integer)  # below zero (an order dated in the future)
                return case((value < whole, whole - 1), else_=whole)
            return cast(func.floor(value), Integer)
        field = FIELDS.get(name)
        if field is not None and field.kind == "presence":  # whether, never the address
            return value.is_not(None)
        if field is not None and field.kind == "money":
            exponent = minor_unit_exponent(self.definition.currency or "")
            return cast(value, Double) / float(10**exponent)
        return value

    def value(self, name: str) -> ColumnElement[Any]:
        """The SQL value of field ``name`` for the row's customer."""
        if name.startswith(ATTRIBUTE_PREFIX):
            return CUSTOMERS.c.attributes[name[len(ATTRIBUTE_PREFIX) :]]
        source = source_of(name)
        if source == "customer":
            return CUSTOMERS.c[name]
        if source == "scores":
            return SCORES.c[name]
        if source == "loyalty":
            return LOYALTY.c[_LOYALTY_COLUMNS[name]]
        if source == "preferences":  # a list as stored (JSON), the others as text
            stated = self.preferences[name].c.value
            return stated if FIELDS[name].kind == "list" else stated[()].as_string()
        if name in _SINCE:  # shown as a number of whole days
            return self._days_between(self.value(_SINCE[name]), literal(self.now, Timestamp))
        if source == "feedback":
            assert self.answers is not None  # noqa: S101 (joined when a field needs it)
            score = self.answers.c.nps_score
            if name == "nps_category":
                return case(
                    (score >= PROMOTER_MIN, literal("promoter")),
                    (score > DETRACTOR_MAX, literal("passive")),
                    (score.is_not(None), literal("detractor")),
                    else_=null(),
                )
            answered: ColumnElement[Any] = self.answers.c[name]
            return answered
        o = STATS.c
        if name == "order_count":
            return func.coalesce(o.order_count, 0)
        if name in ("first_order_at", "last_order_at"):
            at: ColumnElement[Any] = o[name]
            return at
        if name == "average_days_between_orders":
            span = self._days_between(o.first_order_at, o.last_order_at)
            return span / func.nullif(o.order_count - 1, 0)
        if name == "overdue_ratio":  # the customer's own rhythm: > 1 is later than usual
            since = self._days_between(o.last_order_at, literal(self.now, Timestamp))
            return since / func.nullif(self.value("average_days_between_orders"), 0)
        spend = func.coalesce(SPEND.c.spend_minor, 0)
        if name == "total_spend":
            return spend
        return cast(spend, Double) / func.nullif(SPEND.c.order_count, 0)  # average order value

    def _days_between(
        self, start: ColumnElement[Any], end: ColumnElement[Any]
    ) -> ColumnElement[Any]:
        if self.dialect == "sqlite":
            return func.julianday(end) - func.julianday(start)
        return func.extract("epoch", end - start) / 86400.0


def _latest_answers() -> Any:
    """One row per customer who answered a survey: the score of their latest NPS and CSAT
    answers and when they last answered any survey."""
    r, s = RESPONSES.c, SURVEYS.c
    order = (r.responded_at.desc(), r.id.desc())
    ranked = (
        select(
            r.customer_id,
            s.kind,
            r.score,
            r.responded_at,
            func.row_number()
            .over(partition_by=(r.customer_id, s.kind), order_by=order)
            .label("rank"),
        )
        .join(SURVEYS, s.id == r.survey_id)
        .subquery("ranked_answers")
    )
    k = ranked.c

    def latest(kind: str) -> Any:
        return func.max(case((and_(k.kind == kind, k.rank == 1), k.score), else_=null()))

    return (
        select(
            k.customer_id,
            latest("nps").label("nps_score"),
            latest("csat").label("csat_score"),
            func.max(k.responded_at).label("last_survey_answer_at"),
        )
        .group_by(k.customer_id)
        .subquery("survey_answers")
    )


def _consented(condition: ConsentCondition) -> Select[Any]:
    s = CONSENTS.c
    return select(s.customer_id).where(
        s.channel == condition.channel,
        s.purpose == condition.purpose,
        s.granted.is_(True),
        s.confirmed_at.is_not(None),
    )


#: JSON types, as SQLite's json_type and PostgreSQL's json_typeof name them, per Python kind.
_JSON_TYPES: dict[str, dict[type, tuple[str, ...]]] = {
    "sqlite": {str: ("text",), bool: ("true", "false"), float: ("integer", "real")},
    "postgresql": {str: ("string",), bool: ("boolean",), float: ("number",)},
}


def _kind(value: Any) -> type:
    return type(value) if isinstance(value, bool | str) else float


def _typed(document: Any, key: str, kind: type, dialect: str) -> ColumnElement[Any]:
    """``document[key]`` as ``kind`` (text, number or boolean) where the JSON value has that
    type, else NULL: a customer whose ``tier`` is "gold" does not break ``tier > 1`` (on
    PostgreSQL the cast would fail the whole query), it simply does not match."""
    element = document[key]
    value = {str: element.as_string, bool: element.as_boolean, float: element.as_float}[kind]()
    if dialect == "sqlite":
        json_type = func.json_type(document, f'$."{key}"')  # key: letters, digits, _ . -
    else:
        json_type = func.json_typeof(document.op("->")(key))
    typed: ColumnElement[Any] = case(
        (json_type.in_(_JSON_TYPES[dialect][kind]), value), else_=null()
    )
    return typed


def _attribute(document: Any, test: Compare, dialect: str) -> ColumnElement[Any]:
    """The attribute as text, number or boolean, after the type of the value it is tested
    against (the definition checked that a list holds one type)."""
    key = test.field[len(ATTRIBUTE_PREFIX) :]
    if test.op == "exists":
        return document[key].as_string()  # type: ignore[no-any-return]
    sample = test.value[0] if isinstance(test.value, tuple) else test.value
    return _typed(document, key, _kind(sample), dialect)


def _json_equals(document: Any, key: str, expected: Any, dialect: str) -> ColumnElement[bool]:
    wanted = expected if isinstance(expected, bool | str) else float(expected)
    return func.coalesce(_typed(document, key, _kind(expected), dialect) == wanted, false())


def _compared(value: Any, op: str, operand: Any) -> ColumnElement[bool]:
    if op == "exists":
        return value.is_not(None) if operand else value.is_(None)  # type: ignore[no-any-return]
    if op in ("before", "after"):
        at = literal(operand, Timestamp)
        return value < at if op == "before" else value >= at  # type: ignore[no-any-return]
    if op == "between":
        low, high = (_plain(v) for v in operand)
        return and_(value >= low, value <= high)
    if op in ("in", "not_in"):
        values = [_plain(v) for v in operand]
        return value.in_(values) if op == "in" else value.not_in(values)  # type: ignore[no-any-return]
    operand = _plain(operand)
    return {  # type: ignore[no-any-return]
        "eq": lambda: value == operand,
        "ne": lambda: value != operand,
        "lt": lambda: value < operand,
        "lte": lambda: value <= operand,
        "gt": lambda: value > operand,
        "gte": lambda: value >= operand,
    }[op]()


def _plain(value: Any) -> Any:
    return float(value) if not isinstance(value, bool | str | int | float) else value
