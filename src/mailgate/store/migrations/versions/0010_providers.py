"""providers: HTTP transports' provider message ids and answers, account state, provider events

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # HTTP transports (outbound/http.py): the provider's id and answer per attempt,
    # the id per recipient (provider events match on it), the account's state.
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("provider_message_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("provider_response", sa.Text(), nullable=True))
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("provider_message_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(length=20), nullable=True))
        batch.add_column(
            sa.Column("provider_event_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_recipients_provider_message_id", ["provider_message_id"])
    with op.batch_alter_table("transports") as batch:
        batch.add_column(sa.Column("provider_state", sa.JSON(), nullable=True))
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "transport_id",
            sa.String(length=40),
            sa.ForeignKey("transports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("replay_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("message_pk", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("transport_id", "replay_key", name="uq_provider_events_replay"),
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    with op.batch_alter_table("transports") as batch:
        batch.drop_column("provider_state")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_index("ix_recipients_provider_message_id")
        batch.drop_column("provider_event_at")
        batch.drop_column("provider_status")
        batch.drop_column("provider_message_id")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("provider_response")
        batch.drop_column("provider_message_id")
