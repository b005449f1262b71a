"""The projection of ready user tasks into the task table people's inboxes read, kept by the engine step: a user
task that becomes ready gets a row (assignee, candidates, due date, priority and form evaluated then); one that is
left (a boundary timer fired, the instance was cancelled) is cancelled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, func, update

from inbox.forms import form_fields
from inbox.values import moment_of, name_of, names_of, priority_of, text_of
from processes.core.models import (
    TASK_CANCELLED,
    TASK_OPEN,
    HumanTask,
)
from processes.core.records import HumanTaskRecord
from processes.deployment.forms import formjs_fields
from processes.features import multi_instance

if TYPE_CHECKING:
    from processes.core.step import Step

HUMAN_TASK_KEY = "orderflow.human_task"


def is_user_task(task) -> bool:
    return isinstance(task.task_spec, UserTask)


def project(step: Step, active_tasks: list, before: list[dict[str, Any]]) -> dict[str, str]:
    """Rows for user tasks that just became ready; cancel rows of user tasks that were left. Returns
    spiff task id -> human task id for the tasks open now."""
    open_now: dict[str, str] = {}
    for task in active_tasks:
        if task.state != TaskState.READY or not is_user_task(task):
            continue
        human_id = task.internal_data.get(HUMAN_TASK_KEY)
        if human_id is None:
            row = _new_row(step, task)
            step.records.append(row)
            task.internal_data[HUMAN_TASK_KEY] = human_id = row.id
            step.record("task_created", task, {"taskId": row.id, "assignee": row.assignee,
                                               "candidateGroups": row.candidate_groups,
                                               **multi_instance.instance_info(task)})  # fmt: skip
        open_now[str(task.id)] = human_id
    left = [e["humanTaskId"] for e in before if e.get("humanTaskId") and e["taskId"] not in open_now]
    if left:
        step.connection.execute(CANCEL_LEFT, [{"_id": human_id} for human_id in left])
    return open_now


_tasks = HumanTask.__table__
CANCEL_LEFT = (
    update(_tasks)
    .where(_tasks.c.id == bindparam("_id"), _tasks.c.status == TASK_OPEN)
    .values(status=TASK_CANCELLED, completed_at=func.now())
)


def _new_row(step: Step, task) -> HumanTaskRecord:
    spec, data = task.task_spec, task.data
    extensions = getattr(spec, "extensions", None) or {}
    form = getattr(spec, "form", None)
    return HumanTaskRecord.new(
        instance_id=step.instance.id,
        task_id=str(task.id),
        element_id=spec.bpmn_id,
        name=name_of(spec.bpmn_name, data),
        documentation=getattr(spec, "documentation", None),
        process_key=step.instance.process_key,
        business_key=step.instance.business_key,
        status=TASK_OPEN,
        assignee=text_of(extensions.get("assignee"), data),
        candidate_users=names_of(extensions.get("candidateUsers"), data),
        candidate_groups=names_of(extensions.get("candidateGroups"), data),
        priority=priority_of(extensions.get("priority"), data),
        due_at=moment_of(extensions.get("dueDate"), data),
        follow_up_at=moment_of(extensions.get("followUpDate"), data),
        form_key=extensions.get("formKey") or getattr(form, "key", None),
        form_fields=form_fields(form) or formjs_fields(extensions.get("formSchema")),
        form_schema=extensions.get("formSchema"),
    )
