"""What a detainee's kiosk file needs: questionnaire drafts and scheduled movements.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)
Serial = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "questionnaire_drafts",
        sa.Column("detainee_id", sa.String(64), primary_key=True),
        sa.Column("form_id", sa.String(128), primary_key=True),
        sa.Column("form_version", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("current", sa.String(128), nullable=False),
        sa.Column("answers", Json, nullable=False),
        sa.Column("saved_at", Moment, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
    )
    op.create_table(
        "scheduled_movements",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("detainee_id", sa.String(64), nullable=False),
        sa.Column("to_location", sa.String(128), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("closed_at", Moment),
        sa.Column("closed_by", sa.String(128)),
    )
    op.create_index(
        "ix_scheduled_movements_detainee", "scheduled_movements", ["detainee_id", "state"]
    )


def downgrade() -> None:
    op.drop_index("ix_scheduled_movements_detainee", "scheduled_movements")
    op.drop_table("scheduled_movements")
    op.drop_table("questionnaire_drafts")
