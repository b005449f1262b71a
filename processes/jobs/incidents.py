"""Incidents: instances the engine stopped on a failure, listed for operators by impact, retried or resolved.

A retry is one engine step (`Engine.step` with a command), like every other change to an instance:
- `job_failed` (retries exhausted): the job goes back to ready with its attempts renewed (attempt 1, due now);
- `engine_error` / `timer_error` (a script, expression, decision or timer failed: the SpiffWorkflow task is in
  ERROR): the task is reset to READY (`reset_from_task_id`, data again from its parent) and the step runs it again;
- `bpmn_error` (no boundary caught it) and `unbound_service_task`: the job of the waiting service task is made
  again by the step;
- `uncaught_error` (an error end or throw event nothing catches): the engine runs again and the event throws again.
The incident is then resolved with resolution "retried"; the instance leaves the incident status (unless other
incidents of it are still open) and the step derives running or waiting. A retry that fails again opens a new
incident (in the same step for engine errors, when the worker reports for jobs); the retried one stays resolved.

Resolving without a retry (the operator fixed the cause elsewhere) closes the incident with a comment and leaves the
instance exactly as it is: it is not an engine step and runs nothing; an instance whose last incident was resolved
this way keeps the status `incident` until it is cancelled.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.task import TaskState
from sqlalchemy import func, insert, select, update

from processes.core.engine import JOB_KEY, Engine
from processes.core.models import (
    ACTIVE_JOB_STATUSES,
    ENDED_STATUSES,
    INCIDENT,
    JOB_READY,
    RUNNING,
    AuditEvent,
    Incident,
    IncidentBatch,
    Job,
    ProcessInstance,
    new_id,
    utcnow,
)
from processes.core.records import IncidentRecord, JobRecord
from processes.core.spiff import find_task, tasks_in
from processes.core.step import Step
from processes.errors import Conflict, InternalError, InvalidInput, NotFound, OrderflowError
from processes.instances import iso

log = logging.getLogger(__name__)

OPEN = "open"
RESOLVED = "resolved"
RETRIED = "retried"  # resolution of an incident an operator retried
FIXED = "resolved"  # resolution of an incident resolved with a comment, without a retry

# Results of a retry, one per incident in a bulk retry.
RESULT_RETRIED = "retried"
RESULT_FAILED = "failed"
RESULT_NOT_FOUND = "not found"
RESULT_ALREADY_RESOLVED = "already resolved"

MAX_BULK = 1000


class AlreadyResolved(Conflict):
    """The incident was resolved before (by someone else, or by cancelling its instance)."""


# -- impact ----------------------------------------------------------------------------------------------


TIER_RANK = {"gold": 2, "silver": 1}  # anything else ("standard", none) is 0


_WEIGHT_NAMES = {"value": "value", "tier": "tier", "age_hours": "age_hours", "agehours": "age_hours"}


@dataclass(frozen=True)
class ImpactWeights:
    """score = value * order value + tier * tier rank (gold 2, silver 1, other 0) + age_hours * hours open."""

    value: float = 1.0
    tier: float = 500.0
    age_hours: float = 10.0

    @classmethod
    def parse(cls, text: str | None) -> ImpactWeights:
        """Parse "value=1,tier=500,age_hours=10"; names left out keep their default. Raises ValueError."""
        values: dict[str, float] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            name, sep, number = part.partition("=")
            field = _WEIGHT_NAMES.get(name.strip().lower().replace("-", "_"))
            if not sep or field is None:
                raise ValueError(
                    f"impact weight {part.strip()!r}: expected name=number with name value, tier or age_hours"
                )
            try:
                values[field] = float(number)
            except ValueError:
                raise ValueError(f"impact weight {name.strip()}: {number.strip()!r} is not a number") from None
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "tier": self.tier, "ageHours": self.age_hours}


@dataclass(frozen=True)
class Impact:
    score: float
    value: float
    tier: str | None
    age_hours: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "value": self.value,
            "tier": self.tier,
            "ageHours": round(self.age_hours, 3),
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def order_value(variables: Mapping[str, Any] | None) -> float:
    """The variable `total`, else the sum of items[].quantity * unitPrice, else 0."""
    variables = variables or {}
    total = _number(variables.get("total"))
    if total is not None:
        return total
    items = variables.get("items")
    value = 0.0
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping):
                quantity, price = _number(item.get("quantity")), _number(item.get("unitPrice"))
                if quantity is not None and price is not None:
                    value += quantity * price
    return value


def customer_tier(variables: Mapping[str, Any] | None) -> str | None:
    customer = (variables or {}).get("customer")
    tier = customer.get("tier") if isinstance(customer, Mapping) else None
    return tier.strip().lower() if isinstance(tier, str) and tier.strip() else None


def impact(variables: Mapping[str, Any] | None, opened_at: datetime, until: datetime, weights: ImpactWeights) -> Impact:
    """How much an incident hurts: order value, customer tier and time open (until now, or until resolved)."""
    value = order_value(variables)
    tier = customer_tier(variables)
    age_hours = max((until - opened_at).total_seconds(), 0.0) / 3600
    score = weights.value * value + weights.tier * TIER_RANK.get(tier or "", 0) + weights.age_hours * age_hours
    return Impact(score=score, value=value, tier=tier, age_hours=age_hours)


# -- reading ---------------------------------------------------------------------------------------------


_COLUMNS = (
    Incident,
    ProcessInstance.business_key,
    ProcessInstance.process_key,
    ProcessInstance.variables,
    ProcessInstance.status.label("instance_status"),
    ProcessInstance.definition_version,
)


def _query(
    *,
    status: str | None = OPEN,
    process_key: str | None = None,
    element_id: str | None = None,
    error_type: str | None = None,
    business_key: str | None = None,
    instance_id: str | None = None,
):
    query = select(*_COLUMNS).join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
    if status == OPEN:
        query = query.where(Incident.resolved_at.is_(None))
    elif status == RESOLVED:
        query = query.where(Incident.resolved_at.is_not(None))
    elif status is not None:
        raise InvalidInput(f"status must be '{OPEN}' or '{RESOLVED}', not {status!r}")
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if element_id:
        query = query.where(Incident.element_id == element_id)
    if error_type:
        query = query.where(Incident.error_type == error_type)
    if business_key:
        query = query.where(ProcessInstance.business_key == business_key)
    if instance_id:
        query = query.where(Incident.instance_id == instance_id)
    return query


def incident_view(row, weights: ImpactWeights, now: datetime) -> dict[str, Any]:
    incident: Incident = row.Incident
    resolution_seconds = (
        round((incident.resolved_at - incident.created_at).total_seconds(), 3) if incident.resolved_at else None
    )
    return {
        "id": incident.id,
        "instanceId": incident.instance_id,
        "instanceStatus": row.instance_status,
        "businessKey": row.business_key,
        "processKey": row.process_key,
        "definitionVersion": row.definition_version,
        "elementId": incident.element_id,
        "jobId": incident.job_id,
        "errorType": incident.error_type,
        "message": incident.message,
        "createdAt": iso(incident.created_at),
        "resolvedAt": iso(incident.resolved_at),
        "resolvedBy": incident.resolved_by,
        "resolution": incident.resolution,
        "comment": incident.comment,
        "resolutionSeconds": resolution_seconds,
        "impact": impact(row.variables, incident.created_at, incident.resolved_at or now, weights).as_dict(),
    }


def list_incidents(
    engine: Engine,
    *,
    weights: ImpactWeights,
    status: str = OPEN,
    process_key: str | None = None,
    element_id: str | None = None,
    error_type: str | None = None,
    business_key: str | None = None,
    instance_id: str | None = None,
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
    sla_risk: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Open (or resolved) incidents, highest impact first (then oldest). The score depends on the time and on the
    weights, so the filtered rows are scored here rather than sorted by the database. With `sla_risk` (order id ->
    the probability of missing its SLA, from processes/prediction), the riskiest orders' incidents come first and
    each incident carries its order's `slaRisk`."""
    now = now or utcnow()
    query = _query(
        status=status, process_key=process_key, element_id=element_id, error_type=error_type,
        business_key=business_key, instance_id=instance_id,
    )  # fmt: skip
    with engine.read_session() as session:
        views = [incident_view(row, weights, now) for row in session.execute(query)]
    views.sort(key=lambda v: (-v["impact"]["score"], v["createdAt"], v["id"]))
    if sla_risk is not None:
        for view in views:
            view["slaRisk"] = sla_risk.get(view["instanceId"])
        views.sort(key=lambda v: -(v["slaRisk"] if v["slaRisk"] is not None else -1.0))  # stable: impact breaks ties
    start = (page - 1) * per_page
    return {
        "items": views[start : start + per_page],
        "total": len(views),
        "page": page,
        "perPage": per_page,
        "weights": weights.as_dict(),
    }


