"""Camunda 7's engine REST API at /engine-rest, so Camunda workers and clients run against orderflow unchanged.

A thin shell: every call goes to the same functions as /api/v1 (instances, jobs, messages, the inbox,
deployments), with Camunda's paths, bodies, typed variables (values.py), error bodies `{"type", "message"}` and
status codes. What it maps:

- an external task is a service job; its id is the job id, its lock is the job's lease, its `workerId` the worker
  that holds it. `retries` is null until the first failure (as in Camunda), then what is left;
- an execution is the process instance (orderflow has no executions of its own): `executionId` is the instance id;
- a task is an inbox row; `candidateGroup`/`candidateUser` filter as in the inbox, and a caller sees only the
  tasks they may work on, as in /api/v1;
- runtime resources (`/process-instance`, `/external-task`) show what is still running; ended orders are under
  `/history/process-instance`.

Anything else under /engine-rest answers 404 `{"type": "NotSupported", ...}` naming the path."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from apiflask import APIBlueprint
from flask import request
from sqlalchemy import or_, select
from werkzeug.exceptions import HTTPException

from inbox.forms import FormInvalid
from inbox.tasks import claim_task, complete_task, get_task, list_tasks, unclaim_task
from processes.core.models import (
    CANCELLED,
    COMPLETED,
    INCIDENT,
    JOB_FAILED,
    JOB_LOCKED,
    JOB_READY,
    SERVICE,
    Job,
    ProcessDefinition,
    ProcessInstance,
    utcnow,
)
from processes.deployment.deployments import deploy
from processes.errors import (
    Conflict,
    DeploymentRejected,
    InvalidInput,
    NotFound,
    OrderflowError,
)
from processes.features.messages import correlate, waiting_instances
from processes.features.signals import broadcast
from processes.instances import cancel_instance, get_instance, start_instance

from ..api.tasks import acting_user
from ..auth import EVERYONE, actor, caller
from ..services import services
from .access import INTEGRATORS, MAX_POLL_MS, SENDERS, STARTERS, WORKERS, authorized, camunda_error, json_body
from .values import read_variables, typed_variables

bp = APIBlueprint("camunda7", __name__, url_prefix="/engine-rest", tag="Camunda 7 engine REST")

SECURITY = ["BasicAuth", "BearerAuth"]


def _refuse(status: int, message: str):
    return camunda_error(status, "AuthenticationException" if status == 401 else "AuthorizationException", message)


def _roles(roles: list[str]):
    return authorized(roles, _refuse)


def _doc(summary: str):
    return bp.doc(summary=summary, security=SECURITY)


# -- errors -------------------------------------------------------------------------------------------------

EXCEPTION_TYPES = {400: "InvalidRequestException", 403: "AuthorizationException", 404: "InvalidRequestException"}


@bp.errorhandler(OrderflowError)
def _error(error: OrderflowError):
    if error.status >= 500:
        raise error  # a bug: the app logs it and answers a plain 500
    if isinstance(error, DeploymentRejected):
        details: dict[str, Any] = {}
        for problem in error.problems:
            entry = details.setdefault(problem.file or "", {"errors": [], "warnings": []})
            entry["errors" if problem.severity == "error" else "warnings"].append(
                {
                    "message": problem.message,
                    "line": problem.line,
                    "column": None,
                    "mainElementId": problem.element_id,
                    "elementIds": [problem.element_id] if problem.element_id else [],
                }
            )
        return camunda_error(400, "ParseException", f"the deployment has problems: {error.detail}", details=details)
    status = 400 if isinstance(error, InvalidInput) else error.status
    return camunda_error(status, EXCEPTION_TYPES.get(status, "RestException"), error.detail or error.title)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return camunda_error(error.code or 400, "RestException", error.description or error.name)


# -- shared helpers --------------------------------------------------------------------------------------------


def camunda_date(value: datetime | None) -> str | None:
    """Camunda's date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ; orderflow stores UTC."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _iso_date(text: str | None) -> str | None:
    return camunda_date(datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)) if text else None


def _flag(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false, not {raw!r}")
    return raw.lower() == "true"


def _number(name: str, default: int | None, source: dict | None = None) -> int | None:
    raw = (source if source is not None else request.args).get(name)
    if raw is None or raw == "":
        return default
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}") from None
    if number < 0:
        raise InvalidInput(f"{name} must not be negative")
    return number


def _paged(rows: list) -> list:
    first = _number("firstResult", 0) or 0
    most = _number("maxResults", None)
    return rows[first:] if most is None else rows[first : first + most]


def _count(rows: list) -> dict[str, int]:
    return {"count": len(rows)}


def _link(path: str) -> list[dict[str, str]]:
    return [{"method": "GET", "href": f"{request.host_url.rstrip('/')}/engine-rest/{path}", "rel": "self"}]


def _names(raw: str | None) -> list[str] | None:
    return [n.strip() for n in raw.split(",") if n.strip()] if raw else None


