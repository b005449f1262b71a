"""SQLite writers queue instead of failing with "database is locked" (issue #15): writers of other processes wait
on the writer lock's file lock, and a write transaction SQLite still refuses is begun again."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from processes.core import db

HOLD = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import text
    from processes.core import db
    engine = db.make_engine(sys.argv[1])
    with db.writer_lock(engine), engine.connect() as connection:
        connection = connection.execution_options(orderflow_write=True)
        with connection.begin():
            connection.execute(text("INSERT INTO t VALUES ('other process')"))
            print("holding", flush=True)
            time.sleep(1.5)
    """
)


def _short_waiting_engine(url: str, monkeypatch):
    # SQLite's own busy handler gives up at once here, so only the writer lock and the retries can make it pass.
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1)
    return db.make_engine(url, connect_args={"check_same_thread": False, "timeout": 0.001})


def test_a_writer_waits_for_a_writer_of_another_process(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    engine = _short_waiting_engine(url, monkeypatch)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (who TEXT)"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with db.writer_lock(engine), engine.connect() as connection:
            connection = connection.execution_options(orderflow_write=True)
            with db.begin_with_retries(connection.begin):
                connection.execute(text("INSERT INTO t VALUES ('this process')"))
    finally:
        holder.wait(timeout=30)
    with engine.connect() as connection:
        assert sorted(connection.scalars(text("SELECT who FROM t"))) == ["other process", "this process"]


def test_a_write_transaction_refused_as_locked_is_begun_again(tmp_path: Path, monkeypatch) -> None:
    """A writer that does not take the writer lock (an older orderflow, the sqlite3 shell) holds the database for a
    moment: the step's BEGIN IMMEDIATE is refused at once and begun again until it gets through."""
    url = f"sqlite:///{tmp_path / 'retries.db'}"
    engine = _short_waiting_engine(url, monkeypatch)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (who TEXT)"))
    raw = HOLD.replace("with db.writer_lock(engine), engine.connect()", "with engine.connect()").replace("1.5", "0.3")
    holder = subprocess.Popen([sys.executable, "-c", raw, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with engine.connect() as connection:
            connection = connection.execution_options(orderflow_write=True)
            with db.begin_with_retries(connection.begin):
                connection.execute(text("INSERT INTO t VALUES ('this process')"))
    finally:
        holder.wait(timeout=30)
    with engine.connect() as connection:
        assert sorted(connection.scalars(text("SELECT who FROM t"))) == ["other process", "this process"]
