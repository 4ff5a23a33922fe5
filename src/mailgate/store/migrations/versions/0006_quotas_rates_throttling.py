"""quotas rates throttling — owned by C (quotas, rates, throttling, held mail, failover)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LIMITS = ("daily_quota", "rate_per_second", "rate_per_minute", "max_connections")


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC")
        )
    for table in ("transports", "sending_domains"):
        with op.batch_alter_table(table) as batch:
            for name in _LIMITS:
                batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    with op.batch_alter_table("transports") as batch:
        # No foreign key: a deleted fallback is simply no failover (queue/failover.py).
        batch.add_column(sa.Column("fallback_transport_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("failover_after", sa.Integer(), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(
            sa.Column("throttled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "send_counters",
        sa.Column("scope_key", sa.String(80), primary_key=True),
        sa.Column("window", sa.String(8), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("exhausted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "destination_throttles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "transport_id",
            sa.String(40),
            sa.ForeignKey("transports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("concurrency", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("cut_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("transport_id", "domain", name="uq_destination_throttles"),
    )


def downgrade() -> None:
    op.drop_table("destination_throttles")
    op.drop_table("send_counters")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("throttled")
    with op.batch_alter_table("transports") as batch:
        batch.drop_column("failover_after")
        batch.drop_column("fallback_transport_id")
    for table in ("sending_domains", "transports"):
        with op.batch_alter_table(table) as batch:
            for name in reversed(_LIMITS):
                batch.drop_column(name)
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("timezone")
