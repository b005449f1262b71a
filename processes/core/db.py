"""Database engine set-up shared by the web app, the CLI and tests: SQLite in WAL mode with write
transactions that take the lock up front; PostgreSQL as it is."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: writers of other processes wait in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from processes.core import json_columns
from processes.errors import InternalError

SYNCHRONOUS_LEVELS = ("GROUP", "FULL", "NORMAL")
BUSY_TIMEOUT_MS = 30_000
# How often a write transaction that SQLite still answers "database is locked" is begun again, and the first pause.
BEGIN_ATTEMPTS = 8
BEGIN_PAUSE_SECONDS = 0.05


def configure(engine: SqlEngine, synchronous: str = "GROUP") -> SqlEngine:
    """Install SQLite pragmas, the BEGIN IMMEDIATE rule and the commit's durability on an engine (no-op for other
    databases).

    GROUP (the default) writes a commit without syncing it while the writer lock is held; the committer goes on
    (answers, hands out jobs) only after one fdatasync of the log that covers its commit, shared by every commit
    made meanwhile (group commit, see GroupSync). A step anyone was told about survives a power cut, as with FULL,
    but the sync no longer holds up the next writer.
    FULL syncs the log inside every commit: the same durability, one sync per commit under the writer lock.
    NORMAL syncs only at checkpoints: a committed step survives a crash of orderflow, but the last commits before
    a power cut or OS crash can be lost, also those already answered."""
    if engine.dialect.name != "sqlite":
        return engine
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"SQLite synchronous must be one of {SYNCHRONOUS_LEVELS}, not {synchronous!r}")
    group = synchronous == "GROUP"
    files = database_files(engine) if group else None
    if group and files.sync is None:  # in memory there is nothing to sync; of a URI we do not know the log's name
        group = False

    if group:
        files.speculative = True  # its connections can read before they take the writer lock (Speculation)

        @event.listens_for(engine, "do_connect")
        def _factory(_dialect, _record, _cargs, cparams) -> None:
            cparams["factory"] = files.connection_class

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # We issue BEGIN ourselves (below); pysqlite's own implicit transactions would get in the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching to WAL itself may have to wait for another connection.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # GROUP: SQLite does not sync at commit (NORMAL); the committer waits for GroupSync's sync instead. Where
        # there is no group commit (a URI), GROUP is FULL.
        level = "NORMAL" if group else "FULL" if synchronous == "GROUP" else synchronous
        cursor.execute(f"PRAGMA synchronous={level}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # On the driver's connection: BEGIN through `exec_driver_sql` cost as much as a statement of the step.
        dbapi_connection = connection.connection.dbapi_connection
        options = connection.get_execution_options()
        write = options.get("orderflow_write")
        if write and group and options.get("orderflow_speculate"):
            # Reads first, the writer lock and BEGIN IMMEDIATE at the first write (Speculation).
            dbapi_connection.speculation = Speculation(dbapi_connection, files.lock)
            write = False
        statement = "BEGIN IMMEDIATE" if write else "BEGIN"
        try:
            dbapi_connection.execute(statement)
        except sqlite3.Error as error:  # raised as `exec_driver_sql` would: "database is locked" is retried
            raise DBAPIError.instance(statement, (), error, sqlite3.Error, dialect=connection.dialect) from error
        if write and group:  # a write transaction is synced even when it changed no row (DDL)
            dbapi_connection.write_begun = True

    return engine


class GroupSync:
    """Group commit for one SQLite database in WAL mode with synchronous=NORMAL: makes commits durable after the
    fact, many at a time.

    A commit appends its pages to the write-ahead log without syncing it. Its committer then waits in `wait` until
    an fdatasync of the log that began after the commit has finished. One committer at a time runs the sync; the
    others that committed before it began are covered by it, and those that committed later wait for the next one.
    So a burst of commits costs one or two syncs, and none of them is run while the writer lock is held.

    A sync of the log covers commits of other processes too (it is one file). When the log is gone or replaced
    (a checkpoint that reset it, after SQLite synced the database file), the database file is synced instead."""

    def __init__(self, database: str) -> None:
        self._wal = f"{database}-wal"
        self._database = database
        self._cond = threading.Condition()
        self._committed = 0  # commits of this process so far
        self._durable = 0  # of those, how many are known to be on disk
        self._syncing = False
        self._file: tuple[int, int, int] | None = None  # (pid, inode, fd) of the open log
        self.syncs = 0  # fdatasync calls so far (what the group saved: compare with `commits`)

    @property
    def commits(self) -> int:
        return self._committed

    def committed(self) -> int:
        """Count a commit that just returned; the ticket to wait for."""
        with self._cond:
            self._committed += 1
            return self._committed

    def wait(self, ticket: int) -> None:
        """Return once the commit with this ticket is on disk (a failed sync raises, and the next waiter tries)."""
        with self._cond:
            while self._durable < ticket:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                covered = self._committed  # every commit counted so far has reached the log
                try:
                    self._cond.release()
                    try:
                        self._sync()
                    finally:
                        self._cond.acquire()
                    self._durable = max(self._durable, covered)
                finally:
                    self._syncing = False
                    self._cond.notify_all()

    def _sync(self) -> None:
        try:
            inode = os.stat(self._wal).st_ino
        except FileNotFoundError:  # no log: every commit was checkpointed into the database file
            fd = os.open(self._database, os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            self.syncs += 1
            return
        if self._file is None or self._file[0] != os.getpid() or self._file[1] != inode:
            if self._file is not None and self._file[0] == os.getpid():
                os.close(self._file[2])
            self._file = (os.getpid(), inode, os.open(self._wal, os.O_RDONLY))
        os.fdatasync(self._file[2])
        self.syncs += 1


class StaleReads(InternalError):
    """What a speculative write transaction read before it took the writer lock has changed since (another
    writer committed in between): nothing it computed from those reads may be written. Its caller runs it again
    with the lock held from the start."""


def _reads_only(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


class Speculation:
    """A write transaction that reads before it takes the writer lock, and checks at its first write that what it
    read is still what the database holds.

    SQLite has one writer at a time, and a step that took the lock up front held it while it ran the BPMN and
    serialized the order: measured, 90% of the time one writer or another held it, which capped throughput however
    many processes served. Speculating, the transaction begins as a read (a snapshot in WAL mode). Every SELECT's
    rows are kept. At the first statement that is not a SELECT, or at commit, the read ends, the writer lock is
    taken, BEGIN IMMEDIATE starts the write transaction, and every kept SELECT runs again: when each gives the same
    rows, the work done since is exactly what it would have been had the lock been held from the start (the reads
    are all it learned from the database), so the transaction goes on and commits. Otherwise StaleReads, and the
    caller runs its work again the old way. Phantoms are covered too: a query that now finds another row differs.

    What the work learned from anything but this connection's reads (another connection, a cache not keyed by what
    it read) is not checked: callers speculate only with work whose other inputs do not change under them."""

    __slots__ = ("connection", "lock", "reads", "held", "stale")

    def __init__(self, connection: sqlite3.Connection, lock: WriterLock) -> None:
        self.connection = connection
        self.lock = lock
        self.reads: list[tuple[str, Any, list]] = []
        self.held = False  # the writer lock is held and the transaction is a write transaction
        self.stale = False

    def read(self, cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list:
        rows = cursor.fetchall()
        self.reads.append((sql, parameters, rows))
        return rows

    def take_lock(self) -> None:
        """End the read, queue for the writer lock, begin writing and check the reads (StaleReads)."""
        if self.stale:
            raise StaleReads("this transaction's reads were found stale")
        connection = self.connection
        sqlite3.Connection.execute(connection, "ROLLBACK")  # a read transaction: nothing is lost
        self.lock.__enter__()
        self.held = True
        sqlite3.Connection.execute(connection, "BEGIN IMMEDIATE")
        connection.write_begun = True
        for sql, parameters, rows in self.reads:
            if sqlite3.Connection.execute(connection, sql, parameters).fetchall() != rows:
                self.stale = True
                raise StaleReads("another writer changed what this transaction read before it took the writer lock")
        self.reads.clear()

    def release(self) -> None:
        """After commit or rollback: let the next writer in."""
        self.connection.speculation = None
        if self.held:
            self.held = False
            self.lock.__exit__(None, None, None)


class _SpeculativeCursor(sqlite3.Cursor):
    """A cursor of a speculating connection: a SELECT's rows are fetched at once and kept for the check; any other
    statement takes the writer lock first."""

    _rows: list | None = None
    _next = 0

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:  # type: ignore[override]
        speculation = self.connection.speculation
        if speculation is None or speculation.held:
            self._rows = None
            return super().execute(sql, parameters)
        if not _reads_only(sql):
            speculation.take_lock()
            self._rows = None
            return super().execute(sql, parameters)
        super().execute(sql, parameters)
        kept = tuple(parameters) if isinstance(parameters, list) else parameters
        self._rows, self._next = speculation.read(super(), sql, kept), 0
        return self

    def executemany(self, sql: str, parameters: Any) -> sqlite3.Cursor:  # type: ignore[override]
        speculation = self.connection.speculation
        if speculation is not None and not speculation.held:
            speculation.take_lock()
        self._rows = None
        return super().executemany(sql, parameters)

    def fetchone(self) -> Any:
        if self._rows is None:
            return super().fetchone()
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int | None = None) -> list:
        if self._rows is None:
            return super().fetchmany(self.arraysize if size is None else size)
        start = self._next
        self._next = min(len(self._rows), start + (self.arraysize if size is None else size))
        return self._rows[start : self._next]

    def fetchall(self) -> list:
        if self._rows is None:
            return super().fetchall()
        start, self._next = self._next, len(self._rows)
        return self._rows[start:]

    def __iter__(self) -> _SpeculativeCursor:
        return self

    def __next__(self) -> Any:
        if self._rows is None:
            return super().__next__()
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row


class DatabaseFiles:
    """What the process's writers of one SQLite database share: its writer lock and its group commit."""

    def __init__(self, lock: WriterLock, sync: GroupSync | None) -> None:
        self.lock = lock
        self.sync = sync
        self.speculative = False  # set when group commit installs the connection class below
        files = self

        class DurableConnection(sqlite3.Connection):
            """A pysqlite connection whose commit of a write returns once the commit is on disk, or, while this
            thread holds the writer lock, once the lock is released (the sync then runs outside the lock)."""

            changes_seen = 0
            write_begun = False
            speculation: Speculation | None = None

            def cursor(self, *factory: Any) -> sqlite3.Cursor:
                if self.speculation is not None and not factory:
                    return super().cursor(_SpeculativeCursor)
                return super().cursor(*factory)

            def commit(self) -> None:
                super().commit()
                changes = self.total_changes
                if changes == self.changes_seen and not self.write_begun:
                    return  # a read: nothing to make durable
                self.changes_seen, self.write_begun = changes, False
                ticket = files.sync.committed()
                if not files.lock.defer(ticket):
                    files.sync.wait(ticket)

        self.connection_class = DurableConnection


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
        self._owner: int | None = None
        self._deferred = 0  # the newest group-commit ticket of the holder, waited for after release
        self.sync: GroupSync | None = None

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
        self._owner, self._deferred = threading.get_ident(), 0
        return self

    def defer(self, ticket: int) -> bool:
        """Called by a commit: when this thread holds the lock, wait for the commit's sync only after releasing it."""
        if self._owner != threading.get_ident():
            return False
        self._deferred = max(self._deferred, ticket)
        return True

    def __exit__(self, *exc: object) -> None:
        ticket, self._owner, self._deferred = self._deferred, None, 0
        try:
            if self._path is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._mutex.release()
        if ticket and self.sync is not None:
            self.sync.wait(ticket)  # the next writer already runs while this one's commit is synced


