"""Order lines: keyed by (order_id, line_no), without a surrogate id.

Nothing referred to a line's own id: lines are read and replaced per order, in line order.
One index and one sequence fewer to update per line (SQLite: a WITHOUT ROWID table, the lines
stored in key order) speed up bulk ingestion, and the table is smaller.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 18:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_order_lines_order_id_line_no", "order_lines", type_="unique")
        op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
        op.drop_column("order_lines", "id")  # and its sequence
        op.create_primary_key("pk_order_lines", "order_lines", ["order_id", "line_no"])
        return
    # SQLite changes a key by rebuilding the table (Alembic's batch mode left the new key out).
    # Python's sqlite3 runs CREATE TABLE outside the transaction: a failed earlier try may have
    # left the new table behind, empty.
    op.execute("DROP TABLE IF EXISTS order_lines_new")
    op.create_table(
        "order_lines_new",
        *_columns(),
        sa.PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
        sqlite_with_rowid=False,
    )
    _copy("order_lines", "order_lines_new")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
        op.execute("ALTER TABLE order_lines ADD COLUMN id SERIAL")  # numbers the lines
        op.create_primary_key("pk_order_lines", "order_lines", ["id"])
        op.create_unique_constraint(
            "uq_order_lines_order_id_line_no", "order_lines", ["order_id", "line_no"]
        )
        return
    op.execute("DROP TABLE IF EXISTS order_lines_old")  # as in upgrade
    op.create_table(
        "order_lines_old",
        sa.Column("id", sa.Integer(), nullable=False),
        *_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_order_lines"),
        sa.UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_id_line_no"),
    )
    _copy("order_lines", "order_lines_old")  # SQLite numbers the lines (INTEGER PRIMARY KEY)


def _columns() -> list[Any]:
    """The columns the two shapes share, and the foreign key to orders."""
    return [
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_order_lines_order_id_orders",
            ondelete="CASCADE",
        ),
    ]


def _copy(source: str, target: str) -> None:
    """SQLite: copy the lines into ``target``, drop ``source`` and name ``target`` for it."""
    columns = "order_id, line_no, sku, name, quantity, amount_minor"
    op.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}")  # noqa: S608 (fixed names)
    op.drop_table(source)
    op.rename_table(target, "order_lines")
