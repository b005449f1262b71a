"""monitoring: when each audited element was entered, alert states, and a database guard that keeps audit_events
append-only

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only: events are never updated or deleted"

# SQLite: RAISE(ABORT) rolls back the statement. The triggers live with the table; a later migration that rebuilds
# audit_events (SQLite batch "recreate") must create them again.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
# PostgreSQL: row-level UPDATE and DELETE fail. TRUNCATE (a table-level operation for administrators, as is
# dropping the table) stays possible: retention is a decision for whoever runs the database.
POSTGRES_TRIGGERS = [
    "CREATE FUNCTION orderflow_audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION orderflow_audit_events_append_only()",
]


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_at", sa.DateTime(), nullable=True))
    op.create_table(
        "alert_states",
        sa.Column("key", sa.String(length=255), primary_key=True),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("notified", sa.String(length=20), nullable=True),
        sa.Column("sending_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS orderflow_audit_events_append_only()")
    op.drop_table("alert_states")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("entered_at")
