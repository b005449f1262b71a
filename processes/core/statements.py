"""Hot-path SQL compiled once and run straight on the driver's cursor.

SQLAlchemy compiles a Core statement for the connection's dialect once (so SQLite and PostgreSQL each get their own
SQL, placeholders, casts and FOR UPDATE); each run then only converts the parameters with the bind processors the
compiled statement names (datetimes on SQLite, JSON columns), runs the SQL on the DBAPI cursor of the caller's
connection, in its transaction, and converts result columns with their result processors. What it skips is what
an `execute` costs SQLAlchemy on every call (cache key, execution context, events, result objects): about a third
of the server's time per order in the profile of issue #18.

Statements run this way fire no SQLAlchemy execution events (before/after_cursor_execute): nothing of orderflow
listens to them. A driver error is raised as SQLAlchemy's wrapper (IntegrityError, OperationalError, ...), as an
`execute` would, so callers catch the same exceptions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert

Params = Mapping[str, Any]


class _Plan:
    """One statement compiled for one dialect: its SQL and how to turn parameters and rows to and from the driver."""

    __slots__ = ("sql", "positional", "binds", "names", "processors", "keys", "converters")

    def __init__(self, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.escaped_bind_names or "__[POSTCOMPILE_" in compiled.string:
            # Expanding IN lists, values rendered at execution and escaped names need SQLAlchemy's own rewriting.
            raise ValueError(f"statement cannot be run precompiled (expanding or escaped parameters): {statement}")
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        prefetch = {column.key: column for column in (*compiled.insert_prefetch, *compiled.update_prefetch)}
        # (name, value maker or None when the caller must give it, bind processor or None), in the SQL's order
        # when the driver takes positions.
        by_name: dict[str, tuple[str, Callable[[], Any] | None, Callable[[Any], Any] | None]] = {}
        for bind, name in compiled.bind_names.items():
            by_name[name] = (name, _value_maker(bind, prefetch.get(name)), _bind_processor(bind.type, dialect))
        names = compiled.positiontup if self.positional else list(by_name)
        self.binds = tuple(by_name[name] for name in names)
        self.names = tuple(names)
        self.processors = tuple((index, bind[2]) for index, bind in enumerate(self.binds) if bind[2] is not None)
        columns = list(getattr(statement, "exported_columns", ()) or ())
        self.keys: tuple[str, ...] = tuple(column.key for column in columns)
        self.converters = tuple(
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        )

    def arguments(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        try:  # the usual case: the caller gives every parameter (a step's rows, an UPDATE's changed columns)
            values = [params[name] for name in self.names]
        except KeyError:
            values = self._with_defaults(params)
        for index, processor in self.processors:
            values[index] = processor(values[index])
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))

    def _with_defaults(self, params: Params) -> list[Any]:
        values = []
        for name, maker, _ in self.binds:
            if name in params:
                values.append(params[name])
            elif maker is not None:
                values.append(maker())
            else:
                raise KeyError(f"a value is required for parameter {name!r} of: {self.sql}")
        return values

    def convert(self, rows: list[Sequence[Any]]) -> list[dict[str, Any]]:
        keys, converters = self.keys, self.converters
        if not converters:
            return [dict(zip(keys, row, strict=True)) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for index, processor in converters:
                values[index] = processor(values[index])
            converted.append(dict(zip(keys, values, strict=True)))
        return converted


def _bind_processor(type_, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The bind processor SQLAlchemy would run for a parameter of `type_`. SQLite's DATETIME formats each value
    with a %-format of seven fields; a naive datetime gets the same text from `isoformat` (its microseconds always
    written), several times faster, and every timestamp the engine writes is one."""
    impl = type_.dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    if (
        processor is None
        or type(impl) is not SQLITE_DATETIME
        or impl._storage_format != SQLITE_DATETIME._storage_format
    ):
        return processor

    def naive_datetime(value: Any) -> Any:
        if value.__class__ is datetime and value.tzinfo is None:
            text = value.isoformat(" ")
            return text if value.microsecond else text + ".000000"
        return processor(value)  # None, a date, an aware datetime, a subclass: as SQLAlchemy writes them

    return naive_datetime


