"""sending domains and their DKIM keys

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sending_domains",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_sending_domains_name"),
    )
    op.create_index("ix_sending_domains_due", "sending_domains", ["next_check_at"])
    op.create_table(
        "dkim_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("domain_id", sa.String(length=40), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),  # rsa-sha256 | ed25519-sha256
        sa.Column("private_key", sa.Text(), nullable=False),  # encrypted (crypto.SecretBox)
        sa.Column("public_key", sa.Text(), nullable=False),  # the p= value
        # pending (published, not yet verified) → active → retiring → retired
        sa.Column("state", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retire_after", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["domain_id"], ["sending_domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id", "selector", "algorithm", name="uq_dkim_keys_selector"),
    )


def downgrade() -> None:
    op.drop_table("dkim_keys")
    op.drop_index("ix_sending_domains_due", table_name="sending_domains")
    op.drop_table("sending_domains")
