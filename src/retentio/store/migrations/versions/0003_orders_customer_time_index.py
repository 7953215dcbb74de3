"""Orders: one (customer_id, ordered_at) index instead of one on each column.

Every query on orders asks for one customer's orders, often by time (the profile's latest
orders, totals, the export, the retention check); nothing ranges over all orders by time (the
analytics read the whole table). One index fewer to update also speeds up bulk ingestion.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 05:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_ordered_at"))
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))
        batch_op.create_index("ix_orders_customer_ordered", ["customer_id", "ordered_at"])


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_customer_ordered")
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_ordered_at"), ["ordered_at"], unique=False)
