"""netpolicy: an operator's approval to reach a private network, per transport, source, webhook

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Set only when an operator saved the host (mailgate.services.network): a workspace
#: key that changes the host clears it, and the connect-time check applies again.
_TABLES = ("transports", "sources", "webhook_subscriptions")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "private_network", sa.Boolean(), nullable=False, server_default=sa.false()
                )
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("private_network")
