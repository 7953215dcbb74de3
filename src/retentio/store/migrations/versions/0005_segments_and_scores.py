"""Segments, their memberships (entered / exited), stored customer scores, and per-customer
order figures (``customer_order_stats``, ``customer_spend``, filled from the stored orders here
and kept by every order write since), an index of events by name for event conditions, and
one of refunds by order (the unique one is partial: only refunds without an id).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_order_stats",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_order_stats_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_order_stats")),
    )
    op.create_table(
        "customer_spend",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("spend_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_spend_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "currency", name=op.f("pk_customer_spend")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_order_id", ["order_id"])
    # Orders that count: not cancelled or pending (the analytics' EXCLUDED_STATUSES).
    op.execute(
        "INSERT INTO customer_order_stats (customer_id, order_count, first_order_at, "
        "last_order_at) SELECT customer_id, count(*), min(ordered_at), max(ordered_at) "
        "FROM orders WHERE status NOT IN ('cancelled', 'pending') GROUP BY customer_id"
    )
    op.execute(
        "INSERT INTO customer_spend (customer_id, currency, order_count, spend_minor) "
        "SELECT o.customer_id, o.currency, count(*), sum(o.total_minor - coalesce("
        "(SELECT sum(r.amount_minor) FROM refunds r WHERE r.order_id = o.id), 0)) "
        "FROM orders o WHERE o.status NOT IN ('cancelled', 'pending') "
        "GROUP BY o.customer_id, o.currency"
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_name_customer_occurred", ["name", "customer_id", "occurred_at"]
        )
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recency_days", sa.Double(), nullable=True),
        sa.Column("frequency", sa.Double(), nullable=True),
        sa.Column("monetary", sa.Double(), nullable=True),
        sa.Column("rfm_score", sa.String(length=3), nullable=True),
        sa.Column("rfm_segment", sa.String(length=40), nullable=True),
        sa.Column("p_alive", sa.Double(), nullable=True),
        sa.Column("churn_risk", sa.Double(), nullable=True),
        sa.Column("risk_band", sa.String(length=20), nullable=True),
        sa.Column("expected_purchases", sa.Double(), nullable=True),
        sa.Column("clv", sa.Double(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_scores")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("members", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "segment_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_segment_memberships_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_memberships_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_memberships")),
    )
    with op.batch_alter_table("segment_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_segment_memberships_customer", ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_segment_memberships_entered", ["segment_id", "entered_at"], unique=False
        )
        batch_op.create_index(
            "uq_segment_memberships_open",
            ["segment_id", "customer_id"],
            unique=True,
            sqlite_where=sa.text("exited_at IS NULL"),
            postgresql_where=sa.text("exited_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_order_id")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_name_customer_occurred")
    op.drop_table("customer_spend")
    op.drop_table("customer_order_stats")
    op.drop_table("segment_memberships")
    op.drop_table("segments")
    op.drop_table("customer_scores")
