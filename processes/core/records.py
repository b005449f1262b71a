"""Rows as plain objects, read and written with SQLAlchemy Core on the engine step's hot path.

The ORM's unit of work cost more per step than running the BPMN itself (profiled: about 8 of 18 ms per order),
so a step loads the rows it needs as records, changes attributes, and writes only the changed columns back. The
step's own statements are `Statement`s: compiled once and run on the driver's cursor (processes/core/statements.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import Connection, Table, bindparam, insert, literal, select, update

from processes.core.models import JOB_HELD, JOB_LOCKED, JOB_READY, JOB_REVIEW, HumanTask, Incident, Job, ProcessInstance
from processes.core.statements import Statement


def _column(name: str) -> property:
    def read(record: Record) -> Any:
        try:
            return record._values[name]
        except KeyError:  # a row loaded without this column (the instance without its state)
            raise AttributeError(name) from None

    return property(read)


class Record:
    table: ClassVar[Table]
    _columns: ClassVar[frozenset[str]] = frozenset()  # the table's column names, for the check in __setattr__

    __slots__ = ("_values", "_changed", "_new")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__:
            cls._columns = frozenset(column.name for column in cls.table.c)
            # Each column read through a property: a read through __getattr__ first fails the normal lookup (an
            # AttributeError made and dropped), at twice the cost, and a step reads a few dozen columns. A column
            # named like an attribute of the class keeps the attribute, as before.
            for name in cls._columns:
                if not hasattr(cls, name):
                    setattr(cls, name, _column(name))

    def __init__(self, values: dict[str, Any], new: bool = False):
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_changed", set())
        object.__setattr__(self, "_new", new)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._columns:
            raise AttributeError(f"{self.table.name} has no column {name}")
        if self._values.get(name, object()) != value or name not in self._values:
            self._values[name] = value
            self._changed.add(name)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._values.get('id')}>"

    @classmethod
    def new(cls, **values: Any) -> Record:
        """A row to insert, with the model's Python-side defaults filled in (so they are known before the insert)."""
        for name, make, value in _defaults(cls.table):
            if name not in values:
                values[name] = value if make is None else make(None)
        return cls(values, new=True)

    @classmethod
    def load(cls, connection: Connection, *where, for_update: bool = False) -> list[Record]:
        query = select(cls.table).where(*where)
        if for_update:
            query = query.with_for_update()
        return [cls(dict(row._mapping)) for row in connection.execute(query)]

    @classmethod
    def load_with(cls, connection: Connection, statement: Statement, **params: Any) -> list[Record]:
        """Load with a statement built and compiled once (building and executing SQLAlchemy statements costs more
        than running them)."""
        return [cls(row) for row in statement.rows(connection, params)]

    @property
    def is_new(self) -> bool:
        return self._new


@lru_cache(maxsize=64)
def _defaults(table: Table) -> tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]:
    """(column, default maker or None, default value) of a table's columns in order, looked at once: a column without
    a Python default gets None; one with a SQL-side default only (neither callable nor scalar) is left out."""
    found = []
    for column in table.c:
        default = column.default
        if default is None:
            found.append((column.name, None, None))
        elif default.is_callable:
            found.append((column.name, default.arg, None))
        elif default.is_scalar:
            found.append((column.name, None, default.arg))
    return tuple(found)


@lru_cache(maxsize=256)
def _update_statement(table: Table, columns: frozenset[str]) -> Statement:
    return Statement(
        update(table).where(table.c.id == bindparam("_id")).values({name: bindparam(name) for name in sorted(columns)})
    )


@lru_cache(maxsize=16)
def _insert_statement(table: Table) -> Statement:
    return Statement(insert(table))


def write(connection: Connection, records: Iterable[Record]) -> None:
    """Insert new records (batched per table, in the order the tables first appear) and update changed ones."""
    inserts: dict[Table, list[dict[str, Any]]] = {}
    for record in records:
        if record.is_new:
            inserts.setdefault(record.table, []).append(record._values)
        elif record._changed:
            params = {name: record._values[name] for name in record._changed}
            params["_id"] = record._values["id"]
            _update_statement(record.table, frozenset(record._changed)).execute(connection, params)
        object.__setattr__(record, "_new", False)
        record._changed.clear()
    for table, rows in inserts.items():
        _insert_statement(table).execute_many(connection, rows)


class InstanceRecord(Record):
    table = ProcessInstance.__table__
    __slots__ = ()


_instances = ProcessInstance.__table__
# Every column but the serialized state (the largest): no view shows it, and a step that finds the workflow in its
# cache never reads it.
INSTANCE_COLUMNS = tuple(c for c in _instances.c if c.name != "state")
_READ_INSTANCE = select(*INSTANCE_COLUMNS).where(_instances.c.id == bindparam("id"))
LOCK_INSTANCE = Statement(_READ_INSTANCE.with_for_update())
READ_INSTANCE = Statement(_READ_INSTANCE)  # the same, unlocked: what an instance's view shows
INSTANCE_STATE = Statement(select(_instances.c.state).where(_instances.c.id == bindparam("id")))


class JobRecord(Record):
    table = Job.__table__
    __slots__ = ()


_jobs = Job.__table__
# The statuses as bound values, not an expanding list: a precompiled statement cannot expand one.
ACTIVE_JOBS = Statement(
    select(_jobs).where(
        _jobs.c.instance_id == bindparam("instance_id"),
        _jobs.c.status.in_(
            [literal(status, _jobs.c.status.type) for status in (JOB_READY, JOB_LOCKED, JOB_REVIEW, JOB_HELD)]
        ),
    )
)


class IncidentRecord(Record):
    table = Incident.__table__
    __slots__ = ()


class HumanTaskRecord(Record):
    table = HumanTask.__table__
    __slots__ = ()
