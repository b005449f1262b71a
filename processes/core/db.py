"""Database engine set-up shared by the web app, the CLI and tests: SQLite in WAL mode with write
transactions that take the lock up front; PostgreSQL as it is."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session, sessionmaker

SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")


def configure(engine: SqlEngine, synchronous: str = "FULL") -> SqlEngine:
    """Install SQLite pragmas and the BEGIN IMMEDIATE rule on an engine (no-op for other databases).

    synchronous=FULL (the default) syncs the log at every commit: a committed step survives a power cut.
    NORMAL syncs only at checkpoints: a committed step survives a crash of orderflow, but the last commits
    before a power cut or OS crash can be lost. It is several times faster on slow disks."""
    if engine.dialect.name != "sqlite":
        return engine
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"SQLite synchronous must be one of {SYNCHRONOUS_LEVELS}, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # We issue BEGIN ourselves (below); pysqlite's own implicit transactions would get in the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
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


def make_engine(url: str, synchronous: str = "FULL", **options) -> SqlEngine:
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        options.update(postgres_options())
    return configure(create_engine(url, **options), synchronous)


def postgres_options() -> dict:
    # The engine step relies on READ COMMITTED: after waiting for a row lock, SELECT ... FOR UPDATE sees the
    # newest row. A server configured for REPEATABLE READ would make waiting steps fail instead.
    return {"pool_pre_ping": True, "isolation_level": "READ COMMITTED"}


def serialize_on(session: Session, name: str) -> None:
    """Make transactions that call this with the same name take turns (PostgreSQL advisory lock; SQLite's
    write transactions take turns anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def make_session_factory(engine: SqlEngine) -> sessionmaker:
    # No autoflush: a step changes objects in memory and writes them with one flush at the end.
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
