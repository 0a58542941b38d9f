"""Ingested events, per-device seq bookkeeping, dead letters, kiosk states.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("actor", sa.String(64)),
        sa.Column("body", Json, nullable=False),
        sa.Column("received_at", Moment, nullable=False),
        sa.Column("worker", sa.String(64)),
    )
    op.create_index("ix_events_device_seq", "events", ["site", "device", "seq"])
    op.create_index("ix_events_subject", "events", ["subject"])
    op.create_table(
        "device_streams",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("max_seq", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sa.Column("last_received_at", Moment),
    )
    op.create_table(
        "seq_gaps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("noted_at", Moment, nullable=False),
    )
    op.create_index("ix_seq_gaps_device", "seq_gaps", ["site", "device", "first_seq"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("payload_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("event_id", sa.String(64)),
        sa.Column("received_at", Moment, nullable=False),
    )
    op.create_table(
        "kiosk_states",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", Json, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )


def downgrade() -> None:
    for table in ("kiosk_states", "dead_letters", "seq_gaps", "device_streams", "events"):
        op.drop_table(table)
