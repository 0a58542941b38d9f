"""Detainee search from an indexed word table instead of a scan of a folded-names column.

The words come from the running code's hub.search.search_rows: a later change to how names
are folded needs a migration of its own that rebuilds the table the same way.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from hub.search import search_rows

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SearchText = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")


def upgrade() -> None:
    words = op.create_table(
        "detainee_search_words",
        sa.Column("word", SearchText, primary_key=True),
        sa.Column("detainee_id", sa.String(64), primary_key=True),
    )
    op.create_index(
        "ix_detainee_search_words_detainee_id", "detainee_search_words", ["detainee_id"]
    )
    people = op.get_bind().execute(
        sa.text("SELECT id, prison_number, name_latin, name_arabic FROM detainees")
    )
    while batch := people.fetchmany(5000):
        rows = [row for p in batch for row in search_rows(p[0], p[1], p[2], p[3])]
        op.bulk_insert(words, rows)
    op.drop_index("ix_detainees_name_search", "detainees")
    with op.batch_alter_table("detainees") as table:
        table.drop_column("name_search")


def downgrade() -> None:
    """Back to 0005's column, left empty: searching by name needs 0006 again."""
    with op.batch_alter_table("detainees") as table:
        table.add_column(
            sa.Column("name_search", sa.String(400), nullable=False, server_default="")
        )
    op.create_index("ix_detainees_name_search", "detainees", ["name_search"])
    op.drop_table("detainee_search_words")
