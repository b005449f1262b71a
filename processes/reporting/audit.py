"""The audit trail as operators and auditors read it: search across instances, and export as CSV or JSON.

Audit events are only ever appended (the model refuses changes, and a database trigger refuses UPDATE and DELETE).
They are also appended in time order: an event's time is taken inside the step's write transaction and its id when
that transaction inserts it. So a time window is an id range, found by binary search on the primary key, and no
index on `at` is needed (each index on audit_events costs every engine step; measured in README: Monitoring)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes.core.engine import Engine
from processes.core.models import AuditEvent, ProcessInstance, iso
from processes.errors import InvalidInput, NotFound

# How far out of time order two events may be inserted: on PostgreSQL concurrent steps commit in any order, so an
# event stamped at t may get a smaller id than one stamped a little earlier. Windows are widened by this much
# before the exact filter on `at`.
ORDER_SLACK = timedelta(minutes=10)
EXPORT_BATCH = 1000
CSV_COLUMNS = (
    "id", "at", "type", "processKey", "definitionVersion", "instanceId", "businessKey", "elementId", "elementName",
    "elementType", "actor", "enteredAt", "data",
)  # fmt: skip


def first_id_at(session: Session, moment: datetime) -> int:
    """The smallest event id stamped at or after `moment` (one past the last id when there is none)."""
    # Two queries: SQLite answers a lone min() or max() from the primary key, but scans the table for both at once.
    low = session.scalar(select(func.min(AuditEvent.id)))
    if low is None:
        return 1
    high = session.scalar(select(func.max(AuditEvent.id))) + 1
    while low < high:
        middle = (low + high) // 2
        found = session.execute(
            select(AuditEvent.id, AuditEvent.at).where(AuditEvent.id >= middle).order_by(AuditEvent.id).limit(1)
        ).first()
        if found is None or found.at >= moment:
            high = middle
        else:
            low = found.id + 1
    return low


def in_window(session: Session, start: datetime | None, end: datetime | None) -> list:
    """WHERE clauses for events stamped in [start, end): an id range (primary key) plus the exact time test."""
    clauses = []
    if start is not None:
        clauses += [AuditEvent.id >= first_id_at(session, start - ORDER_SLACK), AuditEvent.at >= start]
    if end is not None:
        clauses += [AuditEvent.id < first_id_at(session, end + ORDER_SLACK), AuditEvent.at < end]
    return clauses


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor searches by; every field is optional and they combine with AND."""

    business_key: str | None = None
    actor: str | None = None
    element_id: str | None = None
    type: str | None = None
    instance_id: str | None = None
    process_key: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidInput("from must be before to")


_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.type,
    AuditEvent.instance_id,
    AuditEvent.element_id,
    AuditEvent.element_name,
    AuditEvent.element_type,
    AuditEvent.actor,
    AuditEvent.entered_at,
    AuditEvent.data,
    ProcessInstance.process_key,
    ProcessInstance.definition_version,
    ProcessInstance.business_key,
)


def _query(session: Session, where: AuditFilter):
    query = select(*_COLUMNS).outerjoin(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
    if where.business_key is not None or where.process_key is not None:
        # Through the instances: their business key is indexed, and each instance's events are (ix_audit_instance).
        instances = select(ProcessInstance.id)
        if where.business_key is not None:
            instances = instances.where(ProcessInstance.business_key == where.business_key)
        if where.process_key is not None:
            instances = instances.where(ProcessInstance.process_key == where.process_key)
        query = query.where(AuditEvent.instance_id.in_(instances))
    if where.instance_id is not None:
        query = query.where(AuditEvent.instance_id == where.instance_id)
    if where.actor is not None:
        query = query.where(AuditEvent.actor == where.actor)
    if where.element_id is not None:
        query = query.where(AuditEvent.element_id == where.element_id)
    if where.type is not None:
        query = query.where(AuditEvent.type == where.type)
    return query.where(*in_window(session, where.start, where.end))


def event_view(row) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "at": iso(row.at),
        "type": row.type,
        "processKey": row.process_key,
        "definitionVersion": row.definition_version,
        "instanceId": row.instance_id,
        "businessKey": row.business_key,
        "elementId": row.element_id,
        "elementName": row.element_name,
        "elementType": row.element_type,
        "actor": row.actor,
        "enteredAt": iso(row.entered_at),
        "data": row.data,
    }


def search_events(engine: Engine, where: AuditFilter, *, limit: int = 100, before: str | None = None) -> dict[str, Any]:
    """Newest first, `limit` at a time. `before` is the `nextCursor` of the previous page (an event id): paging by
    id stays as fast on the millionth event as on the first, where an offset would not."""
    cursor = None
    if before is not None:
        if not before.isdigit() or len(before) > 18:  # event ids are 64-bit integers
            raise InvalidInput(f"cursor {before!r} is not one this API returned")
        cursor = int(before)
    with engine.read_session() as session:
        query = _query(session, where)
        if cursor is not None:
            query = query.where(AuditEvent.id < cursor)
        rows = session.execute(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
    items = [event_view(row) for row in rows[:limit]]
    return {"items": items, "nextCursor": items[-1]["id"] if len(rows) > limit else None}


def get_event(engine: Engine, event_id: str) -> dict[str, Any]:
    with engine.read_session() as session:
        row = (
            session.execute(_query(session, AuditFilter()).where(AuditEvent.id == int(event_id))).first()
            if event_id.isdigit()
            else None
        )
    if row is None:
        raise NotFound(f"audit event {event_id} does not exist")
    return event_view(row)


def export_events(engine: Engine, where: AuditFilter) -> Iterator[dict[str, Any]]:
    """Every matching event, oldest first, read in batches (each in a short read transaction, so an export of
    millions of events never holds one open)."""
    after = 0
    while True:
        with engine.read_session() as session:
            query = _query(session, where).where(AuditEvent.id > after)
            rows = session.execute(query.order_by(AuditEvent.id).limit(EXPORT_BATCH)).all()
        for row in rows:
            yield event_view(row)
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1].id


def as_json(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """One JSON array, written as it is read."""
    yield "["
    for n, view in enumerate(events):
        yield ("," if n else "") + "\n" + json.dumps(view, separators=(",", ":"), default=str)
    yield "\n]\n"


def as_csv(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A header row, then one row per event; `data` is a JSON cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for n, view in enumerate(events, 1):
        view["data"] = json.dumps(view["data"], separators=(",", ":"), default=str) if view["data"] else ""
        writer.writerow([_cell(view[column]) for column in CSV_COLUMNS])
        if n % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    """Spreadsheets run a cell that starts with = + - @ as a formula; business keys and actors come from callers,
    so such cells get a leading apostrophe (OWASP's advice for CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
