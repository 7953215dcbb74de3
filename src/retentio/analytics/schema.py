"""The normalised transactions table every analytics function reads.

One row per order (or refund). ``load_transactions`` produces it; the synthetic shop and the
bundled CDNOW data are returned in it; metrics accept it as a pyarrow Table, a pandas or polars
DataFrame, an Ibis table or the path of a Parquet file written from it.

| column       | type                    | meaning                                               |
|--------------|-------------------------|-------------------------------------------------------|
| customer_id  | string                  | the shop's customer id                                |
| order_id     | string                  | the shop's order id (unique together with is_refund)  |
| ordered_at   | timestamp[us, tz=UTC]   | when the order was placed, in UTC                     |
| amount       | float64                 | major units; negative for refunds                     |
| currency     | string                  | ISO 4217 code                                         |
| is_refund    | bool                    | a refund or return: netted in revenue, not a purchase |
| status       | string (nullable)       | the source's status value, if one was mapped          |
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "AMOUNT",
    "CURRENCY",
    "CUSTOMER_ID",
    "IS_REFUND",
    "ORDERED_AT",
    "ORDER_ID",
    "STATUS",
    "TRANSACTIONS_SCHEMA",
]

CUSTOMER_ID = "customer_id"
ORDER_ID = "order_id"
ORDERED_AT = "ordered_at"
AMOUNT = "amount"
CURRENCY = "currency"
IS_REFUND = "is_refund"
STATUS = "status"

TRANSACTIONS_SCHEMA = pa.schema(
    [
        pa.field(CUSTOMER_ID, pa.string(), nullable=False),
        pa.field(ORDER_ID, pa.string(), nullable=False),
        pa.field(ORDERED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(AMOUNT, pa.float64(), nullable=False),
        pa.field(CURRENCY, pa.string(), nullable=False),
        pa.field(IS_REFUND, pa.bool_(), nullable=False),
        pa.field(STATUS, pa.string(), nullable=True),
    ],
    metadata={b"retentio.table": b"transactions", b"retentio.version": b"1"},
)
