"""The model store: model files kiosks download from the hub, pinned by SHA-256.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_files",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("normalisation", sa.Text, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_files")