def get_incident(engine: Engine, incident_id: str, *, weights: ImpactWeights, now: datetime | None = None) -> dict:
    with engine.read_session() as session:
        row = session.execute(_query(status=None).where(Incident.id == incident_id)).first()
        if row is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return incident_view(row, weights, now or utcnow())


def resolution_times(engine: Engine, *, since: datetime | None = None) -> dict[str, Any]:
    """The exception resolution time KPI: seconds from open to resolved, per resolution ("retried", "resolved";
    incidents closed by cancelling their instance have none and are left out)."""
    query = select(Incident.resolution, Incident.created_at, Incident.resolved_at).where(
        Incident.resolved_at.is_not(None), Incident.resolution.is_not(None)
    )
    if since is not None:
        query = query.where(Incident.resolved_at >= since)
    by_resolution: dict[str, list[float]] = {}
    with engine.read_session() as session:
        for resolution, created_at, resolved_at in session.execute(query):
            by_resolution.setdefault(resolution, []).append((resolved_at - created_at).total_seconds())

    def stats(seconds: list[float]) -> dict[str, Any]:
        return {
            "count": len(seconds),
            "meanSeconds": round(statistics.fmean(seconds), 3) if seconds else None,
            "medianSeconds": round(statistics.median(seconds), 3) if seconds else None,
            "maxSeconds": round(max(seconds), 3) if seconds else None,
        }

    every = [s for values in by_resolution.values() for s in values]
    return {"all": stats(every), **{name: stats(values) for name, values in sorted(by_resolution.items())}}


