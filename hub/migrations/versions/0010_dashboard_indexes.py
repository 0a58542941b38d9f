"""Indexes for the dashboard's aggregates (hub.dashboard) at 100,000 detainees.

* ``detainees (state, site, wing, id)``: people in custody per establishment and wing read
  from the index alone, and the list of people in custody that the profile figures start
  from;
* ``events (type, at)``: questionnaire responses of the last 30 days, and those since the
  oldest open assignment, without reading every event ever received.

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0009"  # 0009_device_enrolment
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_detainees_held", "detainees", ["state", "site", "wing", "id"])
    op.create_index("ix_events_type_at", "events", ["type", "at"])


def downgrade() -> None:
    op.drop_index("ix_events_type_at", "events")
    op.drop_index("ix_detainees_held", "detainees")
