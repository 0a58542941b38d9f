"""Questionnaire versions and profile facts with provenance.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "questionnaire_versions",
        sa.Column("form_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("titles", Json, nullable=False),
        sa.Column("survey", Json, nullable=False),
        sa.Column("facts", Json, nullable=False),
        sa.Column("xlsx_sha256", sa.String(64), nullable=False),
        sa.Column("xlsx", sa.LargeBinary, nullable=False),
        sa.Column("imported_at", Moment, nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "profile_facts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("detainee_id", sa.String(64), nullable=False),
        sa.Column("fact", sa.String(64), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("provenance", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("form_id", sa.String(128)),
        sa.Column("form_version", sa.String(64)),
        sa.Column("question", sa.String(128)),
        sa.Column("event_id", sa.String(36)),
        sa.Column("recorded_at", Moment, nullable=False),
        sa.Column("superseded_by", sa.BigInteger),
    )
    op.create_index("ix_profile_facts_detainee", "profile_facts", ["detainee_id", "fact"])


def downgrade() -> None:
    op.drop_table("profile_facts")
    op.drop_table("questionnaire_versions")