# -- process definitions -------------------------------------------------------------------------------------


def definition_dto(d: ProcessDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "key": d.key,
        "category": "http://bpmn.io/schema/bpmn",
        "description": None,
        "name": d.name,
        "version": d.version,
        "resource": d.resource_name,
        "deploymentId": d.deployment_id,
        "diagram": None,
        "suspended": getattr(d, "suspended_at", None) is not None,  # new starts held by an operator
        "tenantId": None,
        "versionTag": None,
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }


def _definitions() -> list[ProcessDefinition]:
    query = select(ProcessDefinition)
    args = request.args
    if args.get("key"):
        query = query.where(ProcessDefinition.key == args["key"])
    if args.get("keysIn"):
        query = query.where(ProcessDefinition.key.in_(_names(args["keysIn"]) or []))
    if args.get("keyLike"):
        query = query.where(ProcessDefinition.key.like(args["keyLike"]))
    if args.get("name"):
        query = query.where(ProcessDefinition.name == args["name"])
    if args.get("processDefinitionId"):
        query = query.where(ProcessDefinition.id == args["processDefinitionId"])
    if args.get("deploymentId"):
        query = query.where(ProcessDefinition.deployment_id == args["deploymentId"])
    if args.get("version"):
        query = query.where(ProcessDefinition.version == _number("version", None))
    with services().engine.read_session() as session:
        rows = list(session.scalars(query.order_by(ProcessDefinition.key, ProcessDefinition.version)))
        session.expunge_all()
    if _flag("latestVersion"):
        latest: dict[str, ProcessDefinition] = {}
        for row in rows:
            latest[row.key] = row
        rows = list(latest.values())
    return rows


def _definition(key: str | None = None, definition_id: str | None = None) -> ProcessDefinition:
    with services().engine.read_session() as session:
        query = select(ProcessDefinition)
        if definition_id is not None:
            query = query.where(ProcessDefinition.id == definition_id)
        else:
            query = query.where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc()).limit(1)
        found = session.scalar(query)
        if found is None:
            which = f"id {definition_id}" if definition_id is not None else f"key '{key}'"
            raise NotFound(f"no process definition with {which} is deployed")
        session.expunge(found)
        return found


@bp.get("/process-definition")
@_roles(EVERYONE)
@_doc("List process definitions (key, keyLike, name, latestVersion, version, deploymentId; firstResult, maxResults)")
def definitions():
    return [definition_dto(d) for d in _paged(_definitions())]


@bp.get("/process-definition/count")
@_roles(EVERYONE)
@_doc("Count process definitions (the filters of the list)")
def definitions_count():
    return _count(_definitions())


@bp.get("/process-definition/key/<key>")
@_roles(EVERYONE)
@_doc("The latest version of a process definition")
def definition_by_key(key: str):
    return definition_dto(_definition(key=key))


@bp.get("/process-definition/<definition_id>")
@_roles(EVERYONE)
@_doc("A process definition by id")
def definition_by_id(definition_id: str):
    return definition_dto(_definition(definition_id=definition_id))


@bp.get("/process-definition/key/<key>/xml")
@_roles(EVERYONE)
@_doc("The BPMN XML of the latest version")
def definition_xml_by_key(key: str):
    found = _definition(key=key)
    return {"id": found.id, "bpmn20Xml": found.xml}


@bp.get("/process-definition/<definition_id>/xml")
@_roles(EVERYONE)
@_doc("The BPMN XML of a process definition")
def definition_xml_by_id(definition_id: str):
    found = _definition(definition_id=definition_id)
    return {"id": found.id, "bpmn20Xml": found.xml}


def _start(definition: ProcessDefinition):
    body = json_body()
    business_key = body.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise InvalidInput("businessKey must be text")
    started = start_instance(
        services().engine,
        definition.key,
        variables=read_variables(body.get("variables")),
        business_key=business_key,
        version=definition.version,
        actor=actor(),
    )
    instance = started.instance
    answer = _instance_dto(instance["id"], instance["definitionId"], instance["businessKey"], instance["endedAt"])
    if body.get("withVariablesInReturn"):
        answer["variables"] = typed_variables(get_instance(services().engine, instance["id"])["variables"])
    return answer


@bp.post("/process-definition/key/<key>/start")
@_roles(STARTERS)
@_doc("Start an instance of the latest version (variables, businessKey, withVariablesInReturn)")
def start_by_key(key: str):
    return _start(_definition(key=key))


@bp.post("/process-definition/<definition_id>/start")
@_roles(STARTERS)
@_doc("Start an instance of this process definition")
def start_by_id(definition_id: str):
    return _start(_definition(definition_id=definition_id))


# -- deployments ---------------------------------------------------------------------------------------------


