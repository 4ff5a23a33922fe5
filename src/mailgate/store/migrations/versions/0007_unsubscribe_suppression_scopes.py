"""unsubscribe and suppression scopes — owned by D (unsubscribe, scopes, soft bounces)

messages.category (transactional | bulk); suppressions.scope (all | bulk), unique per
(workspace, address, scope) instead of (workspace, address); soft_bounces.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# 0001 left the (workspace_id, address) constraint unnamed: PostgreSQL named it itself;
# on SQLite the batch copy reflects it nameless, and this convention names it to drop it.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _old_unique() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "suppressions_workspace_id_address_key"
    return "uq_suppressions_workspace_id_address"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "category", sa.String(length=16), nullable=False, server_default="transactional"
            )
        )
    with op.batch_alter_table("suppressions", naming_convention=_SQLITE_NAMES) as batch:
        # Every existing entry (hard bounce, complaint, manual) keeps blocking everything.
        batch.add_column(
            sa.Column("scope", sa.String(length=8), nullable=False, server_default="all")
        )
        batch.drop_constraint(_old_unique(), type_="unique")
        batch.create_unique_constraint(
            "uq_suppressions_scope", ["workspace_id", "address", "scope"]
        )
    op.create_table(
        "soft_bounces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("message_pk", sa.String(length=40), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_soft_bounces_address", "soft_bounces", ["workspace_id", "address", "at"])


def downgrade() -> None:
    op.drop_index("ix_soft_bounces_address", table_name="soft_bounces")
    op.drop_table("soft_bounces")
    # Only one entry per address fits the old constraint: the scoped extras go.
    op.execute("DELETE FROM suppressions WHERE scope <> 'all'")
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_constraint("uq_suppressions_scope", type_="unique")
        batch.create_unique_constraint(_old_unique(), ["workspace_id", "address"])
        batch.drop_column("scope")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("category")
