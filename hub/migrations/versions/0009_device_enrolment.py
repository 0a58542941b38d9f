"""Kiosk identities: enrolment state and certificate serial per device, one-time tokens.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices") as table:
        table.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="registered")
        )
        table.add_column(sa.Column("cert_serial", sa.String(64)))
        table.add_column(sa.Column("enrolled_at", Moment))
        table.add_column(sa.Column("revoked_at", Moment))
    op.create_table(
        "enrolment_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("used_at", Moment),
    )
    op.create_index("ix_enrolment_tokens_device", "enrolment_tokens", ["site", "device"])


def downgrade() -> None:
    op.drop_index("ix_enrolment_tokens_device", "enrolment_tokens")
    op.drop_table("enrolment_tokens")
    with op.batch_alter_table("devices") as table:
        for column in ("revoked_at", "enrolled_at", "cert_serial", "state"):
            table.drop_column(column)
