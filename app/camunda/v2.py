"""Camunda 8's REST API for job workers and starts, at /v2 (the Orchestration Cluster API), over the same
functions as /api/v1.

- a job is a service job: `jobKey` is the job id, `type` its topic, `timeout` its lease; `processInstanceKey` the
  instance id and `processDefinitionId` the process key (Camunda 8's BPMN process id). Keys are strings, as
  Camunda 8.7+ sends them;
- job activation long-polls for `requestTimeout` milliseconds (absent or 0: 10 s, as Camunda's gateway; negative:
  answer at once);
- messages: a publication or correlation reaches the instance waiting with that name and correlation key, or starts
  a process with a message start event of that name. orderflow does not buffer messages: one that reaches nobody
  is 404, never kept for `timeToLive`;
- errors are application/problem+json, as Camunda 8 answers them.

Anything else under /v2 answers 404 naming the path."""

from __future__ import annotations

import re
import time
from typing import Any

from apiflask import APIBlueprint
from flask import request
from sqlalchemy import select

from processes.core.models import ProcessInstance
from processes.errors import InvalidInput
from processes.features.messages import correlate
from processes.features.signals import broadcast as broadcast_signal
from processes.instances import check_variables, start_instance

from .. import __version__
from ..auth import EVERYONE, actor
from ..problems import problem
from ..services import services
from .access import INTEGRATORS, MAX_POLL_MS, SENDERS, STARTERS, authorized, json_body

bp = APIBlueprint("camunda8", __name__, url_prefix="/v2", tag="Camunda 8 REST")

DEFAULT_POLL_MS = 10_000
SECURITY = ["BearerAuth", "BasicAuth"]


def _refuse(status: int, message: str):
    return problem(status, "Unauthorized" if status == 401 else "Forbidden", message)


def _roles(roles: list[str]):
    return authorized(roles, _refuse)


def _doc(summary: str):
    return bp.doc(summary=summary, security=SECURITY)


@bp.errorhandler(InvalidInput)
def _bad_request(error: InvalidInput):
    """Camunda 8 answers a request it cannot take with 400."""
    return problem(400, "Bad Request", error.detail or error.title)


