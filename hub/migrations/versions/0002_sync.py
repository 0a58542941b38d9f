"""Devices, detainees, badges, templates, staff, sync documents and the change feed.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("wing", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
    )
    op.create_table(
        "detainees",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("prison_number", sa.String(64), nullable=False, unique=True),
        sa.Column("name_latin", sa.String(200), nullable=False),
        sa.Column("name_arabic", sa.String(200), nullable=False),
        sa.Column("preferred_language", sa.String(16), nullable=False),
        sa.Column("literate", sa.Boolean, nullable=False),
        sa.Column("photo_thumbnail", sa.LargeBinary),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("wing", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_index("ix_detainees_wing", "detainees", ["site", "wing"])
    op.create_table(
        "badges",
        sa.Column("uid", sa.String(20), primary_key=True),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_badges_owner_id", "badges", ["owner_id"])
    op.create_table(
        "templates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("detainee_id", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_templates_detainee_id", "templates", ["detainee_id"])
    op.create_table(
        "staff",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sync_documents",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("wing", sa.String(64)),
        sa.Column("data", Json, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sync_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("wing", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("at", Moment, nullable=False),
    )
    op.create_index("ix_sync_changes_site", "sync_changes", ["site", "id"])


def downgrade() -> None:
    for table in (
        "sync_changes",
        "sync_documents",
        "staff",
        "templates",
        "badges",
        "detainees",
        "devices",
    ):
        op.drop_table(table)
