"""A draft's stamp (protocol.ordering): the kiosk and seq of the event that saved it, its
time capped at its arrival, and the other kiosk's draft it went on from (resumed_source,
resumed_seq), so that drafts and responses are ordered by seq within a kiosk, after what
they resumed, and never by a kiosk clock ahead of the hub's. Existing drafts take their
event's stamp.

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"  # 0010_dashboard_indexes
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("questionnaire_drafts") as table:
        table.add_column(sa.Column("source", sa.String(130)))
        table.add_column(sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
        table.add_column(sa.Column("ordered_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("resumed_source", sa.String(130)))
        table.add_column(sa.Column("resumed_seq", sa.BigInteger))
    op.execute(
        "UPDATE questionnaire_drafts SET "
        "source = (SELECT e.site || '/' || e.device FROM events e WHERE e.id = event_id), "
        "seq = coalesce((SELECT e.seq FROM events e WHERE e.id = event_id), 0), "
        "ordered_at = coalesce((SELECT CASE WHEN e.at <= e.received_at THEN e.at "
        "ELSE e.received_at END FROM events e WHERE e.id = event_id), saved_at)"
    )
    with op.batch_alter_table("questionnaire_drafts") as table:
        table.alter_column("ordered_at", nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("questionnaire_drafts") as table:
        for column in ("resumed_seq", "resumed_source", "ordered_at", "seq", "source"):
            table.drop_column(column)
