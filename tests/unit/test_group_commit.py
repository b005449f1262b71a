"""Group commit on SQLite (processes/core/db.py, ORDERFLOW_SQLITE_SYNCHRONOUS=GROUP, the default): a write's commit
returns only after a sync of the log that covers it, one sync covers every commit made before it began, and the sync
runs after the writer lock is released. On a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from processes.core import db


@pytest.fixture
def sql(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'orderflow.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)"))
    yield engine
    engine.dispose()


def _write(sql, note: str) -> None:
    with db.writer_lock(sql), sql.connect() as connection:
        with connection.execution_options(orderflow_write=True).begin():
            connection.execute(text("INSERT INTO orders (note) VALUES (:note)"), {"note": note})


def test_a_write_returns_after_a_sync_and_a_read_syncs_nothing(sql) -> None:
    sync = db.database_files(sql).sync
    syncs = sync.syncs
    _write(sql, "first")
    assert sync.syncs == syncs + 1
    with sql.begin() as connection:  # a read that commits
        assert connection.execute(text("SELECT note FROM orders")).scalar() == "first"
    assert sync.syncs == syncs + 1


def test_the_sync_runs_after_the_writer_lock_is_released(sql) -> None:
    sync = db.database_files(sql).sync
    lock = db.writer_lock(sql)
    syncs = sync.syncs
    with lock, sql.connect() as connection:
        with connection.execution_options(orderflow_write=True).begin():
            connection.execute(text("INSERT INTO orders (note) VALUES ('held')"))
        assert sync.syncs == syncs  # committed, not yet synced: the next writer need not wait for the disk
    assert sync.syncs == syncs + 1  # synced once the lock was released, before the writer went on
    _write(sql, "next")
    with sql.connect() as connection:
        assert sorted(connection.execute(text("SELECT note FROM orders")).scalars()) == ["held", "next"]


def test_one_sync_covers_every_commit_made_before_it_began(sql) -> None:
    sync = db.database_files(sql).sync
    syncs = sync.syncs
    tickets = [sync.committed() for _ in range(3)]  # three commits waiting for the disk
    sync.wait(tickets[-1])
    assert sync.syncs == syncs + 1
    sync.wait(tickets[0])  # already covered
    assert sync.syncs == syncs + 1


def test_full_and_normal_commit_as_sqlite_does(tmp_path: Path) -> None:
    for level in ("FULL", "NORMAL"):
        engine = db.make_engine(f"sqlite:///{tmp_path / level}.db", level)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == {"FULL": 2, "NORMAL": 1}[level]
        engine.dispose()
    with pytest.raises(ValueError, match="synchronous"):
        db.make_engine(f"sqlite:///{tmp_path / 'x'}.db", "OFF")