@bp.post("/deployment/create")
@_roles(["analyst"])
@_doc("Deploy BPMN and DMN files (multipart/form-data; deployment-name and the other fields are form fields)")
def create_deployment():
    files = [(f.filename or name, f.read()) for name in request.files for f in request.files.getlist(name)]
    if not files:
        raise InvalidInput("upload the .bpmn/.dmn files as multipart/form-data")
    try:
        result = deploy(services().engine, files, actor=actor())
    except InvalidInput as exc:  # a file that is no BPMN or DMN at all: Camunda cannot parse it either
        return camunda_error(400, "ParseException", exc.detail)
    with services().engine.read_session() as session:
        ids = [d["id"] for d in result.definitions]
        rows = session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(ids))).all()
        processes = {row.id: definition_dto(row) for row in rows}
    decisions = {
        d["id"]: {"id": d["id"], "key": d["key"], "version": d["version"], "name": d.get("name")}
        for d in result.decisions
        if "id" in d
    }
    return {
        "links": _link(f"deployment/{result.deployment_id}"),
        "id": result.deployment_id,
        "name": request.form.get("deployment-name"),
        "source": request.form.get("deployment-source"),
        "tenantId": None,
        "deploymentTime": camunda_date(utcnow()),
        "deployedProcessDefinitions": processes or None,
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": decisions or None,
        "deployedDecisionRequirementsDefinitions": None,
    }


# -- process instances ---------------------------------------------------------------------------------------


def _instance_dto(instance_id: str, definition_id: str, business_key: str | None, ended: Any) -> dict[str, Any]:
    return {
        "links": _link(f"process-instance/{instance_id}"),
        "id": instance_id,
        "definitionId": definition_id,
        "businessKey": business_key,
        "caseInstanceId": None,
        "ended": bool(ended),
        "suspended": False,
        "tenantId": None,
    }


def _row_dto(row: ProcessInstance) -> dict[str, Any]:
    return _instance_dto(row.id, row.definition_id, row.business_key, row.ended_at)


def _instances(history: bool = False) -> list[ProcessInstance]:
    args = request.args
    query = select(ProcessInstance)
    if not history:
        query = query.where(ProcessInstance.ended_at.is_(None))
    ids = _names(args.get("processInstanceIds")) or (
        [args["processInstanceId"]] if args.get("processInstanceId") else None
    )
    if ids:
        query = query.where(ProcessInstance.id.in_(ids))
    business_key = args.get("businessKey") or args.get("processInstanceBusinessKey")
    if business_key:
        query = query.where(ProcessInstance.business_key == business_key)
    like = args.get("businessKeyLike") or args.get("processInstanceBusinessKeyLike")
    if like:
        query = query.where(ProcessInstance.business_key.like(like))
    if args.get("processDefinitionKey"):
        query = query.where(ProcessInstance.process_key == args["processDefinitionKey"])
    if args.get("processDefinitionId"):
        query = query.where(ProcessInstance.definition_id == args["processDefinitionId"])
    if _flag("withIncident") or _flag("withIncidents"):
        query = query.where(ProcessInstance.status == INCIDENT)
    if history:
        if _flag("finished"):
            query = query.where(ProcessInstance.ended_at.is_not(None))
        if _flag("unfinished"):
            query = query.where(ProcessInstance.ended_at.is_(None))
        if _flag("completed"):
            query = query.where(ProcessInstance.status == COMPLETED)
        if _flag("externallyTerminated"):
            query = query.where(ProcessInstance.status == CANCELLED)
    with services().engine.read_session() as session:
        rows = list(session.scalars(query.order_by(ProcessInstance.created_at, ProcessInstance.id)))
        session.expunge_all()
        return rows


def _running(instance_id: str) -> ProcessInstance:
    with services().engine.read_session() as session:
        row = session.get(ProcessInstance, instance_id)
        if row is None or row.ended_at is not None:
            raise NotFound(
                f"process instance {instance_id} does not exist or has ended (see /history/process-instance)"
            )
        session.expunge(row)
        return row


@bp.get("/process-instance")
@_roles(EVERYONE)
@_doc("Running process instances (processInstanceIds, businessKey, processDefinitionKey, withIncident, ...)")
def instances():
    return [_row_dto(row) for row in _paged(_instances())]


@bp.get("/process-instance/count")
@_roles(EVERYONE)
@_doc("Count running process instances")
def instances_count():
    return _count(_instances())


@bp.get("/process-instance/<instance_id>")
@_roles(EVERYONE)
@_doc("A running process instance (404 once it ended)")
def instance(instance_id: str):
    return _row_dto(_running(instance_id))


@bp.get("/process-instance/<instance_id>/variables")
@_roles(EVERYONE)
@_doc("The variables of a running process instance, typed")
def instance_variables(instance_id: str):
    return typed_variables(_running(instance_id).variables)


@bp.get("/process-instance/<instance_id>/variables/<name>")
@_roles(EVERYONE)
@_doc("One variable of a running process instance")
def instance_variable(instance_id: str, name: str):
    variables = _running(instance_id).variables or {}
    if name not in variables:
        raise NotFound(f"process instance {instance_id} has no variable {name}")
    return typed_variables(variables, [name])[name]