# -- retry (one engine step) -----------------------------------------------------------------------------


@dataclass
class RetryOutcome:
    incident_id: str
    instance_id: str
    result: str  # RESULT_RETRIED or RESULT_FAILED (the retry ran and failed again at once)
    detail: str
    new_incident_id: str | None
    instance_status: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "instanceId": self.instance_id,
            "result": self.result,
            "detail": self.detail,
            "newIncidentId": self.new_incident_id,
            "instanceStatus": self.instance_status,
        }


def _renew_job(engine: Engine, step: Step, incident: IncidentRecord) -> str:
    """job_failed: the failed job is ready again, attempts renewed, due now."""
    jobs = step.active_jobs()
    job = next((j for j in jobs if j.id == incident.job_id), None)
    if job is None and incident.job_id:
        found = JobRecord.load(step.connection, Job.id == incident.job_id)
        job = found[0] if found else None
    task = find_task(step.workflow, incident.task_id or (job.task_id if job is not None else None))
    if job is None or task is None or task.state != TaskState.STARTED or task.internal_data.get(JOB_KEY) != job.id:
        return "nothing to run again: the task of the job was left meanwhile"
    if job.status in ACTIVE_JOB_STATUSES:
        return f"job {job.id} is already {job.status}"
    now = utcnow()
    job.status, job.attempt, job.due_at, job.updated_at = JOB_READY, 1, now, now
    job.locked_by, job.lease_token, job.lock_expires_at = None, None, None
    # Sent by the transport after commit (as a new job is); else the sweep sends it.
    job.dispatched_at = now if engine.dispatcher.sends_after_commit else None
    if job not in jobs:
        jobs.append(job)
        step.records.append(job)
    step.new_jobs.append(job)
    step.record("job_retried", task, {"jobId": job.id, "maxAttempts": job.max_attempts})
    return f"job {job.id} is ready again with {job.max_attempts} attempt(s)"


def _recreate_job(engine: Engine, step: Step, incident: IncidentRecord) -> str:
    """bpmn_error, unbound_service_task: the waiting service task gets a new job (made by the step's derive)."""
    task = find_task(step.workflow, incident.task_id)
    if task is None or task.state != TaskState.STARTED:
        return "nothing to run again: the task was left meanwhile"
    task.internal_data.pop(JOB_KEY, None)
    return "the task gets a new job"


