"""bulk campaigns: campaigns, recipients, dispatch state

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(40),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("from_addr", sa.String(998), nullable=False),
        sa.Column("reply_to", sa.String(998)),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("html", sa.Text()),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("send_at", when),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("rate_per_minute", sa.Integer()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("active_seconds", sa.Float(), nullable=False),
        sa.Column("resumed_at", when),
        sa.Column("progress_at", when),
        sa.Column("waiting", sa.Text()),
        sa.Column("blocked_until", when),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("finished_at", when),
    )
    op.create_index("ix_campaigns_ws", "campaigns", ["workspace_id", "id"])
    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "campaign_id",
            sa.String(40),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", when),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", when),
        sa.Column("message_id", sa.String(255)),
        sa.Column("template_version", sa.Integer()),
        sa.Column("sent_at", when),
        sa.Column("last_error", sa.Text()),
        # What the transport took it as: provider events (events/providers.py) find it by
        # the provider's id, and only through the transport that sent it.
        sa.Column("transport_id", sa.String(40)),
        sa.Column("provider_message_id", sa.String(255)),
        sa.UniqueConstraint("campaign_id", "email", name="uq_campaign_recipients_email"),
    )
    op.create_index(
        "ix_campaign_recipients_due", "campaign_recipients", ["campaign_id", "state", "id"]
    )
    op.create_index(
        "ix_campaign_recipients_message_id",
        "campaign_recipients",
        ["message_id"],
        sqlite_where=sa.text("message_id IS NOT NULL"),
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.create_index(
        "ix_campaign_recipients_provider_message_id",
        "campaign_recipients",
        ["provider_message_id"],
        sqlite_where=sa.text("provider_message_id IS NOT NULL"),
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.drop_table("campaigns")