@bp.delete("/process-instance/<instance_id>")
@_roles(SENDERS)
@_doc("Cancel a running process instance (jobs and tasks are withdrawn)")
def delete_instance(instance_id: str):
    _running(instance_id)
    cancel_instance(services().engine, instance_id, actor=actor())
    return "", 204


# -- history ---------------------------------------------------------------------------------------------------

STATES = {COMPLETED: "COMPLETED", CANCELLED: "EXTERNALLY_TERMINATED"}


def _historic(row: ProcessInstance) -> dict[str, Any]:
    duration = int((row.ended_at - row.created_at).total_seconds() * 1000) if row.ended_at else None
    return {
        "id": row.id,
        "businessKey": row.business_key,
        "processDefinitionId": row.definition_id,
        "processDefinitionKey": row.process_key,
        "processDefinitionName": None,
        "processDefinitionVersion": row.definition_version,
        "startTime": camunda_date(row.created_at),
        "endTime": camunda_date(row.ended_at),
        "removalTime": None,
        "durationInMillis": duration,
        "startUserId": None,
        "startActivityId": None,
        "deleteReason": "cancelled" if row.status == CANCELLED else None,
        "rootProcessInstanceId": row.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "tenantId": None,
        "state": STATES.get(row.status, "ACTIVE"),
    }


@bp.get("/history/process-instance")
@_roles(EVERYONE)
@_doc("Process instances, running and ended (processInstanceId, processInstanceBusinessKey, finished, ...)")
def history():
    return [_historic(row) for row in _paged(_instances(history=True))]


@bp.get("/history/process-instance/count")
@_roles(EVERYONE)
@_doc("Count process instances, running and ended")
def history_count():
    return _count(_instances(history=True))


@bp.get("/history/process-instance/<instance_id>")
@_roles(EVERYONE)
@_doc("A process instance, running or ended")
def historic_instance(instance_id: str):
    with services().engine.read_session() as session:
        row = session.get(ProcessInstance, instance_id)
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        return _historic(row)


@bp.get("/history/variable-instance")
@_roles(EVERYONE)
@_doc("The variables of process instances, running or ended (processInstanceId, variableName)")
def historic_variables():
    rows = _instances(history=True)
    wanted = request.args.get("variableName")
    found = []
    for row in rows:
        for name, entry in typed_variables(row.variables).items():
            if wanted and name != wanted:
                continue
            found.append(
                {
                    "id": f"{row.id}-{name}",
                    "name": name,
                    **entry,
                    "processDefinitionKey": row.process_key,
                    "processDefinitionId": row.definition_id,
                    "processInstanceId": row.id,
                    "executionId": row.id,
                    "activityInstanceId": row.id,
                    "caseDefinitionKey": None,
                    "caseDefinitionId": None,
                    "caseInstanceId": None,
                    "caseExecutionId": None,
                    "taskId": None,
                    "tenantId": None,
                    "errorMessage": None,
                    "state": "CREATED",
                    "createTime": camunda_date(row.created_at),
                    "removalTime": None,
                    "rootProcessInstanceId": row.id,
                }
            )
    return _paged(found)


# -- messages and signals ----------------------------------------------------------------------------------------


@bp.post("/message")
@_roles(SENDERS)
@_doc("Correlate a message (messageName, businessKey, processInstanceId, correlationKeys, all, resultEnabled)")
def message():
    body = json_body()
    name = body.get("messageName")
    if not isinstance(name, str) or not name:
        raise InvalidInput("messageName is required")
    business_key = body.get("businessKey") or None
    instance_id = body.get("processInstanceId") or None
    if not isinstance(business_key, str | None) or not isinstance(instance_id, str | None):
        raise InvalidInput("businessKey and processInstanceId must be text")
    matching = {
        **read_variables(body.get("correlationKeys"), "correlationKeys"),
        **read_variables(body.get("localCorrelationKeys"), "localCorrelationKeys"),
    }
    variables = {
        **read_variables(body.get("processVariables"), "processVariables"),
        **read_variables(body.get("processVariablesLocal"), "processVariablesLocal"),
    }
    engine = services().engine
    try:
        if body.get("all"):
            targets = waiting_instances(engine, name, business_key, instance_id, matching) or [instance_id]
        else:
            targets = [instance_id]
        outcomes = [
            correlate(
                engine,
                name,
                business_key=business_key,
                variables=variables,
                actor=actor(),
                instance_id=target,
                matching=matching or None,
            )
            for target in targets
        ]
    except (NotFound, Conflict) as exc:  # Camunda answers a message that matches nothing (or too much) with 400
        return camunda_error(400, "MismatchingMessageCorrelationException", str(exc))
    if not body.get("resultEnabled"):
        return "", 204
    results = []
    for outcome in outcomes:
        view = get_instance(engine, outcome["instanceId"])
        result: dict[str, Any] = {"resultType": "ProcessDefinition" if outcome["result"] == "started" else "Execution"}
        if outcome["result"] == "started":
            result["processInstance"] = _instance_dto(
                view["id"], view["definitionId"], view["businessKey"], view["endedAt"]
            )
            result["execution"] = None
        else:
            result["execution"] = {
                "id": view["id"],
                "processInstanceId": view["id"],
                "ended": bool(view["endedAt"]),
                "tenantId": None,
            }
            result["processInstance"] = None
        if body.get("variablesInResultEnabled"):
            result["variables"] = typed_variables(view["variables"])
        results.append(result)
    return results


