"""The loyalty programme's rules: tiers held by each account (with its tier changes), the
coupons of redeemed rewards, referrals, the points expiring soon, the last activity (expiry on
inactivity) and the amount of each order entry (spend tiers).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 04:02:08.671793
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loyalty_coupons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column(
            "redeem_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "refund_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lot_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_coupons_account_id_loyalty_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_loyalty_coupons_code")),
        sa.UniqueConstraint("key", name=op.f("uq_loyalty_coupons_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("loyalty_coupons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_coupons_account_reward",
            ["account_id", "reward_id", "issued_at"],
            unique=False,
        )

    op.create_table(
        "loyalty_referrals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("referrer_account_id", sa.Integer(), nullable=False),
        sa.Column("friend_customer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("qualifies_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_customer_id"],
            ["customers.id"],
            name=op.f("fk_loyalty_referrals_friend_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_referrals_referrer_account_id_loyalty_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_referrals")),
        sa.UniqueConstraint(
            "friend_customer_id", name=op.f("uq_loyalty_referrals_friend_customer_id")
        ),
        sa.UniqueConstraint("key", name=op.f("uq_loyalty_referrals_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("loyalty_referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_referrals_referrer", ["referrer_account_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_loyalty_referrals_status", ["status"], unique=False)

    op.create_table(
        "loyalty_tier_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("from_tier", sa.String(length=50), nullable=True),
        sa.Column("to_tier", sa.String(length=50), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("qualifying", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_tier_changes_account_id_loyalty_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tier_changes")),
    )
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_tier_changes_account", ["account_id", "changed_at"], unique=False
        )

    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("tier_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("expiring_points", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("expiring_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("referral_code", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_loyalty_accounts_referral_code"), ["referral_code"]
        )

    op.create_table(
        "loyalty_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_loyalty_cursors")),
    )
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("refunded_minor", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_loyalty_entries_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_entries_expires")
        batch_op.drop_column("refunded_minor")
        batch_op.drop_column("amount_minor")

    op.drop_table("loyalty_cursors")

    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_loyalty_accounts_referral_code"), type_="unique")
        batch_op.drop_column("referral_code")
        batch_op.drop_column("expiring_at")
        batch_op.drop_column("expiring_points")
        batch_op.drop_column("last_activity_at")
        batch_op.drop_column("tier_until")
        batch_op.drop_column("tier_since")
        batch_op.drop_column("tier")

    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_tier_changes_account")

    op.drop_table("loyalty_tier_changes")
    with op.batch_alter_table("loyalty_referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_referrals_status")
        batch_op.drop_index("ix_loyalty_referrals_referrer")

    op.drop_table("loyalty_referrals")
    with op.batch_alter_table("loyalty_coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_coupons_account_reward")

    op.drop_table("loyalty_coupons")
