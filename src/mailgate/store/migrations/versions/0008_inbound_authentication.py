"""inbound authentication — owned by E (SPF, DKIM, DMARC verdicts on received mail)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("peer_ip", sa.String(length=45), nullable=True))
        batch.add_column(sa.Column("helo", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("auth", sa.JSON(), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("auth_warning", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("auth_warning")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("auth")
        batch.drop_column("helo")
        batch.drop_column("peer_ip")
