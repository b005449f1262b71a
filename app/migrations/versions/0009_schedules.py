"""jobs.instance_id may be empty: a timer start event's schedule is a job that belongs to no instance yet

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("instance_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    # Schedules cannot exist without the column being nullable: they go, and are made again by the next deploy.
    op.execute("DELETE FROM jobs WHERE instance_id IS NULL")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("instance_id", existing_type=sa.String(length=32), nullable=False)
