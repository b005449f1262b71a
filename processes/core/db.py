"""Database engine set-up shared by the web app, the CLI and tests: SQLite in WAL mode with write
transactions that take the lock up front; PostgreSQL as it is."""

from __future__ import annotations

import os
import threading
import time
from contextlib import AbstractContextManager, nullcontext

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: writers of other processes wait in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")
BUSY_TIMEOUT_MS = 30_000
# How often a write transaction that SQLite still answers "database is locked" is begun again, and the first pause.
BEGIN_ATTEMPTS = 8
BEGIN_PAUSE_SECONDS = 0.05


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
        # The busy timeout first: switching to WAL itself may have to wait for another connection.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        if connection.get_execution_options().get("orderflow_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


class WriterLock:
    """SQLite has one writer at a time. Writers queue here instead of in SQLite's busy handler, which sleeps up to
    100 ms between tries and gives up after the busy timeout: first on a mutex of this process, then on an
    exclusive flock of a file beside the database, which writers in other processes (gunicorn workers, the CLI)
    take too. Both wait as long as it takes, so a burst of deployments, decisions and starts queues instead of
    failing with "database is locked". The file is opened per process: a forked child must not share its parent's
    lock."""

    def __init__(self, path: str | None) -> None:
        self._mutex = threading.Lock()
        self._path = path
        self._file = None
        self._pid = 0

    def __enter__(self) -> WriterLock:
        self._mutex.acquire()
        if self._path is not None:
            try:
                if self._pid != os.getpid():
                    self._file = open(self._path, "a+b")  # noqa: SIM115 - held for the life of the process
                    self._pid = os.getpid()
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            except BaseException:
                self._mutex.release()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._path is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._mutex.release()


_writer_locks: dict[str, WriterLock] = {}
_writer_locks_guard = threading.Lock()


def writer_lock(engine: SqlEngine) -> AbstractContextManager:
    """The lock every write transaction of this database takes first (see WriterLock); none on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    database = engine.url.database
    path = f"{database}-writer.lock" if database and database != ":memory:" and fcntl is not None else None
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, WriterLock(path))


def is_locked(error: BaseException) -> bool:
    """SQLite's "database is locked" / "database is busy": the same transaction can be begun again."""
    text = str(getattr(error, "orig", error)).lower()
    return "database is locked" in text or "database is busy" in text


def begin_with_retries(begin):
    """`begin()` (which issues BEGIN IMMEDIATE on SQLite), begun again with growing pauses while SQLite says the
    database is locked (the busy timeout ran out, or SQLite answered without waiting). Nothing has run in the
    transaction yet, so beginning again is safe."""
    pause = BEGIN_PAUSE_SECONDS
    for attempt in range(BEGIN_ATTEMPTS):
        try:
            return begin()
        except OperationalError as exc:
            if not is_locked(exc) or attempt == BEGIN_ATTEMPTS - 1:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    raise AssertionError("unreachable")  # pragma: no cover


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
