"""linked Camunda Forms: `.form` files deployed with the diagrams, versioned like decisions

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_definitions",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("deployment_id", sa.String(length=32), sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    with op.batch_alter_table("form_definitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_definitions_key"), ["key"], unique=False)


def downgrade() -> None:
    op.drop_table("form_definitions")
