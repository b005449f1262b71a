"""Starting, cancelling and reading process instances. Each change is one engine step."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from SpiffWorkflow.task import TaskState
from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from observability import tracing
from processes import limits
from processes.core.engine import Engine
from processes.core.models import (
    CANCELLED,
    ENDED_STATUSES,
    AuditEvent,
    Incident,
    Job,
    ProcessDefinition,
    ProcessInstance,
    iso,
    utcnow,
)
from processes.core.records import INSTANCE_COLUMNS, READ_INSTANCE, InstanceRecord
from processes.core.spiff import tasks_in
from processes.core.statements import Statement
from processes.core.step import Step
from processes.errors import Conflict, InternalError, InvalidInput, NotFound
from processes.expressions import python as sandbox

MAX_VARIABLES_BYTES = 256 * 1024


@dataclass
class StartResult:
    instance: dict[str, Any]
    created: bool  # False when an Idempotency-Key or active business key returned an existing instance


# A FEEL name (DMN 1.4, 10.3.1.2): words of letters, digits, underscores and . / - ' + * separated by single spaces,
# so decisions can read "Years of Service" (Python and JUEL expressions cannot name these, FEEL can).
VARIABLE_NAME = re.compile(r"[^\W\d_][\w.'/+*-]*(?: [\w.'/+*-]+)*")


def _is_feel_name(name: str) -> bool:
    return len(name) <= 255 and VARIABLE_NAME.fullmatch(name) is not None


def check_variables(variables: Any) -> dict[str, Any]:
    """Variables are a JSON object with string keys that are valid names in expressions."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidInput(f"variables must be a JSON object, not {type(variables).__name__}")
    for name in variables:
        if not isinstance(name, str) or not (sandbox.is_variable_name(name) or _is_feel_name(name)):
            raise InvalidInput(
                f"variable name {name!r} is not allowed: use letters, digits and underscores, not starting with a "
                "digit, '__' or '_of_' (words may be separated by single spaces, as in FEEL: 'Years of Service')"
            )
    size = len(json.dumps(variables))
    limit = min(MAX_VARIABLES_BYTES, limits.LIMITS.max_variables_bytes)  # what an instance may keep at all
    if size > limit:
        raise InvalidInput(f"variables are {size} bytes; the limit is {limit}")
    return variables


# The start's reads, built once: building a statement and its cache key costs more than running it (every start
# makes three of these under the writer lock).
_DEFINITION_COLUMNS = select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version)
_LATEST_DEFINITION = Statement(
    _DEFINITION_COLUMNS.where(ProcessDefinition.key == bindparam("key"))
    .order_by(ProcessDefinition.version.desc())
    .limit(1)
)
_DEFINITION_VERSION = Statement(
    _DEFINITION_COLUMNS.where(
        ProcessDefinition.key == bindparam("key"), ProcessDefinition.version == bindparam("version")
    )
)
_BY_IDEMPOTENCY_KEY = select(ProcessInstance.id).where(ProcessInstance.idempotency_key == bindparam("idempotency_key"))
_ACTIVE_BY_BUSINESS_KEY = select(ProcessInstance.id).where(
    ProcessInstance.process_key == bindparam("key"),
    ProcessInstance.business_key == bindparam("business_key"),
    ProcessInstance.ended_at.is_(None),
)


# In the start's step: is there an instance a repeated start must return? One query for both reasons (which one
# does not matter there; `_existing` tells, after the step gave up).
_REPEATED = Statement(
    select(ProcessInstance.id)
    .where(
        or_(
            ProcessInstance.idempotency_key == bindparam("idempotency_key"),
            and_(
                ProcessInstance.process_key == bindparam("key"),
                ProcessInstance.business_key == bindparam("business_key"),
                ProcessInstance.ended_at.is_(None),
            ),
        )
    )
    .limit(1)
)


def _find_definition(connection: Connection, key: str, version: int | None) -> dict[str, Any]:
    """Id, key and version of the definition to start: only those columns, not the XML and spec."""
    if version is None:
        definition = _LATEST_DEFINITION.first(connection, {"key": key})
    else:
        definition = _DEFINITION_VERSION.first(connection, {"key": key, "version": version})
    if definition is None:
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"no process definition with key '{key}'{suffix} is deployed")
    return definition


def _existing(
    session: Connection | Session, key: str, business_key: str | None, idempotency_key: str | None
) -> str | None:
    """The id of the instance a repeated start must return, if there is one."""
    if idempotency_key:
        found = session.scalar(_BY_IDEMPOTENCY_KEY, {"idempotency_key": idempotency_key})
        if found is not None:
            return found
    if business_key:
        return session.scalar(_ACTIVE_BY_BUSINESS_KEY, {"key": key, "business_key": business_key})
    return None