def _rerun_task(engine: Engine, step: Step, incident: IncidentRecord) -> str:
    """engine_error, timer_error: the task in ERROR is reset to READY (its data again from its parent), and the
    step's do_engine_steps runs it again; without one, the step only runs the engine (timers are refreshed)."""
    task = find_task(step.workflow, incident.task_id)
    failed = [task] if task is not None and task.state == TaskState.ERROR else tasks_in(step.workflow, TaskState.ERROR)
    for each in failed:
        step.workflow.reset_from_task_id(each.id)
    if not failed:
        return "the engine runs again"
    return "run again: " + ", ".join(getattr(t.task_spec, "bpmn_id", None) or t.task_spec.name for t in failed)


BRING_BACK = {
    "job_failed": _renew_job,
    "bpmn_error": _recreate_job,
    "unbound_service_task": _recreate_job,
    "engine_error": _rerun_task,
    "timer_error": _rerun_task,
}


def retry_incident(engine: Engine, incident_id: str, *, actor: str | None = None) -> RetryOutcome:
    """Bring an incident's instance back in one engine step; the incident is resolved as "retried"."""
    with engine.read_session() as session:
        instance_id = session.scalar(select(Incident.instance_id).where(Incident.id == incident_id))
    if instance_id is None:
        raise NotFound(f"incident {incident_id} does not exist")
    details: list[str] = []

    def apply(step: Step) -> None:
        # Read again under the instance's lock: a concurrent retry or resolve has committed or waits for us.
        incident = IncidentRecord.load(step.connection, Incident.id == incident_id)[0]
        if incident.resolved_at is not None:
            raise AlreadyResolved(f"incident {incident_id} is already {incident.resolution or 'resolved'}")
        if step.instance.status in ENDED_STATUSES:
            raise Conflict(f"process instance {step.instance.id} is {step.instance.status}")
        step.record(
            "incident_retried",
            data={"incidentId": incident.id, "errorType": incident.error_type},
            element_id=incident.element_id,
        )
        details.append(BRING_BACK.get(incident.error_type, _rerun_task)(engine, step, incident))
        now = utcnow()
        incident.resolved_at, incident.resolution, incident.resolved_by = now, RETRIED, actor
        step.records.append(incident)
        others_open = step.connection.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.instance_id == step.instance.id, Incident.resolved_at.is_(None), Incident.id != incident.id)
        )
        if not others_open and step.instance.status == INCIDENT:
            # The step's derive keeps INCIDENT while the status says so; from RUNNING it derives running or
            # waiting (or incident again, when the retry fails at once).
            step.instance.status = RUNNING

    step = engine.step(instance_id, apply, actor=actor)
    detail = details[0] if details else ""
    new = step.incident
    if new is not None:
        return RetryOutcome(
            incident_id, instance_id, RESULT_FAILED, f"failed again: {new.message}", new.id, step.instance.status
        )
    return RetryOutcome(incident_id, instance_id, RESULT_RETRIED, detail, None, step.instance.status)


# -- resolve without retry -------------------------------------------------------------------------------


def resolve_incident(
    engine: Engine, incident_id: str, *, comment: str, actor: str | None = None, weights: ImpactWeights | None = None
) -> dict[str, Any]:
    """Close an incident whose cause the operator fixed elsewhere. The instance is not touched (no engine step)."""
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("a comment is required: say how the incident was resolved")
    now = utcnow()
    with engine.write_connection() as connection:
        instance_id = connection.scalar(select(Incident.instance_id).where(Incident.id == incident_id))
        if instance_id is None:
            raise NotFound(f"incident {incident_id} does not exist")
        # The instance's row lock first, as an engine step takes it: a concurrent retry and resolve take turns.
        connection.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id).with_for_update())
        current = connection.execute(
            select(Incident.resolved_at, Incident.resolution, Incident.element_id, Incident.error_type)
            .where(Incident.id == incident_id)
            .with_for_update()
        ).one()
        if current.resolved_at is not None:
            raise AlreadyResolved(f"incident {incident_id} is already {current.resolution or 'resolved'}")
        connection.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(resolved_at=now, resolution=FIXED, resolved_by=actor, comment=comment)
        )
        connection.execute(
            insert(AuditEvent).values(
                instance_id=instance_id,
                at=now,
                type="incident_resolved",
                element_id=current.element_id,
                actor=actor,
                data={"incidentId": incident_id, "errorType": current.error_type, "comment": comment},
            )
        )
    return get_incident(engine, incident_id, weights=weights or ImpactWeights())


