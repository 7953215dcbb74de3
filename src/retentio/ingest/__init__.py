"""Ingestion: validate what the shop sends (customers, orders, events) and upsert it in bulk.

The API's batch endpoints, the single-event tracking call and ``retentio load`` all go through
these services, so every way in validates alike, refuses erased or suppressed people, is
idempotent (keyed by the shop's own ids) and writes one audit entry per batch.
"""

from retentio.ingest.customers import ingest_customers
from retentio.ingest.events import TrackedEvent, ingest_events, track_event
from retentio.ingest.models import (
    MAX_JSON_BYTES,
    STATUSES,
    CustomerIn,
    EventIn,
    LineIn,
    OrderIn,
    RefundIn,
)
from retentio.ingest.orders import ingest_orders
from retentio.ingest.results import BatchRejected, BatchResult, ItemError

__all__ = [
    "MAX_JSON_BYTES",
    "STATUSES",
    "BatchRejected",
    "BatchResult",
    "CustomerIn",
    "EventIn",
    "ItemError",
    "LineIn",
    "OrderIn",
    "RefundIn",
    "TrackedEvent",
    "ingest_customers",
    "ingest_events",
    "ingest_orders",
    "track_event",
]