class IdempotencyKeyReused(InvalidInput):
    """An Idempotency-Key that started an instance came again with a different request."""

    title = "Idempotency-Key reused"


def _check_same_request(
    session: Session, instance: ProcessInstance, key: str, business_key: str | None, version: int | None, variables
) -> None:
    """A repeated Idempotency-Key must come with the request it started: anything else is a client's mistake (a key
    reused for another order), which returning the first instance would hide."""
    started = session.scalar(
        select(AuditEvent.data)
        .where(AuditEvent.instance_id == instance.id, AuditEvent.type == "instance_started")
        .order_by(AuditEvent.id)
        .limit(1)
    )
    differences = [
        name
        for name, same in (
            ("the process", key == instance.process_key),
            ("the version", version is None or version == instance.definition_version),
            ("businessKey", business_key == instance.business_key),
            ("variables", started is None or variables == (started or {}).get("variables", {})),
        )
        if not same
    ]
    if differences:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key already started instance {instance.id} with a different request "
            f"({', '.join(differences)} differ): use a new key for a new order"
        )


def start_instance(
    engine: Engine,
    key: str,
    *,
    variables: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    idempotency_key: str | None = None,
    actor: str | None = None,
    same_request_only: bool = True,
) -> StartResult:
    """Start an order process. A repeated Idempotency-Key, or an active instance with the same business key,
    returns the existing instance: never a second one. A repeated Idempotency-Key with a different request is
    IdempotencyKeyReused, unless `same_request_only` is false (a replay of a corrected dead letter, whose client
    may have started the order meanwhile with the same key)."""
    variables = check_variables(variables)

    def create(session: Connection):
        # Checked again under the write lock: another request may have started it meanwhile.
        if (idempotency_key or business_key) and _REPEATED.scalar(
            session, {"idempotency_key": idempotency_key, "key": key, "business_key": business_key}
        ) is not None:
            raise _AlreadyStarted()
        definition = _find_definition(session, key, version)
        workflow = engine.new_workflow(session, definition["id"])
        instance = InstanceRecord.new(
            id=engine.dispatcher.order_id(),
            definition_id=definition["id"],
            process_key=definition["key"],
            definition_version=definition["version"],
            business_key=business_key,
            idempotency_key=idempotency_key,
            status="running",
            revision=0,
            state="",
        )
        return instance, workflow

    def started(step: Step) -> None:
        # SpiffWorkflow copies data from a task to the next, so the ready start tasks carry the order in.
        for task in tasks_in(step.workflow, TaskState.READY):
            task.data.update(variables)
        step.record("instance_started", data={"businessKey": business_key, "variables": variables})

    try:
        step = engine.step(None, started, actor=actor, create=create, rerunnable=True)
    except (_AlreadyStarted, IntegrityError):
        with engine.read_session() as session:
            existing = _existing(session, key, business_key, idempotency_key)
            if existing is None:
                raise
            instance = session.get(ProcessInstance, existing)
            if same_request_only and idempotency_key and instance.idempotency_key == idempotency_key:
                _check_same_request(session, instance, key, business_key, version, variables)
            return StartResult(instance_view(session, instance), created=False)
    return StartResult(instance_view(None, step.instance), created=True)


class _AlreadyStarted(InternalError):
    pass


def cancel_instance(engine: Engine, instance_id: str, actor: str | None = None) -> dict[str, Any]:
    def cancel(step: Step) -> None:
        if step.instance.status in ENDED_STATUSES:
            raise Conflict(f"process instance {instance_id} is already {step.instance.status}")
        step.workflow.cancel()
        now = utcnow()
        step.instance.status, step.instance.ended_at = CANCELLED, now
        step.connection.execute(
            update(Incident)
            .where(Incident.instance_id == instance_id, Incident.resolved_at.is_(None))
            .values(resolved_at=now, resolution="cancelled", resolved_by=step.actor)
        )
        step.record("instance_cancelled")

    engine.step(instance_id, cancel, actor=actor)
    with engine.read_session() as session:
        return instance_view(session, session.get(ProcessInstance, instance_id))


# What an instance's view reads (everything but the state), built and compiled once: every order is read this way.
_INCIDENTS_OF = Statement(
    select(Incident.id, Incident.element_id, Incident.error_type, Incident.message, Incident.created_at)
    .add_columns(Incident.resolved_at)
    .where(Incident.instance_id == bindparam("instance_id"))
    .order_by(Incident.created_at)
)
_JOBS_OF = Statement(
    select(Job.id, Job.kind, Job.topic, Job.element_id, Job.status, Job.attempt, Job.max_attempts, Job.due_at)
    .add_columns(Job.last_error)
    .where(Job.instance_id == bindparam("instance_id"))
    .order_by(Job.created_at)
)


