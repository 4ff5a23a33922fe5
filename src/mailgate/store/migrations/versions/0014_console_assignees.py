"""console: conversations assigned to a user (the agents' inbox assignee filter)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite cannot add a foreign key to an existing table without recreating it.
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assignee_id", sa.String(40), nullable=True))
        batch.create_foreign_key(
            "fk_conversations_assignee",
            "console_users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Serves the inbox's "assigned to X, newest first" and the SET NULL when a user goes.
    op.create_index("ix_conversations_assignee", "conversations", ["assignee_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_assignee", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_assignee", type_="foreignkey")
        batch.drop_column("assignee_id")
