"""Precompiled statements (processes/core/statements.py) store and read what SQLAlchemy's own execute does, on SQLite
and on PostgreSQL (with the project's driver), and fail the way callers expect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, cast, insert, select, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import Text

from processes.core.db import make_engine
from processes.core.models import Base, Deployment, Job, ProcessDefinition, ProcessInstance
from processes.core.statements import Statement
from tests.support.postgres import fresh_database

jobs = Job.__table__


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEngine]:
    if request.param == "sqlite":
        sql = make_engine(f"sqlite:///{tmp_path / 'statements.db'}")
        Base.metadata.create_all(sql)
        yield sql
        sql.dispose()
        return
    with fresh_database("of_statements") as url:
        sql = make_engine(url)
        Base.metadata.create_all(sql)
        yield sql
        sql.dispose()


def _job(job_id: str, **values) -> dict:
    row = {column.name: None for column in jobs.c}
    row.update(id=job_id, instance_id="i1", kind="service", status="ready", attempt=1, max_attempts=3)
    row.update(due_at=datetime(2026, 1, 2, 3, 4, 5, 678901), created_at=datetime(2026, 1, 2), variables={"a": [1]})
    row.update(updated_at=datetime(2026, 1, 2), **values)
    return row


def _seed(connection) -> None:
    connection.execute(insert(Deployment.__table__), {"id": "d1", "created_at": datetime(2026, 1, 1)})
    connection.execute(
        insert(ProcessDefinition.__table__),
        {"id": "p:1", "key": "p", "version": 1, "deployment_id": "d1", "resource_name": "p.bpmn",
         "content_hash": "h", "xml": "<x/>", "spec_json": "{}", "created_at": datetime(2026, 1, 1)},
    )  # fmt: skip
    connection.execute(
        insert(ProcessInstance.__table__),
        {"id": "i1", "definition_id": "p:1", "process_key": "p", "definition_version": 1, "status": "running",
         "revision": 0, "state": "", "variables": {}, "active_elements": [], "created_at": datetime(2026, 1, 1),
         "updated_at": datetime(2026, 1, 1)},
    )  # fmt: skip


def test_rows_written_and_read_are_those_of_sqlalchemys_execute(database: SqlEngine) -> None:
    stored = select(*(cast(c, Text) for c in (jobs.c.due_at, jobs.c.variables, jobs.c.lock_expires_at)))
    with database.begin() as connection:
        _seed(connection)
        connection.execute(insert(jobs), [_job("by-sqlalchemy")])
        Statement(insert(jobs)).execute_many(connection, [_job("by-statement"), _job("second", variables=None)])
        # The same text in the database, whoever wrote it (datetimes on SQLite, JSON everywhere).
        assert (
            connection.execute(stored.where(jobs.c.id == "by-statement")).one()
            == connection.execute(stored.where(jobs.c.id == "by-sqlalchemy")).one()
        )

        by_instance = select(jobs).where(jobs.c.instance_id == bindparam("instance_id")).order_by(jobs.c.id)
        rows = Statement(by_instance).rows(connection, {"instance_id": "i1"})
        assert rows == [dict(r) for r in connection.execute(by_instance, {"instance_id": "i1"}).mappings()]
        assert rows[0]["due_at"] == datetime(2026, 1, 2, 3, 4, 5, 678901) and rows[0]["variables"] == {"a": [1]}
        assert [r["variables"] for r in rows] == [{"a": [1]}, {"a": [1]}, None]

        changed = Statement(update(jobs).where(jobs.c.status == "ready").values(status=bindparam("new")))
        assert changed.execute(connection, {"new": "locked"}) == 3
        assert changed.execute(connection, {"new": "done"}) == 0
        assert Statement(select(jobs.c.due_at).where(jobs.c.id == "second")).scalar(connection) == datetime(
            2026, 1, 2, 3, 4, 5, 678901
        )


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5),  # whole seconds: SQLAlchemy still writes the microseconds on SQLite
        datetime(2026, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 1, 2, 3, 4, 5, 7),
        datetime(987, 6, 5, 4, 3, 2, 1),  # a year of three digits
        date(2026, 3, 4),  # a date where a timestamp goes
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2))),  # aware: SQLite drops the offset
    ],
)
def test_a_timestamp_is_stored_as_sqlalchemy_stores_it(database: SqlEngine, moment) -> None:
    stored = select(cast(jobs.c.due_at, Text)).where(jobs.c.id == bindparam("id"))
    with database.begin() as connection:
        _seed(connection)
        connection.execute(insert(jobs), [_job("by-sqlalchemy", due_at=moment)])
        Statement(insert(jobs)).execute_many(connection, [_job("by-statement", due_at=moment)])
        Statement(update(jobs).where(jobs.c.id == "by-sqlalchemy").values(lock_expires_at=bindparam("at"))).execute(
            connection, {"at": moment}
        )
        connection.execute(update(jobs).where(jobs.c.id == "by-statement").values(lock_expires_at=moment))
        text = connection.execute(stored, {"id": "by-sqlalchemy"}).scalar()
        assert connection.execute(stored, {"id": "by-statement"}).scalar() == text
        expires = select(cast(jobs.c.lock_expires_at, Text)).order_by(jobs.c.id)
        assert len(set(connection.execute(expires).scalars())) == 1


def test_a_driver_error_is_raised_as_sqlalchemys_and_rolls_back_with_the_transaction(database: SqlEngine) -> None:
    with database.connect() as connection:
        with connection.begin():
            _seed(connection)
            Statement(insert(jobs)).execute_many(connection, [_job("j1")])
        with pytest.raises(IntegrityError), connection.begin():
            Statement(insert(jobs)).execute_many(connection, [_job("j1")])
    with database.connect() as connection:
        assert connection.execute(select(jobs.c.id)).scalars().all() == ["j1"]


def test_a_statement_that_needs_rewriting_at_execution_is_refused() -> None:
    sql = make_engine("sqlite://")
    with sql.connect() as connection, pytest.raises(ValueError, match="expanding"):
        Statement(select(jobs.c.id).where(jobs.c.status.in_(["ready", "locked"]))).rows(connection)
    sql.dispose()