def get_instance(engine: Engine, instance_id: str) -> dict[str, Any]:
    # One read transaction: the instance, its incidents and its jobs as of one moment.
    with engine.read_connection() as connection, connection.begin():
        found = InstanceRecord.load_with(connection, READ_INSTANCE, id=instance_id)
        if not found:
            raise NotFound(f"process instance {instance_id} does not exist")
        return instance_view(connection, found[0], detail=True)


def list_instances(
    engine: Engine,
    *,
    status: str | None = None,
    process_key: str | None = None,
    business_key: str | None = None,
    business_key_prefix: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    # Clients poll these (the bench counts its orders this way several times a second), so each combination of
    # filters is built and compiled once: building a query and its cache key cost more than running it.
    filters = {"status": status, "process_key": process_key, "business_key": business_key}
    params: dict[str, Any] = {name: value for name, value in filters.items() if value}
    if business_key_prefix:
        params["prefix"] = _like_prefix(business_key_prefix)
    count, paged = _instance_list(frozenset(params))
    with engine.read_connection() as connection, connection.begin():  # the count and the page as of one moment
        total = count.scalar(connection, params)
        rows = paged.rows(connection, {**params, "limit": per_page, "offset": (page - 1) * per_page})
    items = [instance_view(None, InstanceRecord(row)) for row in rows]
    return {"items": items, "total": total, "page": page, "perPage": per_page}


LIKE_ESCAPE = "/"


def _like_prefix(prefix: str) -> str:
    """The prefix with LIKE's wildcards escaped, as SQLAlchemy's `startswith(..., autoescape=True)` escapes a
    literal: a business key prefix is matched as written, `%` and `_` included."""
    return prefix.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


@lru_cache(maxsize=16)
def _instance_list(filters: frozenset[str]) -> tuple[Statement, Statement]:
    """The count and the page of instances for one combination of filters (their names in `list_instances`), by
    column, without the serialized state (the largest column, which no list shows)."""
    where = [
        condition
        for name, condition in (
            ("status", ProcessInstance.status == bindparam("status")),
            ("process_key", ProcessInstance.process_key == bindparam("process_key")),
            ("business_key", ProcessInstance.business_key == bindparam("business_key")),
            ("prefix", ProcessInstance.business_key.startswith(bindparam("prefix"), escape=LIKE_ESCAPE)),
        )
        if name in filters
    ]
    count = select(func.count()).select_from(ProcessInstance.__table__).where(*where)
    paged = (
        select(*INSTANCE_COLUMNS)
        .where(*where)
        .order_by(ProcessInstance.created_at.desc(), ProcessInstance.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return Statement(count), Statement(paged)


def instance_events(engine: Engine, instance_id: str) -> list[dict[str, Any]]:
    with engine.read_session() as session:
        if session.get(ProcessInstance, instance_id) is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        ).all()
        return [
            {
                "id": str(row.id),
                "at": iso(row.at),
                "type": row.type,
                "elementId": row.element_id,
                "elementName": row.element_name,
                "elementType": row.element_type,
                "actor": row.actor,
                "data": row.data,
            }
            for row in rows
        ]


def instance_view(
    session: Connection | Session | None, instance: ProcessInstance | InstanceRecord, detail: bool = False
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": instance.id,
        "processKey": instance.process_key,
        "definitionId": instance.definition_id,
        "definitionVersion": instance.definition_version,
        "businessKey": instance.business_key,
        "status": instance.status,
        "revision": instance.revision,
        "createdAt": iso(instance.created_at),
        "updatedAt": iso(instance.updated_at),
        "endedAt": iso(instance.ended_at),
    }
    if detail:
        connection = session if isinstance(session, Connection) else session.connection()
        # The trace the order was started under (tracing on): its jobs and connector calls are in it too.
        view["traceId"] = tracing.trace_id_of(instance.trace_parent)
        view["variables"] = instance.variables
        view["activeElements"] = instance.active_elements
        view["incidents"] = [
            {
                "id": i["id"],
                "elementId": i["element_id"],
                "errorType": i["error_type"],
                "message": i["message"],
                "createdAt": iso(i["created_at"]),
                "resolvedAt": iso(i["resolved_at"]),
            }
            for i in _INCIDENTS_OF.rows(connection, {"instance_id": instance.id})
        ]
        view["jobs"] = [
            {
                "id": j["id"],
                "kind": j["kind"],
                "topic": j["topic"],
                "elementId": j["element_id"],
                "status": j["status"],
                "attempt": j["attempt"],
                "maxAttempts": j["max_attempts"],
                "dueAt": iso(j["due_at"]),
                "lastError": j["last_error"],
            }
            for j in _JOBS_OF.rows(connection, {"instance_id": instance.id})
        ]
    return view