def _text(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be text")
    return str(value)


def _whole(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number")
    return value


def _variables(body: dict[str, Any]) -> dict[str, Any]:
    return check_variables(body.get("variables"))


# -- jobs ----------------------------------------------------------------------------------------------------


def _activate(worker: str, job_type: str, most: int, timeout_ms: int, fetch: list[str] | None) -> list[dict]:
    jobs = services().jobs
    claimed = jobs.claim(worker, limit=most, topics=[job_type], lease_seconds=timeout_ms / 1000, service_only=True)
    if not claimed:
        return []
    deadline = int(time.time() * 1000) + timeout_ms
    with services().engine.read_session() as session:
        rows = session.execute(
            select(
                ProcessInstance.id,
                ProcessInstance.process_key,
                ProcessInstance.definition_version,
                ProcessInstance.definition_id,
            ).where(ProcessInstance.id.in_({job.instance_id for job in claimed}))
        ).all()
        instances = {row[0]: row[1:] for row in rows}
    activated = []
    for job in claimed:
        process_key, version, definition_id = instances.get(job.instance_id, (None, None, None))
        variables = job.variables if fetch is None else {n: job.variables[n] for n in fetch if n in job.variables}
        activated.append(
            {
                "jobKey": job.id,
                "type": job.topic,
                "processInstanceKey": job.instance_id,
                "processDefinitionId": process_key,
                "processDefinitionVersion": version,
                "processDefinitionKey": definition_id,
                "elementId": job.element_id,
                "elementInstanceKey": job.instance_id,
                "customHeaders": jobs.task_headers(job.instance_id, job.element_id),
                "worker": worker,
                "retries": job.max_attempts - job.attempt + 1,
                "deadline": deadline,
                "variables": variables,
                "tenantId": "<default>",
                "kind": "BPMN_ELEMENT",
                "listenerEventType": "UNSPECIFIED",
            }
        )
    return activated


@bp.post("/jobs/activation")
@_roles(INTEGRATORS)
@_doc("Activate jobs of a type (type, worker, timeout, maxJobsToActivate, fetchVariable, requestTimeout)")
def activate():
    body = json_body()
    job_type = _text(body, "type")
    worker = _text(body, "worker", required=False) or "default"
    timeout_ms = _whole(body, "timeout", None)
    if timeout_ms is None or timeout_ms <= 0:
        raise InvalidInput("timeout (milliseconds a job stays activated for this worker) must be positive")
    most = _whole(body, "maxJobsToActivate", None)
    if most is None or most <= 0:
        raise InvalidInput("maxJobsToActivate must be positive")
    fetch = body.get("fetchVariable")
    if fetch is not None and not (isinstance(fetch, list) and all(isinstance(n, str) for n in fetch)):
        raise InvalidInput("fetchVariable must be a list of variable names")
    wait_ms = _whole(body, "requestTimeout", 0) or DEFAULT_POLL_MS
    wait_ms = -1 if wait_ms < 0 else min(wait_ms, MAX_POLL_MS)
    found = services().arrivals.poll(
        lambda: _activate(worker, job_type, most, timeout_ms, fetch or None), wait_ms / 1000
    )
    return {"jobs": found}


@bp.post("/jobs/<job_key>/completion")
@_roles(INTEGRATORS)
@_doc("Complete an activated job with variables")
def complete(job_key: str):
    body = json_body()
    variables = _variables(body)
    jobs = services().jobs
    token, instance_id = jobs.current_lease(job_key)
    jobs.complete(job_key, token, variables, actor=actor(), instance_id=instance_id)
    return "", 204


@bp.post("/jobs/<job_key>/failure")
@_roles(INTEGRATORS)
@_doc("Fail an activated job: retried after retryBackOff while retries are left, else an incident")
def fail(job_key: str):
    body = json_body()
    retries = _whole(body, "retries", None)
    backoff = _whole(body, "retryBackOff", None)
    jobs = services().jobs
    token, instance_id = jobs.current_lease(job_key)
    jobs.fail(
        job_key,
        token,
        str(body.get("errorMessage") or "failed by the worker"),
        retries=retries,
        backoff_seconds=backoff / 1000 if backoff is not None else None,
        actor=actor(),
        instance_id=instance_id,
    )
    return "", 204


@bp.post("/jobs/<job_key>/error")
@_roles(INTEGRATORS)
@_doc("Throw a BPMN error at the job's task (errorCode, errorMessage, variables)")
def error(job_key: str):
    body = json_body()
    code = _text(body, "errorCode")
    variables = _variables(body)
    jobs = services().jobs
    token, instance_id = jobs.current_lease(job_key)
    jobs.throw_bpmn_error(
        job_key, token, code, str(body.get("errorMessage") or ""), variables, actor=actor(), instance_id=instance_id
    )
    return "", 204


# -- process instances and messages -------------------------------------------------------------------------


@bp.post("/process-instances")
@_roles(STARTERS)
@_doc("Start a process instance (processDefinitionId = the BPMN process id, processDefinitionVersion, variables)")
def create_instance():
    body = json_body()
    key = _text(body, "processDefinitionId", required=False)
    if key is None:
        raise InvalidInput("processDefinitionId (the BPMN process id) is required; orderflow starts by process id")
    if body.get("awaitCompletion"):
        raise InvalidInput("awaitCompletion is not supported: start, then read the instance")
    version = _whole(body, "processDefinitionVersion", None)
    started = start_instance(
        services().engine,
        key,
        variables=_variables(body),
        version=None if version is None or version < 0 else version,
        actor=actor(),
    )
    instance = started.instance
    return {
        "processDefinitionId": instance["processKey"],
        "processDefinitionVersion": instance["definitionVersion"],
        "processDefinitionKey": instance["definitionId"],
        "processInstanceKey": instance["id"],
        "tenantId": "<default>",
        "variables": {},
    }


def _message(body: dict[str, Any]) -> dict[str, Any]:
    name = _text(body, "name")
    correlation_key = _text(body, "correlationKey", required=False)
    return correlate(
        services().engine, name, correlation_key=correlation_key, variables=_variables(body), actor=actor()
    )


@bp.post("/messages/publication")
@_roles(SENDERS)
@_doc("Publish a message: it reaches the instance waiting with that correlationKey (404 when none; not buffered)")
def publish():
    outcome = _message(json_body())
    return {"messageKey": outcome["instanceId"], "tenantId": "<default>"}


@bp.post("/messages/correlation")
@_roles(SENDERS)
@_doc("Correlate a message to the instance waiting with that correlationKey, or start one at a message start event")
def correlation():
    outcome = _message(json_body())
    return {"messageKey": outcome["instanceId"], "tenantId": "<default>", "processInstanceKey": outcome["instanceId"]}


@bp.post("/signals/broadcast")
@_roles(SENDERS)
@_doc("Broadcast a signal: every order waiting for it gets it, processes with a signal start event start")
def broadcast():
    body = json_body()
    outcome = broadcast_signal(services().engine, _text(body, "signalName"), _variables(body), actor=actor())
    key = (outcome["started"] or outcome["reached"] or [None])[0]
    return {"signalKey": key or outcome["signal"], "tenantId": "<default>"}


@bp.get("/topology")
@_roles(EVERYONE)
@_doc("The cluster: one broker, one partition (orderflow is one engine on one database)")
def topology():
    return {
        "brokers": [
            {
                "nodeId": 0,
                "host": request.host.split(":")[0],
                "port": int(request.host.split(":")[1]) if ":" in request.host else 80,
                "partitions": [{"partitionId": 1, "role": "leader", "health": "healthy"}],
                "version": __version__,
            }
        ],
        "clusterSize": 1,
        "partitionsCount": 1,
        "replicationFactor": 1,
        "gatewayVersion": __version__,
        "lastCompletedChangeId": "-1",
    }


ANY = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@bp.route("/", methods=ANY)
@bp.route("/<path:rest>", methods=ANY)
@bp.doc(hide=True)
def unsupported(rest: str = ""):
    path = re.sub(r"[^\w/.-]", "", rest)[:200]
    return problem(
        404,
        "Not supported",
        f"{request.method} /v2/{path} is not supported by orderflow; the supported Camunda 8 endpoints are listed in "
        "the OpenAPI spec at /api/v1/openapi.json (tag 'Camunda 8 REST')",
    )