def _value_maker(bind, column) -> Callable[[], Any] | None:
    """Where the value of a parameter the caller left out comes from, as SQLAlchemy decides it: the column's
    Python-side default (an INSERT's column not given), the statement's own value, or nowhere (None: required)."""
    if column is None:
        if bind.callable is not None:
            return bind.callable
        if bind.required:
            return None
        value = bind.value
        return lambda: value
    default = column.default if column.default is not None else column.onupdate
    if default is None:
        return None
    if default.is_callable:
        return lambda: default.arg(None)
    if default.is_scalar:
        return lambda: default.arg
    raise ValueError(f"column {column.key}: only Python defaults can be filled in by a precompiled statement")


class Statement:
    """A Core statement built once, compiled once per dialect (and, for an INSERT, per set of columns given), and
    run on the DBAPI cursor of a SQLAlchemy connection, inside whatever transaction that connection has begun."""

    def __init__(self, statement: Executable) -> None:
        # An INSERT is compiled without RETURNING of the new key: nobody reads it.
        self.statement = statement.inline() if isinstance(statement, Insert) else statement
        self._per_columns = isinstance(statement, Insert)  # its SQL names the columns given
        self._plans: WeakKeyDictionary[Dialect, dict[tuple[str, ...] | None, _Plan]] = WeakKeyDictionary()
        self._last: tuple[Dialect, tuple[str, ...] | None, _Plan] | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"Statement({self.statement})"

    def _plan(self, dialect: Dialect, params: Params) -> _Plan:
        columns = tuple(params) if self._per_columns else None
        last = self._last
        if last is not None and last[0] is dialect and last[1] == columns:
            return last[2]
        with self._guard:
            plans = self._plans.setdefault(dialect, {})
            plan = plans.get(columns)
            if plan is None:
                plan = plans[columns] = _Plan(self.statement, dialect, columns)
        self._last = (dialect, columns, plan)
        return plan

    def _run(self, connection: Connection, params: Params | Sequence[Params], many: bool):
        dialect = connection.dialect
        plan = self._plan(dialect, params[0] if many else params)
        arguments = [plan.arguments(p) for p in params] if many else plan.arguments(params)
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            if many:
                cursor.executemany(plan.sql, arguments)
            else:
                cursor.execute(plan.sql, arguments)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            _raise_wrapped(connection, plan.sql, arguments, error, cursor, many)
        return plan, cursor

    def rows(self, connection: Connection, params: Params | None = None) -> list[dict[str, Any]]:
        """Every row, as a dict by column key."""
        plan, cursor = self._run(connection, params or {}, False)
        try:
            return plan.convert(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, connection: Connection, params: Params | None = None) -> dict[str, Any] | None:
        """The first row (the others are not fetched), or None."""
        plan, cursor = self._run(connection, params or {}, False)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else plan.convert([row])[0]

    def scalar(self, connection: Connection, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        plan, cursor = self._run(connection, params or {}, False)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        first = plan.converters[0] if plan.converters else None
        return first[1](row[0]) if first is not None and first[0] == 0 else row[0]

    def execute(self, connection: Connection, params: Params | None = None) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        _, cursor = self._run(connection, params or {}, False)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def execute_many(self, connection: Connection, params: Sequence[Params]) -> None:
        """Run a statement once per parameter set, in one driver call (executemany); every set names the same
        columns."""
        if not params:
            return
        _, cursor = self._run(connection, params, True)
        cursor.close()


def _raise_wrapped(connection: Connection, sql: str, arguments: Any, error: Exception, cursor: Any, many: bool) -> None:
    """Raise a driver error as `Connection.execute` would: SQLAlchemy's wrapper around it, and a connection found
    dead invalidated with the pool's older ones (so the pool does not hand them out again)."""
    dialect = connection.dialect
    disconnected = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if disconnected:
        # As SQLAlchemy does: the database went away for every connection of the pool opened before, not only
        # this one; the pool reconnects them on their next use (so a caller's single retry gets a live one).
        connection.engine.pool._invalidate(connection.connection, error)
        connection.invalidate(error)
    raise DBAPIError.instance(
        sql,
        arguments,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnected,
        dialect=dialect,
        ismulti=many,
    ) from error
