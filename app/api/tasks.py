"""The task inbox: ready user tasks, claimed, delegated and completed with form data."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes.tasks import claim_task, complete_task, delegate_task, get_task, list_tasks, unclaim_task

from ..auth import actor
from ..extensions import auth
from ..services import services
from .schemas import CompleteTaskIn, DelegateIn, Task, TaskPage, TaskQuery, TaskUserIn

bp = APIBlueprint("tasks", __name__, url_prefix="/api/v1", tag="Tasks")


@bp.get("/tasks")
@bp.auth_required(auth)
@bp.input(TaskQuery, location="query", arg_name="q")
@bp.output(TaskPage)
@bp.doc(summary="The inbox: open tasks by default, most urgent first (priority, due date, age)")
def list_(q: TaskQuery):
    return list_tasks(
        services().engine, status=q.status, assignee=q.assignee, candidate_user=q.candidateUser,
        candidate_group=q.candidateGroup, process_key=q.processKey, business_key=q.businessKey, overdue=q.overdue,
        page=q.page, per_page=q.perPage,
    )  # fmt: skip


@bp.get("/tasks/<task_id>")
@bp.auth_required(auth)
@bp.output(Task)
@bp.doc(summary="A task with its form")
def get(task_id: str):
    return get_task(services().engine, task_id)


@bp.post("/tasks/<task_id>/claim")
@bp.auth_required(auth)
@bp.input(TaskUserIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Claim a task (409 when someone else has it)")
def claim(task_id: str, body: TaskUserIn):
    return claim_task(services().engine, task_id, body.userId or actor())


@bp.post("/tasks/<task_id>/unclaim")
@bp.auth_required(auth)
@bp.input(TaskUserIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Give a claimed task back to its candidates")
def unclaim(task_id: str, body: TaskUserIn):
    return unclaim_task(services().engine, task_id, body.userId or actor())


@bp.post("/tasks/<task_id>/delegate")
@bp.auth_required(auth)
@bp.input(DelegateIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Hand a task to someone else")
def delegate(task_id: str, body: DelegateIn):
    return delegate_task(services().engine, task_id, body.userId, actor())


@bp.post("/tasks/<task_id>/complete")
@bp.auth_required(auth)
@bp.input(CompleteTaskIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Complete a task with form data (422 with each field's problem; 409 when done or someone else's)")
def complete(task_id: str, body: CompleteTaskIn):
    return complete_task(services().engine, task_id, body.variables, body.userId or actor())
