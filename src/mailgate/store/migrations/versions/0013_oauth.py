"""oauth: connections to OAuth2 providers (XOAUTH2/OAUTHBEARER for SMTP and IMAP)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "workspace_id", sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE")
        ),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(400), nullable=False),
        sa.Column("secrets", sa.Text()),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "oauth_connections",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(40),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "client_ref",
            sa.String(40),
            sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "transport_id",
            sa.String(40),
            sa.ForeignKey("transports.id", ondelete="CASCADE"),
            unique=True,
        ),
        sa.Column(
            "source_id", sa.String(40), sa.ForeignKey("sources.id", ondelete="CASCADE"), unique=True
        ),
        sa.Column("tokens", sa.Text()),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("scope", sa.Text()),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oauth_connections")
    op.drop_table("oauth_clients")