@bp.post("/signal")
@_roles(SENDERS)
@_doc("Broadcast a signal: every order waiting for it gets it, processes with a signal start event start (204)")
def signal():
    body = json_body()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("name is required: the signal's name")
    if body.get("executionId"):
        raise InvalidInput("executionId is not supported: orderflow broadcasts a signal to every order waiting for it")
    broadcast(services().engine, name, read_variables(body.get("variables")), actor=actor())
    return "", 204


# -- external tasks --------------------------------------------------------------------------------------------


def _topic_filters(topic: dict[str, Any]) -> dict[str, Any]:
    name = topic.get("topicName")
    if not isinstance(name, str) or not name:
        raise InvalidInput("every topic needs a topicName")
    lock = topic.get("lockDuration")
    if not isinstance(lock, int) or isinstance(lock, bool) or lock <= 0:
        raise InvalidInput(f"topic {name}: lockDuration must be a positive number of milliseconds")
    names = topic.get("variables")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise InvalidInput(f"topic {name}: variables must be a list of variable names")
    keys = _texts(topic, "processDefinitionKeyIn", "processDefinitionKey", name)
    ids = _texts(topic, "processDefinitionIdIn", "processDefinitionId", name)
    business_key = topic.get("businessKey") or None
    if business_key is not None and not isinstance(business_key, str):
        raise InvalidInput(f"topic {name}: businessKey must be text")
    values = topic.get("processVariables") or {}
    if not isinstance(values, dict):
        raise InvalidInput(f"topic {name}: processVariables must be an object of variable values")
    return {
        "name": name,
        "lock_seconds": lock / 1000,
        "variables": names,
        "business_key": business_key,
        "process_keys": keys,
        "definition_ids": ids,
        "values": values,
        "properties": bool(topic.get("includeExtensionProperties")),
    }


def _texts(topic: dict[str, Any], many: str, one: str, name: str) -> list[str] | None:
    """A filter given as a list (`...In`) or as one value, checked to be text."""
    values = topic.get(many) or ([topic[one]] if topic.get(one) else None)
    if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
        raise InvalidInput(f"topic {name}: {many} must be a list of text and {one} text")
    return values


def _candidates(topic: dict[str, Any], limit: int) -> list[str] | None:
    """Ids of due jobs of the topic whose orders have the asked variable values and definitions (None: no such
    filter, the claim filters alone)."""
    if not topic["values"] and not topic["definition_ids"]:
        return None
    now = utcnow()
    query = (
        select(Job.id, ProcessInstance.definition_id, ProcessInstance.variables)
        .join(ProcessInstance, ProcessInstance.id == Job.instance_id)
        .where(
            Job.kind == SERVICE,
            Job.topic == topic["name"],
            or_(
                (Job.status == JOB_READY) & (Job.due_at <= now),
                (Job.status == JOB_LOCKED) & (Job.lock_expires_at < now),
            ),
        )
        .order_by(Job.due_at)
    )
    with services().engine.read_session() as session:
        rows = session.execute(query).all()
    chosen = []
    for job_id, definition_id, variables in rows:
        if topic["definition_ids"] and definition_id not in topic["definition_ids"]:
            continue
        if any((variables or {}).get(k) != v for k, v in topic["values"].items()):
            continue
        chosen.append(job_id)
        if len(chosen) >= limit:
            break
    return chosen


