"""Batches: one operator action on many orders (cancel, suspend, resume, migrate, retry incidents).

A batch is a row (what was asked, the targets, a result per target) and a job of kind `batch` that the workers run
through the ordinary job machinery, so it runs on the embedded runner and on Celery workers alike and survives a
restart: the job works for a while under its lease, saves the results so far, and puts itself back for the next
round; whoever claims it next goes on after the last saved result. Each order is its own engine step."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from processes.core.engine import Engine
from processes.core.feature import Feature
from processes.core.models import (
    BATCH,
    JOB_DONE,
    JOB_LOCKED,
    JOB_READY,
    Batch,
    Incident,
    Job,
    iso,
    new_id,
    utcnow,
)
from processes.core.records import JobRecord, write
from processes.core.transport import ClaimedJob
from processes.errors import Conflict, InternalError, InvalidInput, NotFound, OrderflowError
from processes.instances import cancel_instance
from processes.jobs import incidents
from processes.operations import migration, suspension
from processes.operations.selection import select_instances
from processes.operations.variables import patch_variables

log = logging.getLogger(__name__)

RUNNING, COMPLETED = "running", "completed"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"
OPERATIONS = ("cancel", "suspend", "resume")


def create_batch(
    engine: Engine, operation: str, request: dict[str, Any], targets: list[str], *, actor: str | None = None
) -> str:
    """Write the batch and its job in one transaction, then hand the job to the workers."""
    now = utcnow()
    batch_id = new_id()
    job = JobRecord.new(
        id=new_id(), instance_id=None, kind=BATCH, due_at=now, max_attempts=1, variables={"batchId": batch_id}
    )
    if engine.dispatcher.sends_after_commit:
        job.dispatched_at = now
    with engine.write_connection() as connection:
        connection.execute(
            Batch.__table__.insert().values(
                id=batch_id, operation=operation, status=RUNNING if targets else COMPLETED, request=request,
                targets=targets, items=[], created_at=now, created_by=actor, finished_at=None if targets else now,
            )
        )  # fmt: skip
        if targets:
            write(connection, [job])
    if targets:
        engine.dispatcher.dispatch([job])
    return batch_id


def batch_instances(
    engine: Engine, operation: str, filter_: Any, *, comment: str | None = None, actor: str | None = None
) -> str:
    if operation not in OPERATIONS:
        raise InvalidInput(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
    targets = select_instances(engine, filter_)
    return create_batch(engine, operation, {"filter": filter_ or {}, "comment": comment}, targets, actor=actor)


def get_batch(engine: Engine, batch_id: str) -> dict[str, Any]:
    with engine.read_session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"batch {batch_id} does not exist")
        items = list(batch.items or [])
        counts = {DONE: 0, FAILED: 0, SKIPPED: 0}
        for item in items:
            counts[item["result"]] = counts.get(item["result"], 0) + 1
        return {
            "id": batch.id,
            "operation": batch.operation,
            "status": batch.status,
            "request": batch.request,
            "total": len(batch.targets or []),
            "counts": counts,
            "items": items,
            "createdAt": iso(batch.created_at),
            "createdBy": batch.created_by,
            "finishedAt": iso(batch.finished_at),
        }


# -- running ---------------------------------------------------------------------------------------------


def _outcome(action: Callable[[], str | None], instance_id: str, conflict_is: str = SKIPPED) -> dict[str, Any]:
    item: dict[str, Any] = {"instanceId": instance_id, "result": DONE, "detail": None}
    try:
        item["detail"] = action()
    except Conflict as exc:
        item.update(result=conflict_is, detail=exc.detail)
    except OrderflowError as exc:
        if isinstance(exc, InternalError):
            log.exception("batch item %s failed", instance_id)
            item.update(result=FAILED, detail=f"{exc.__class__.__name__}: {exc}")
        else:
            item.update(result=FAILED, detail=exc.detail)
    except Exception as exc:  # one broken order must not stop the batch; it is reported, not hidden
        log.exception("batch item %s failed", instance_id)
        item.update(result=FAILED, detail=f"{exc.__class__.__name__}: {exc}")
    return item


def run_item(engine: Engine, operation: str, request: dict[str, Any], target: str, actor: str | None) -> dict:
    comment = request.get("comment")
    if operation == "cancel":
        return _outcome(lambda: cancel_instance(engine, target, actor=actor) and "cancelled", target)
    if operation == "suspend":
        return _outcome(
            lambda: suspension.suspend_instance(engine, target, comment=comment, actor=actor) and "suspended", target
        )
    if operation == "resume":
        return _outcome(
            lambda: suspension.resume_instance(engine, target, comment=comment, actor=actor) and "resumed", target
        )
    if operation == "migrate":
        checked = request["checked"]
        return _outcome(
            lambda: migration.migrate_instance(engine, target, checked, comment=comment, actor=actor),
            target,
            conflict_is=FAILED,  # an order that cannot move failed to move, and says why
        )
    if operation == "retry":
        return retry_item(engine, request, target, actor)
    raise InternalError(f"unknown batch operation {operation}")


def retry_item(engine: Engine, request: dict[str, Any], incident_id: str, actor: str | None) -> dict[str, Any]:
    """Retry one incident, after fixing the variables of its order if the request has a fix."""
    with engine.read_session() as session:
        instance_id = session.scalar(select(Incident.instance_id).where(Incident.id == incident_id))
    if instance_id is None:
        return {"incidentId": incident_id, "instanceId": None, "result": SKIPPED, "detail": "the incident is gone"}
    fix = request.get("variables")
    if fix:
        fixed = _outcome(
            lambda: (
                patch_variables(engine, instance_id, set_=fix, comment=request.get("comment"), actor=actor)
                and "variables fixed"
            ),
            instance_id,
            conflict_is=FAILED,
        )
        if fixed["result"] != DONE:
            return {**fixed, "incidentId": incident_id, "detail": f"variable fix: {fixed['detail']}"}
    retried = incidents._retry_one(engine, incident_id, actor)
    result = {
        incidents.RESULT_RETRIED: DONE,
        incidents.RESULT_NOT_FOUND: SKIPPED,
        incidents.RESULT_ALREADY_RESOLVED: SKIPPED,
    }.get(retried["result"], FAILED)
    return {"incidentId": incident_id, "instanceId": instance_id, "result": result, "detail": retried.get("detail")}


def _still_ours(connection, job: ClaimedJob) -> bool:
    row = connection.execute(select(Job.status, Job.lease_token).where(Job.id == job.id).with_for_update()).first()
    return row is not None and row.status == JOB_LOCKED and row.lease_token == job.lease_token


def run_batch(engine: Engine, job: ClaimedJob) -> None:
    """Work on a batch for about a third of the job's lease, then save and put the job back (or finish)."""
    batch_id = (job.variables or {}).get("batchId")
    with engine.read_session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            operation = None
        else:
            operation, request, targets = batch.operation, dict(batch.request or {}), list(batch.targets or [])
            items, actor = list(batch.items or []), batch.created_by
    if operation is None:
        with engine.write_connection() as connection:
            connection.execute(update(Job).where(Job.id == job.id).values(status=JOB_DONE, updated_at=utcnow()))
        return
    budget = time.monotonic() + engine.settings.lease_seconds / 3
    new_items: list[dict[str, Any]] = []
    position = len(items)
    # At least one order per round, so that a batch always gets on, however short the lease.
    while position + len(new_items) < len(targets) and (not new_items or time.monotonic() < budget):
        target = targets[position + len(new_items)]
        new_items.append(run_item(engine, operation, request, target, actor))
    finished = position + len(new_items) >= len(targets)
    now = utcnow()
    requeued = None
    with engine.write_connection() as connection:
        if not _still_ours(connection, job):
            log.warning("batch %s: the job's lease was lost; %d results are not saved", batch_id, len(new_items))
            return
        values: dict[str, Any] = {"items": items + new_items}
        if finished:
            values.update(status=COMPLETED, finished_at=now)
        connection.execute(update(Batch).where(Batch.id == batch_id).values(**values))
        if finished:
            connection.execute(update(Job).where(Job.id == job.id).values(status=JOB_DONE, updated_at=now))
        else:
            requeued = JobRecord.load(connection, Job.id == job.id)[0]
            requeued.status, requeued.due_at, requeued.updated_at = JOB_READY, now, now
            requeued.locked_by, requeued.lease_token, requeued.lock_expires_at = None, None, None
            requeued.dispatched_at = now if engine.dispatcher.sends_after_commit else None
            write(connection, [requeued])
    if requeued is not None:
        engine.dispatcher.dispatch([requeued])


class BatchRunner(Feature):
    """Runs batch jobs (they belong to no order) when a worker claims one."""

    def run_job(self, engine: Engine, job: ClaimedJob) -> bool:
        if job.kind != BATCH:
            return False
        run_batch(engine, job)
        return True
