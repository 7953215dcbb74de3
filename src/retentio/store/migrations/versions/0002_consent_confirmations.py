"""Double opt-in: consent_confirmations (token hashes) and consent_events.is_confirmation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_confirmation", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "consent_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("consent_event_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_event_id"],
            ["consent_events.id"],
            name=op.f("fk_consent_confirmations_consent_event_id_consent_events"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_consent_confirmations_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_confirmations")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_consent_confirmations_token_sha256")),
    )
    with op.batch_alter_table("consent_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_confirmations_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_confirmations_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_confirmations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_consent_confirmations_customer_id"))
    op.drop_table("consent_confirmations")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_column("is_confirmation")
