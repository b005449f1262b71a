"""messages: subscriptions of waiting elements, message start events per definition

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("message_name", sa.String(length=255), nullable=False),
        sa.Column("correlation_key", sa.String(length=255), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_route", ["message_name", "correlation_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_subscriptions_instance_id"), ["instance_id"], unique=False)
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_starts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_column("message_starts")
    with op.batch_alter_table("message_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_subscriptions_instance_id"))
        batch_op.drop_index("ix_subscriptions_route")
    op.drop_table("message_subscriptions")