_databases: dict[str, DatabaseFiles] = {}
_databases_guard = threading.Lock()


def database_files(engine: SqlEngine) -> DatabaseFiles:
    """The writer lock and group commit of an SQLite engine's database, one per database in a process."""
    key = str(engine.url)
    with _databases_guard:
        files = _databases.get(key)
        if files is None:
            database = engine.url.database
            in_file = bool(database) and database != ":memory:"
            path = f"{database}-writer.lock" if in_file and fcntl is not None else None
            # Group commit needs the log's file name: not for a URI (file:…?mode=…), which then commits as FULL.
            sync = GroupSync(os.path.abspath(database)) if in_file and not database.startswith("file:") else None
            files = _databases[key] = DatabaseFiles(WriterLock(path), sync)
            files.lock.sync = sync
        return files


def writer_lock(engine: SqlEngine) -> AbstractContextManager:
    """The lock every write transaction of this database takes first (see WriterLock); none on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return database_files(engine).lock


def speculative(engine: SqlEngine) -> SqlEngine | None:
    """The engine with which `speculative_transaction` runs, or None where write transactions cannot read before
    they take the writer lock: other databases than SQLite, and SQLite without group commit (in memory, a URI)."""
    if engine.dialect.name != "sqlite" or not database_files(engine).speculative:
        return None
    return engine.execution_options(orderflow_write=True, orderflow_speculate=True)


@contextmanager
def speculative_transaction(engine: SqlEngine, committed: Callable[[], None] | None = None) -> Iterator[Connection]:
    """A write transaction (on an engine from `speculative`) that reads before it takes the writer lock and checks
    its reads at its first write (Speculation). Raises StaleReads, with nothing written, when they changed:
    whatever the body computed from them is void, and it is the caller's to run the body again. An exception
    the body raises before its first write is raised only once the reads are checked (StaleReads otherwise): a
    refusal based on what another writer has changed since is no refusal. `committed` runs after the commit,
    while the writer lock is still held."""
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        try:
            with begin_with_retries(connection.begin):
                speculation = raw.speculation
                try:
                    yield connection
                except Exception:
                    if not speculation.held and not speculation.stale:
                        speculation.take_lock()
                    raise
                if speculation.stale:  # the body caught StaleReads and went on: its work is not written
                    raise StaleReads("this transaction's reads were found stale")
                if not speculation.held:  # it wrote nothing: still commit only what was checked, under the lock
                    speculation.take_lock()
            if committed is not None:
                committed()
        finally:
            if raw.speculation is not None:
                raw.speculation.release()


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


def make_engine(url: str, synchronous: str = "GROUP", **options) -> SqlEngine:
    options.setdefault("json_serializer", json_columns.dumps)
    options.setdefault("json_deserializer", json_columns.loads)
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        options = {**postgres_options(), **options}  # the caller's choice wins (a worker pings no connection)
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