def _fetch(worker_id: str, most: int, topics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    jobs = services().jobs
    locked = []
    for topic in topics:
        remaining = most - len(locked)
        if remaining <= 0:
            break
        job_ids = _candidates(topic, remaining)
        if job_ids == []:
            continue
        claimed = jobs.claim(
            worker_id,
            limit=remaining,
            topics=[topic["name"]],
            job_ids=job_ids,
            lease_seconds=topic["lock_seconds"],
            service_only=True,
            business_key=topic["business_key"],
            process_keys=topic["process_keys"],
        )
        locked.extend((job, topic) for job in claimed)
    if not locked:
        return []
    with services().engine.read_session() as session:
        rows = session.execute(
            select(Job, ProcessInstance.definition_id, ProcessInstance.process_key)
            .join(ProcessInstance, ProcessInstance.id == Job.instance_id)
            .where(Job.id.in_([job.id for job, _ in locked]))
        ).all()
        found = {row[0].id: (row[0].last_error, row[0].lock_expires_at, row[1], row[2]) for row in rows}
    tasks = []
    for job, topic in locked:
        last_error, expires, definition_id, process_key = found.get(job.id, (None, None, None, None))
        message, _, details = (last_error or "").partition("\n")
        tasks.append(
            {
                "activityId": job.element_id,
                "activityInstanceId": job.element_id,
                "errorMessage": message or None,
                "errorDetails": details or None,
                "executionId": job.instance_id,
                "id": job.id,
                "lockExpirationTime": camunda_date(expires),
                "createTime": None,
                "processDefinitionId": definition_id,
                "processDefinitionKey": process_key,
                "processDefinitionVersionTag": None,
                "processInstanceId": job.instance_id,
                "retries": None if job.attempt == 1 and not last_error else job.max_attempts - job.attempt + 1,
                "suspended": False,
                "workerId": worker_id,
                "topicName": job.topic,
                "tenantId": None,
                "variables": typed_variables(job.variables, topic["variables"]),
                "priority": 0,
                "businessKey": job.business_key,
                "extensionProperties": services().jobs.task_headers(job.instance_id, job.element_id)
                if topic["properties"]
                else {},
            }
        )
    return tasks


@bp.post("/external-task/fetchAndLock")
@_roles(INTEGRATORS)
@_doc("Fetch and lock external tasks by topic; asyncResponseTimeout waits (long polling) until one is ready")
def fetch_and_lock():
    body = json_body()
    worker_id = body.get("workerId")
    if not isinstance(worker_id, str) or not worker_id:
        raise InvalidInput("workerId is required")
    most = _number("maxTasks", 10, body)
    topics = body.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, dict) for t in topics):
        raise InvalidInput("topics must be a list of {topicName, lockDuration, ...}")
    filters = [_topic_filters(t) for t in topics]
    wait_ms = min(_number("asyncResponseTimeout", 0, body) or 0, MAX_POLL_MS)
    if not filters or not most:
        return []
    return services().arrivals.poll(lambda: _fetch(worker_id, most, filters), wait_ms / 1000)


def _lease(job_id: str, worker_id: Any) -> tuple[str, str]:
    if not isinstance(worker_id, str) or not worker_id:
        raise InvalidInput("workerId is required")
    return services().jobs.lease_of(job_id, worker_id)


def _lock_lost(exc: Conflict):
    return camunda_error(400, "BadUserRequestException", str(exc))


@bp.post("/external-task/<job_id>/complete")
@_roles(INTEGRATORS)
@_doc("Complete a locked external task with variables (400 when the worker does not hold its lock)")
def complete_external(job_id: str):
    body = json_body()
    variables = {
        **read_variables(body.get("variables")),
        **read_variables(body.get("localVariables"), "localVariables"),
    }
    try:
        token, instance_id = _lease(job_id, body.get("workerId"))
        services().jobs.complete(job_id, token, variables, actor=actor(), instance_id=instance_id)
    except Conflict as exc:
        return _lock_lost(exc)
    return "", 204


@bp.post("/external-task/<job_id>/failure")
@_roles(INTEGRATORS)
@_doc("Report a failure: retried after retryTimeout while retries are left, else an incident")
def fail_external(job_id: str):
    body = json_body()
    message = str(body.get("errorMessage") or "failed by the worker")
    if body.get("errorDetails"):
        message += "\n" + str(body["errorDetails"])
    retries = _number("retries", None, body)
    retry_timeout = _number("retryTimeout", None, body)
    try:
        token, instance_id = _lease(job_id, body.get("workerId"))
        services().jobs.fail(
            job_id,
            token,
            message,
            retries=retries,
            backoff_seconds=retry_timeout / 1000 if retry_timeout is not None else None,
            actor=actor(),
            instance_id=instance_id,
        )
    except Conflict as exc:
        return _lock_lost(exc)
    return "", 204


@bp.post("/external-task/<job_id>/bpmnError")
@_roles(INTEGRATORS)
@_doc("Throw a BPMN error at the task (errorCode, errorMessage, variables)")
def bpmn_error(job_id: str):
    body = json_body()
    code = body.get("errorCode")
    if not isinstance(code, str) or not code:
        raise InvalidInput("errorCode is required")
    variables = read_variables(body.get("variables"))
    try:
        token, instance_id = _lease(job_id, body.get("workerId"))
        services().jobs.throw_bpmn_error(
            job_id, token, code, str(body.get("errorMessage") or ""), variables, actor=actor(), instance_id=instance_id
        )
    except Conflict as exc:
        return _lock_lost(exc)
    return "", 204


@bp.post("/external-task/<job_id>/extendLock")
@_roles(INTEGRATORS)
@_doc("Extend the worker's lock by newDuration milliseconds from now")
def extend_lock(job_id: str):
    body = json_body()
    duration = _number("newDuration", None, body)
    if not duration:
        raise InvalidInput("newDuration (milliseconds) is required")
    worker_id = body.get("workerId")
    if not isinstance(worker_id, str) or not worker_id:
        raise InvalidInput("workerId is required")
    try:
        services().jobs.extend_lock(job_id, worker_id, duration / 1000)
    except Conflict as exc:
        return _lock_lost(exc)
    return "", 204


