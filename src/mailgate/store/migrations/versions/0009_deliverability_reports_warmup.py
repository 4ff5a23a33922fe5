"""deliverability: DMARC aggregate reports received, quota warm-up; address states;
alias domains (sender and reply-to per company)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("transports", "sending_domains"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("warmup", sa.JSON(), nullable=True))
            batch.add_column(sa.Column("warmup_state", sa.JSON(), nullable=True))
    op.create_table(
        "dmarc_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "workspace_id",
            sa.String(40),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "domain_id",
            sa.String(40),
            sa.ForeignKey("sending_domains.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message_pk", sa.String(40), nullable=True),
        sa.Column("org_name", sa.String(255), nullable=False),
        sa.Column("report_id", sa.String(255), nullable=False),
        sa.Column("begin_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("domain_id", "org_name", "report_id", name="uq_dmarc_reports"),
    )
    op.create_index("ix_dmarc_reports_domain", "dmarc_reports", ["domain_id", "begin_at"])
    op.create_table(
        "alias_domains",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(40),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column(
            "transport_id",
            sa.String(40),
            sa.ForeignKey("transports.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("reply_to", sa.String(320), nullable=True),
        sa.Column("catchall", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("workspace_id", "domain", name="uq_alias_domains"),
    )
    with op.batch_alter_table("addresses") as batch:
        batch.add_column(sa.Column("verify_message_pk", sa.String(40), nullable=True))
        batch.add_column(
            sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("alias_domains")
    with op.batch_alter_table("addresses") as batch:
        batch.drop_column("disconnected_at")
        batch.drop_column("is_default")
        batch.drop_column("verify_message_pk")
    op.drop_index("ix_dmarc_reports_domain", table_name="dmarc_reports")
    op.drop_table("dmarc_reports")
    for table in ("sending_domains", "transports"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("warmup_state")
            batch.drop_column("warmup")
