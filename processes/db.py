"""Database engine set-up shared by the web app, the CLI and tests: SQLite in WAL mode with write
transactions that take the lock up front; PostgreSQL as it is."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import sessionmaker


def configure(engine: SqlEngine) -> SqlEngine:
    """Install SQLite pragmas and the BEGIN IMMEDIATE rule on an engine (no-op for other databases)."""
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # We issue BEGIN ourselves (below); pysqlite's own implicit transactions would get in the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed step survives a power cut, not only a crash ("never loses an order").
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        if connection.get_execution_options().get("orderflow_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def writer_lock(engine: SqlEngine) -> AbstractContextManager:
    """SQLite has one writer at a time. Queueing writers of this process on a mutex beats SQLite's busy
    handler, which sleeps up to 100 ms between tries; other processes still wait through busy_timeout."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.Lock())


def make_engine(url: str, **options) -> SqlEngine:
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        options.setdefault("pool_pre_ping", True)
    return configure(create_engine(url, **options))


def make_session_factory(engine: SqlEngine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
