"""Fixing an order's variables: one engine step, audited with the old and the new values.

Variables live in the data of the order's active tasks. A fix writes every active task's data, and for a task that
failed (in ERROR) its parent's too, because retrying it takes the data again from its parent. Jobs that have not
run yet (or failed, waiting for a retry) carry a copy of the variables made with the job: the fix is applied to
them as well, so a retry works with the fixed values."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from processes.core import spiff
from processes.core.engine import Engine
from processes.core.models import ENDED_STATUSES, JOB_FAILED, JOB_HELD, JOB_READY, RUNNING, Job
from processes.core.records import JobRecord
from processes.core.step import Step
from processes.errors import Conflict, InvalidInput
from processes.instances import check_variables, get_instance

MISSING = object()


def patch_variables(
    engine: Engine,
    instance_id: str,
    *,
    set_: dict[str, Any] | None = None,
    delete: list[str] | None = None,
    comment: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Set and delete variables of an order that waits, is suspended or has an incident (409 when it has ended or
    a job is running for it)."""
    set_ = check_variables(set_ or {})
    delete = list(dict.fromkeys(delete or []))
    if not set_ and not delete:
        raise InvalidInput("nothing to change: give variables to set or names to delete")
    both = sorted(set(set_) & set(delete))
    if both:
        raise InvalidInput(f"{', '.join(both)}: set and deleted at once")

    def apply(step: Step) -> None:
        instance = step.instance
        if instance.status in ENDED_STATUSES:
            raise Conflict(f"process instance {instance_id} is {instance.status}: its variables can no longer change")
        if instance.status == RUNNING:
            raise Conflict(
                f"process instance {instance_id} is running (a job is at work): suspend it first, or wait until it "
                "waits"
            )
        current = dict(instance.variables or {})
        unknown = [name for name in delete if name not in current]
        if unknown:
            raise InvalidInput(f"no variable {', '.join(unknown)} to delete")
        apply_to_tasks(step, set_, delete)
        jobs = [j for j in step.active_jobs() if j.status in (JOB_READY, JOB_HELD)]
        failed = JobRecord.load(step.connection, Job.instance_id == instance.id, Job.status == JOB_FAILED)
        step.records.extend(failed)
        for job in [*jobs, *failed]:
            variables = dict(job.variables or {})
            variables.update(deepcopy(set_))
            for name in delete:
                variables.pop(name, None)
            job.variables = variables
        step.record(
            "variables_changed",
            data={
                "comment": comment,
                "set": set_,
                "deleted": delete,
                "before": {name: current.get(name) for name in [*set_, *delete]},
                "after": {**{name: set_[name] for name in set_}, **{name: None for name in delete}},
            },
        )

    engine.step(instance_id, apply, actor=actor, kind="variables")
    return get_instance(engine, instance_id)


def apply_to_tasks(step: Step, set_: dict[str, Any], delete: list[str]) -> None:
    tasks = spiff.tasks_in(step.workflow, spiff.ACTIVE_STATES)
    for task in list(tasks):
        if task.state == spiff.TaskState.ERROR and task.parent is not None:
            tasks.append(task.parent)
    for task in tasks:
        task.data.update(deepcopy(set_))
        for name in delete:
            task.data.pop(name, None)
