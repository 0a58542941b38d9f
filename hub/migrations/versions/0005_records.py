"""The master records: intake fields, users and sessions, assignments, training, health,
movements, plans and consents.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)
Serial = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("detainees") as table:
        table.add_column(sa.Column("birth_date", sa.Date))
        table.add_column(sa.Column("nationality", sa.String(64)))
        table.add_column(sa.Column("languages", Json, nullable=False, server_default="[]"))
        table.add_column(sa.Column("cell", sa.String(32)))
        table.add_column(sa.Column("admission_date", sa.Date))
        table.add_column(sa.Column("expected_release_date", sa.Date))
        table.add_column(sa.Column("released_on", sa.Date))
        table.add_column(sa.Column("location", sa.String(128)))
        table.add_column(sa.Column("location_at", Moment))
        table.add_column(
            sa.Column("name_search", sa.String(400), nullable=False, server_default="")
        )
    op.create_index("ix_detainees_name_search", "detainees", ["name_search"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject", "id"])

    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("site", sa.String(64)),
        sa.Column("partner", sa.String(128)),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("last_seen_at", Moment, nullable=False),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", Moment, nullable=False),
        sa.Column("locked_until", Moment),
    )
    op.create_table(
        "questionnaire_assignments",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("form_id", sa.String(128), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("detainee_id", sa.String(64)),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("wing", sa.String(64)),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("assigned_by", sa.String(128), nullable=False),
        sa.Column("assigned_at", Moment, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_assignments_detainee", "questionnaire_assignments", ["detainee_id"])
    op.create_index("ix_assignments_wing", "questionnaire_assignments", ["site", "wing"])
    op.create_table(
        "programmes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("titles", Json, nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("min_isced", sa.Integer),
        sa.Column("requires_literacy", sa.Boolean, nullable=False),
        sa.Column("min_days_before_release", sa.Integer),
        sa.Column("isco_codes", Json, nullable=False),
        sa.Column("skills", Json, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "enrolments",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("programme_id", sa.String(64), nullable=False),
        sa.Column("detainee_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("requested_at", Moment, nullable=False),
        sa.Column("requested_via", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), unique=True),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", Moment),
        sa.Column("completed_at", Moment),
    )
    op.create_index("ix_enrolments_programme", "enrolments", ["programme_id", "state"])
    op.create_index("ix_enrolments_detainee", "enrolments", ["detainee_id"])
    op.create_table(
        "attendance",
        sa.Column("enrolment_id", sa.BigInteger, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("present", sa.Boolean, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", Moment, nullable=False),
    )
    op.create_table(
        "screenings",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("detainee_id", sa.String(64), nullable=False, index=True),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("form_version", sa.String(64)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("band", sa.String(32), nullable=False),
        sa.Column("items", Json, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), unique=True),
        sa.Column("taken_at", Moment, nullable=False),
    )
    op.create_table(
        "health_alerts",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("detainee_id", sa.String(64), nullable=False, index=True),
        sa.Column("screening_id", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raised_at", Moment, nullable=False),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_at", Moment),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "movements",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("detainee_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64)),
        sa.Column("from_location", sa.String(128), nullable=False),
        sa.Column("to_location", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("modalities", Json, nullable=False),
        sa.Column("at", Moment, nullable=False),
    )
    op.create_index("ix_movements_detainee", "movements", ["detainee_id", "at"])
    op.create_table(
        "plans",
        sa.Column("detainee_id", sa.String(64), primary_key=True),
        sa.Column("goals", Json, nullable=False),
        sa.Column("steps", Json, nullable=False),
        sa.Column("referrals", Json, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "consents",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("detainee_id", sa.String(64), nullable=False, index=True),
        sa.Column("partner", sa.String(128), nullable=False),
        sa.Column("sections", Json, nullable=False),
        sa.Column("given_at", Moment, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("withdrawn_at", Moment),
        sa.Column("withdrawn_by", sa.String(128)),
    )


def downgrade() -> None:
    for name in (
        "consents",
        "plans",
        "movements",
        "health_alerts",
        "screenings",
        "attendance",
        "enrolments",
        "programmes",
        "questionnaire_assignments",
        "login_throttle",
        "web_sessions",
        "users",
    ):
        op.drop_table(name)
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_detainees_name_search", "detainees")
    with op.batch_alter_table("detainees") as table:
        for column in (
            "name_search",
            "location_at",
            "location",
            "released_on",
            "expected_release_date",
            "admission_date",
            "cell",
            "languages",
            "nationality",
            "birth_date",
        ):
            table.drop_column(column)
