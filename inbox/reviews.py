"""Discrepancy reviews: a job whose answer does not match what was asked waits while a person compares both in the
inbox, then accepts the answer (the job completes) or rejects it (its code is thrown as a BPMN error)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, update

from processes import expressions
from processes.core.models import (
    JOB_DONE,
    JOB_REVIEW,
    KIND_REVIEW,
    TASK_CANCELLED,
    TASK_OPEN,
    HumanTask,
    utcnow,
)
from processes.core.records import HumanTaskRecord
from processes.errors import Conflict
from processes.jobs.service import throw_error_at

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step

REVIEW_FORM = [
    {"id": "accept", "type": "boolean", "label": "Accept the system's answer?", "defaultValue": None,
     "required": True, "validation": {"required": None}, "options": []},
    {"id": "comment", "type": "string", "label": "Comment", "defaultValue": None, "required": False,
     "validation": {}, "options": []},
]  # fmt: skip
REVIEW_GROUP = "reviewers"


def open_review(step: Step, task, job, review) -> None:
    """Within a step: a review task for a job whose answer does not match what was asked."""
    # Connectors speak Decimal; the task table and the workflow state take JSON.
    details = expressions.plain({"code": review.code, "message": str(review), "asked": review.asked,
                                 "got": review.got, "variables": review.variables, "jobId": job.id,
                                 "topic": job.topic})  # fmt: skip
    row = HumanTaskRecord.new(
        instance_id=step.instance.id,
        task_id=str(task.id),
        element_id=task.task_spec.bpmn_id,
        name=f"Review: {task.task_spec.bpmn_name or task.task_spec.bpmn_id}",
        documentation=f"{review.code}: {review}",
        process_key=step.instance.process_key,
        business_key=step.instance.business_key,
        status=TASK_OPEN,
        kind=KIND_REVIEW,
        job_id=job.id,
        details=details,
        candidate_groups=[REVIEW_GROUP],
        priority=90,
        form_fields=REVIEW_FORM,
    )
    step.records.append(row)
    step.record("review_requested", task, {"taskId": row.id, **details})


_tasks = HumanTask.__table__
CANCEL_REVIEWS = (
    update(_tasks)
    .where(_tasks.c.job_id == bindparam("review_job"), _tasks.c.status == TASK_OPEN)
    .values(status=TASK_CANCELLED)
)


def cancel_reviews(step: Step, job_id: str) -> None:
    step.connection.execute(CANCEL_REVIEWS, {"review_job": job_id})


def finish_review(engine: Engine, step: Step, current, task, variables: dict[str, Any], user: str) -> None:
    """Accepted: the job completes with the answer's variables. Rejected: its code is thrown as a BPMN error."""

    # The step's own record of the job (one record per row, or the last write would win).
    job = next((j for j in step.active_jobs() if j.id == current.job_id), None)
    details = current.details or {}
    if job is None or job.status != JOB_REVIEW or task is None or task.state != TaskState.STARTED:
        raise Conflict(f"task {current.id}: the job it reviews is no longer waiting")
    job.status, job.updated_at = JOB_DONE, utcnow()
    step.record("review_decided", task, {"taskId": current.id, "accepted": variables["accept"],
                                         "comment": variables.get("comment")})  # fmt: skip
    if variables["accept"]:
        task.data.update(details.get("variables") or {})
        task.complete()
        step.record("element_completed", task, None)
    else:
        reason = f"rejected by {user}" + (f": {variables['comment']}" if variables.get("comment") else "")
        throw_error_at(engine, step, task, job, details.get("code", "DISCREPANCY"), reason)
