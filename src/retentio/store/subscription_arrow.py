"""Bulk reads of the subscriptions' tables into Arrow, for the subscription analytics.

The subscriptions with their next order's amount (their items at today's prices, less a save
offer's discount left for it), the history events the analytics read, and the orders. The
connections are those of :mod:`retentio.store.arrow`: ADBC on PostgreSQL, the standard
library's read-only ``sqlite3`` on SQLite.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from retentio.analytics.subscriptions import (
    SUBSCRIPTION_EVENT_KINDS,
    SUBSCRIPTION_EVENTS_SCHEMA,
    SUBSCRIPTION_ORDERS_SCHEMA,
    SUBSCRIPTIONS_SCHEMA,
)
from retentio.store.arrow import _connect, _fetch_arrow
from retentio.store.engine import normalise_url
from retentio.store.loyalty_arrow import _fetch_sqlite_typed, _typed

__all__ = ["SubscriptionTables", "read_subscriptions"]

# A subscription ends when cancelled (cancelled_at) or expired (its expired event: updated_at
# moves on when a payment of its last order comes in later).
_SUBSCRIPTIONS = """
SELECT s.id AS subscription_id, c.external_id AS customer_id, s.status AS status,
       s.currency AS currency, s.cadence_unit AS cadence_unit, s.cadence_count AS cadence_count,
       COALESCE(i.total, 0) AS items_minor, {percent} AS discount_percent,
       {cycles} AS discount_cycles, s.created_at AS started_at,
       CASE WHEN s.status = 'cancelled' THEN s.cancelled_at
            WHEN s.status = 'expired' THEN COALESCE(x.expired_at, s.updated_at) END AS ended_at,
       s.cancel_reason AS cancel_reason
FROM subscriptions s JOIN customers c ON c.id = s.customer_id
LEFT JOIN (SELECT subscription_id, SUM(quantity * price_minor) AS total
           FROM subscription_items GROUP BY subscription_id) i ON i.subscription_id = s.id
LEFT JOIN (SELECT subscription_id, MIN(occurred_at) AS expired_at FROM subscription_events
           WHERE kind = 'expired' GROUP BY subscription_id) x ON x.subscription_id = s.id
"""
_KINDS = ", ".join(f"'{kind}'" for kind in SUBSCRIPTION_EVENT_KINDS)
_EVENTS = f"""
SELECT e.id AS event_id, e.subscription_id AS subscription_id, e.kind AS kind,
       {{reason}} AS reason, {{offer}} AS offer, {{voluntary}} AS voluntary,
       e.occurred_at AS occurred_at
FROM subscription_events e WHERE e.kind IN ({_KINDS})
"""  # noqa: S608 (constants)
_ORDERS = """
SELECT o.subscription_id AS subscription_id, o.cycle AS cycle, o.kind AS kind,
       o.due_on AS due_on, o.amount_minor AS amount_minor, o.currency AS currency,
       o.status AS status, o.created_at AS created_at, o.paid_at AS paid_at
FROM subscription_orders o
"""
#: JSON values of the two dialects: SQLite's json_extract, PostgreSQL's ->> (text).
_JSON = {
    "sqlite": {
        "percent": "json_extract(s.discount, '$.percent')",
        "cycles": "json_extract(s.discount, '$.cycles')",
        "reason": "json_extract(e.data, '$.reason')",
        "offer": "json_extract(e.data, '$.offer')",
        "voluntary": "json_extract(e.data, '$.voluntary')",
    },
    "postgresql": {
        "percent": "CAST(s.discount ->> 'percent' AS BIGINT)",
        "cycles": "CAST(s.discount ->> 'cycles' AS BIGINT)",
        "reason": "e.data ->> 'reason'",
        "offer": "e.data ->> 'offer'",
        "voluntary": "CAST(e.data ->> 'voluntary' AS BOOLEAN)",
    },
}
_INT, _UTC_US = pa.int64(), pa.timestamp("us", tz="UTC")
_RAW_SUBSCRIPTIONS = pa.schema(
    [
        pa.field("subscription_id", _INT),
        pa.field("customer_id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("currency", pa.string()),
        pa.field("cadence_unit", pa.string()),
        pa.field("cadence_count", _INT),
        pa.field("items_minor", _INT),
        pa.field("discount_percent", _INT),
        pa.field("discount_cycles", _INT),
        pa.field("started_at", _UTC_US),
        pa.field("ended_at", _UTC_US),
        pa.field("cancel_reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class SubscriptionTables:
    """The subscriptions' tables, in the schemas of :mod:`retentio.analytics.subscriptions`;
    rows come in no set order (the events' ``event_id`` gives theirs)."""

    subscriptions: pa.Table
    events: pa.Table
    orders: pa.Table

    @property
    def has_subscriptions(self) -> bool:
        """True when the store holds any subscription."""
        return bool(self.subscriptions.num_rows > 0)


def read_subscriptions(url_or_engine: str | Engine) -> SubscriptionTables:
    """Read the subscriptions, their events (the kinds the analytics read:
    ``SUBSCRIPTION_EVENT_KINDS``) and their orders from the store at ``url_or_engine``
    (migrated) in bulk."""
    url = (
        url_or_engine.url
        if isinstance(url_or_engine, Engine)
        else make_url(normalise_url(url_or_engine))
    )
    sqlite = url.get_backend_name() == "sqlite"
    json = _JSON["sqlite" if sqlite else "postgresql"]
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:

        def fetch(sql: str, schema: pa.Schema) -> pa.Table:
            if sqlite:
                return _fetch_sqlite_typed(cursor, sql, schema)
            return _typed(_fetch_arrow(cursor, sql), schema)

        raw = fetch(_SUBSCRIPTIONS.format(**json), _RAW_SUBSCRIPTIONS)
        events = fetch(_EVENTS.format(**json), SUBSCRIPTION_EVENTS_SCHEMA)
        orders = fetch(_ORDERS, SUBSCRIPTION_ORDERS_SCHEMA)
    return SubscriptionTables(_subscriptions(raw), events, orders)


def _subscriptions(raw: pa.Table) -> pa.Table:
    """The next order's amount: the items less ``percent`` % of them (the whole minor units
    of it, as the renewal takes them) while the discount has cycles left."""
    items = raw["items_minor"]
    percent = pc.if_else(
        pc.greater(pc.fill_null(raw["discount_cycles"], 0), 0),
        pc.fill_null(raw["discount_percent"], 0),
        0,
    )
    amount = pc.subtract(items, pc.divide(pc.multiply(items, percent), 100))
    columns = {name: raw[name] for name in raw.column_names}
    columns["next_amount_minor"] = amount
    return pa.table(
        [columns[name] for name in SUBSCRIPTIONS_SCHEMA.names], schema=SUBSCRIPTIONS_SCHEMA
    )