@bp.post("/external-task/<job_id>/unlock")
@_roles(INTEGRATORS)
@_doc("Release the lock, so any worker may fetch the task again")
def unlock(job_id: str):
    services().jobs.unlock(job_id)
    services().arrivals.announce()
    return "", 204


def _external_tasks() -> list[dict[str, Any]]:
    args = request.args
    now = utcnow()
    query = (
        select(Job, ProcessInstance.definition_id, ProcessInstance.process_key, ProcessInstance.business_key)
        .join(ProcessInstance, ProcessInstance.id == Job.instance_id)
        .where(Job.kind == SERVICE, Job.status.in_((JOB_READY, JOB_LOCKED, JOB_FAILED)))
    )
    filters = {
        "externalTaskId": Job.id,
        "topicName": Job.topic,
        "workerId": Job.locked_by,
        "processInstanceId": Job.instance_id,
        "processDefinitionId": ProcessInstance.definition_id,
        "processDefinitionKey": ProcessInstance.process_key,
        "activityId": Job.element_id,
    }
    for name, column in filters.items():
        if args.get(name):
            query = query.where(column == args[name])
    if _flag("locked"):
        query = query.where(Job.status == JOB_LOCKED, Job.lock_expires_at >= now)
    if _flag("notLocked"):
        query = query.where(or_(Job.status != JOB_LOCKED, Job.lock_expires_at < now))
    if _flag("withRetriesLeft"):
        query = query.where(Job.status != JOB_FAILED)
    if _flag("noRetriesLeft"):
        query = query.where(Job.status == JOB_FAILED)
    with services().engine.read_session() as session:
        rows = session.execute(query.order_by(Job.created_at, Job.id)).all()
    tasks = []
    for job, definition_id, process_key, business_key in rows:
        message, _, _details = (job.last_error or "").partition("\n")
        locked = job.status == JOB_LOCKED and job.lock_expires_at is not None and job.lock_expires_at >= now
        tasks.append(
            {
                "activityId": job.element_id,
                "activityInstanceId": job.element_id,
                "errorMessage": message or None,
                "executionId": job.instance_id,
                "id": job.id,
                "lockExpirationTime": camunda_date(job.lock_expires_at) if locked else None,
                "createTime": camunda_date(job.created_at),
                "processDefinitionId": definition_id,
                "processDefinitionKey": process_key,
                "processDefinitionVersionTag": None,
                "processInstanceId": job.instance_id,
                "tenantId": None,
                "retries": 0 if job.status == JOB_FAILED else job.max_attempts - job.attempt + 1,
                "suspended": False,
                "workerId": job.locked_by if locked else None,
                "topicName": job.topic,
                "priority": 0,
                "businessKey": business_key,
            }
        )
    return tasks


@bp.get("/external-task")
@_roles(["integrator", "operator"])
@_doc("External tasks not done yet (topicName, workerId, locked, notLocked, processInstanceId, activityId, ...)")
def external_tasks():
    return _paged(_external_tasks())


@bp.get("/external-task/count")
@_roles(["integrator", "operator"])
@_doc("Count external tasks (the filters of the list)")
def external_tasks_count():
    return _count(_external_tasks())


@bp.get("/external-task/<job_id>")
@_roles(["integrator", "operator"])
@_doc("One external task")
def external_task(job_id: str):
    found = [t for t in _external_tasks() if t["id"] == job_id]
    if not found:
        raise NotFound(f"external task {job_id} does not exist or is done")
    return found[0]


# -- user tasks ------------------------------------------------------------------------------------------------


def _definition_ids(instance_ids: set[str]) -> dict[str, str]:
    if not instance_ids:
        return {}
    with services().engine.read_session() as session:
        rows = session.execute(
            select(ProcessInstance.id, ProcessInstance.definition_id).where(ProcessInstance.id.in_(instance_ids))
        )
        return dict(rows.all())


def task_dto(task: dict[str, Any], definition_id: str | None) -> dict[str, Any]:
    return {
        "id": task["id"],
        "name": task["name"],
        "assignee": task["assignee"],
        "owner": None,
        "created": _iso_date(task["createdAt"]),
        "lastUpdated": None,
        "due": _iso_date(task["dueAt"]),
        "followUp": _iso_date(task["followUpAt"]),
        "delegationState": None,
        "description": task["documentation"],
        "executionId": task["instanceId"],
        "parentTaskId": None,
        "priority": task["priority"],
        "processDefinitionId": definition_id,
        "processInstanceId": task["instanceId"],
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": task["elementId"],
        "suspended": False,
        "formKey": task["formKey"],
        "camundaFormRef": None,
        "tenantId": None,
    }


