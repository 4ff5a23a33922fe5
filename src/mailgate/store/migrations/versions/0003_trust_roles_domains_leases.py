"""trust: operator keys, receiving domains, source leases, thread admission, breakers

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Operator keys belong to no workspace.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("workspace_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(
            sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "receiving_domains",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain", name="uq_receiving_domains_domain"),
    )

    # One poller per source across every process: the source row carries the lease.
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        # "participants": only a thread's people join it on In-Reply-To/References;
        # "anyone": any sender who quotes the thread's Message-ID joins.
        batch_op.add_column(
            sa.Column(
                "thread_admission",
                sa.String(length=16),
                nullable=False,
                server_default="participants",
            )
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # A stranger's answer to a thread opens a new conversation linked to it.
        batch_op.add_column(sa.Column("related_id", sa.String(length=40), nullable=True))

    # RFC 3834 §2 rate breaker: automatic mail per correspondent in a window.
    op.create_table(
        "correspondent_breakers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("tripped_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "address", name="uq_correspondent_breakers"),
    )


def downgrade() -> None:
    op.drop_table("correspondent_breakers")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("related_id")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("thread_admission")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
    op.drop_table("receiving_domains")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("operator")
        batch_op.alter_column("workspace_id", existing_type=sa.String(length=40), nullable=False)