# -- bulk retry ------------------------------------------------------------------------------------------


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def retry_many(
    engine: Engine,
    *,
    ids: list[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    weights: ImpactWeights,
    actor: str | None = None,
    limit: int = MAX_BULK,
) -> dict[str, Any]:
    """Retry incidents one by one (one engine step each), as a tracked batch with a result per incident. With
    `filters`, the open incidents that match, highest impact first, at most `limit`."""
    if (ids is None) == (filters is None):
        raise InvalidInput("give either ids or filter")
    if ids is not None:
        targets = _unique(ids)
        if len(targets) > limit:
            raise InvalidInput(f"at most {limit} incidents per batch, not {len(targets)}")
        request: dict[str, Any] = {"ids": targets}
    else:
        filters = {k: v for k, v in dict(filters or {}).items() if v is not None}
        names = {"processKey", "elementId", "errorType", "businessKey", "instanceId"}
        unknown = set(filters) - names
        if unknown:
            raise InvalidInput(f"unknown filter {', '.join(sorted(unknown))}: use {', '.join(sorted(names))}")
        matched = list_incidents(
            engine,
            weights=weights,
            status=OPEN,
            process_key=filters.get("processKey"),
            element_id=filters.get("elementId"),
            error_type=filters.get("errorType"),
            business_key=filters.get("businessKey"),
            instance_id=filters.get("instanceId"),
            per_page=limit,
        )
        targets = [item["id"] for item in matched["items"]]
        request = {"filter": filters, "matched": matched["total"]}
    batch_id = new_id()
    with engine.write_connection() as connection:
        connection.execute(
            insert(IncidentBatch).values(
                id=batch_id, created_at=utcnow(), created_by=actor, request=request, total=len(targets),
                succeeded=0, failed=0, items=[],
            )
        )  # fmt: skip
    items = [_retry_one(engine, incident_id, actor) for incident_id in targets]
    succeeded = sum(1 for item in items if item["result"] == RESULT_RETRIED)
    with engine.write_connection() as connection:
        connection.execute(
            update(IncidentBatch)
            .where(IncidentBatch.id == batch_id)
            .values(items=items, succeeded=succeeded, failed=len(items) - succeeded, finished_at=utcnow())
        )
    return get_batch(engine, batch_id)


def _retry_one(engine: Engine, incident_id: str, actor: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": incident_id, "result": RESULT_FAILED, "detail": None}
    try:
        outcome = retry_incident(engine, incident_id, actor=actor)
    except NotFound as exc:
        item.update(result=RESULT_NOT_FOUND, detail=exc.detail)
    except AlreadyResolved as exc:
        item.update(result=RESULT_ALREADY_RESOLVED, detail=exc.detail)
    except OrderflowError as exc:
        if isinstance(exc, InternalError):  # a bug, not an answer: logged with its class like any other
            log.exception("retry of incident %s failed", incident_id)
            item.update(detail=f"{exc.__class__.__name__}: {exc}")
        else:
            item.update(detail=exc.detail)
    except Exception as exc:  # one broken instance must not stop the batch; it is reported, not hidden
        log.exception("retry of incident %s failed", incident_id)
        item.update(detail=f"{exc.__class__.__name__}: {exc}")
    else:
        item.update(
            result=outcome.result,
            detail=outcome.detail,
            instanceId=outcome.instance_id,
            instanceStatus=outcome.instance_status,
            newIncidentId=outcome.new_incident_id,
        )
    return item


def get_batch(engine: Engine, batch_id: str) -> dict[str, Any]:
    with engine.read_session() as session:
        batch = session.get(IncidentBatch, batch_id)
        if batch is None:
            raise NotFound(f"incident batch {batch_id} does not exist")
        items = list(batch.items or [])
        counts: dict[str, int] = {}
        for item in items:
            counts[item["result"]] = counts.get(item["result"], 0) + 1
        return {
            "id": batch.id,
            "createdAt": iso(batch.created_at),
            "createdBy": batch.created_by,
            "finishedAt": iso(batch.finished_at),
            "request": batch.request,
            "total": batch.total,
            "succeeded": batch.succeeded,
            "failed": batch.failed,
            "counts": counts,
            "items": items,
        }