def _tasks() -> list[dict[str, Any]]:
    args = request.args
    first = _number("firstResult", 0) or 0
    most = _number("maxResults", None)
    page = list_tasks(
        services().engine,
        assignee=args.get("assignee") or None,
        candidate_user=args.get("candidateUser") or None,
        candidate_group=args.get("candidateGroup") or None,
        process_key=args.get("processDefinitionKey") or None,
        business_key=args.get("processInstanceBusinessKey") or None,
        instance_id=args.get("processInstanceId") or None,
        element_id=args.get("taskDefinitionKey") or None,
        unassigned=bool(_flag("unassigned")),
        visible_to=caller(),
        per_page=min(first + (most if most is not None else 1000), 10000),
    )
    items = page["items"][first:]
    return items if most is None else items[:most]


@bp.get("/task")
@_roles(WORKERS)
@_doc("Open tasks the caller may work on (assignee, candidateGroup, candidateUser, processInstanceId, ...)")
def tasks():
    found = _tasks()
    definitions = _definition_ids({t["instanceId"] for t in found})
    return [task_dto(t, definitions.get(t["instanceId"])) for t in found]


@bp.get("/task/count")
@_roles(WORKERS)
@_doc("Count open tasks the caller may work on")
def tasks_count():
    return _count(_tasks())


@bp.get("/task/<task_id>")
@_roles(WORKERS)
@_doc("One task")
def task(task_id: str):
    found = get_task(services().engine, task_id, caller())
    return task_dto(found, _definition_ids({found["instanceId"]}).get(found["instanceId"]))


@bp.post("/task/<task_id>/claim")
@_roles(WORKERS)
@_doc("Claim a task for userId (only admins claim for someone else)")
def claim(task_id: str):
    user_id = json_body().get("userId")
    if not isinstance(user_id, str | None):
        raise InvalidInput("userId must be text")
    claim_task(services().engine, task_id, acting_user(user_id), caller())
    return "", 204


@bp.post("/task/<task_id>/unclaim")
@_roles(WORKERS)
@_doc("Give a claimed task back to its candidates")
def unclaim(task_id: str):
    me = caller()
    found = get_task(services().engine, task_id, me)
    user = found["assignee"] if me.is_admin and found["assignee"] else me.name
    unclaim_task(services().engine, task_id, user, me)
    return "", 204


def _complete(task_id: str):
    body = json_body()
    found = get_task(services().engine, task_id, caller())
    try:
        complete_task(services().engine, task_id, read_variables(body.get("variables")), acting_user(None), caller())
    except FormInvalid as exc:
        return camunda_error(400, "InvalidRequestException", f"{exc.detail}: {exc.field_errors}")
    if body.get("withVariablesInReturn"):
        return typed_variables(get_instance(services().engine, found["instanceId"])["variables"])
    return "", 204


@bp.post("/task/<task_id>/complete")
@_roles(WORKERS)
@_doc("Complete a task with variables (the form is checked; withVariablesInReturn)")
def complete(task_id: str):
    return _complete(task_id)


@bp.post("/task/<task_id>/submit-form")
@_roles(WORKERS)
@_doc("Submit a task's form: as complete")
def submit_form(task_id: str):
    return _complete(task_id)


@bp.get("/task/<task_id>/form-variables")
@_roles(WORKERS)
@_doc("The values a task's form starts with (variableNames to choose), typed")
def form_variables(task_id: str):
    found = get_task(services().engine, task_id, caller())
    variables = dict(get_instance(services().engine, found["instanceId"])["variables"] or {})
    fields = found.get("formFields") or []
    if fields:
        values = {}
        for field in fields:
            name = field.get("id")
            if name:
                values[name] = variables.get(name, field.get("defaultValue"))
        variables = values
    return typed_variables(variables, _names(request.args.get("variableNames")))


@bp.get("/task/<task_id>/variables")
@_roles(WORKERS)
@_doc("The variables a task sees (its order's), typed")
def task_variables(task_id: str):
    found = get_task(services().engine, task_id, caller())
    return typed_variables(get_instance(services().engine, found["instanceId"])["variables"])


# -- the engine itself, and everything else --------------------------------------------------------------------


@bp.get("/engine")
@_doc("The process engines: one, named default")
def engines():
    return [{"name": "default"}]


@bp.get("/version")
@_doc("The Camunda REST version this API follows")
def version():
    return {"version": "7.24.0"}


ANY = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@bp.route("/", methods=ANY)
@bp.route("/<path:rest>", methods=ANY)
@bp.doc(hide=True)
def unsupported(rest: str = ""):
    path = re.sub(r"[^\w/.-]", "", rest)[:200]
    return camunda_error(
        404,
        "NotSupported",
        f"{request.method} /engine-rest/{path} is not supported by orderflow; the supported Camunda 7 endpoints are "
        "listed in the OpenAPI spec at /api/v1/openapi.json (tag 'Camunda 7 engine REST')",
    )
