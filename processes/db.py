"""Database engine set-up shared by the web app, the CLI and tests: SQLite in WAL mode with write
transactions that take the lock up front; PostgreSQL as it is."""

from __future__ import annotations

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


def make_engine(url: str, **options) -> SqlEngine:
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        options.setdefault("pool_pre_ping", True)
    return configure(create_engine(url, **options))


def make_session_factory(engine: SqlEngine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
