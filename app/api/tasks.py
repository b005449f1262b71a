"""The task inbox: the caller's open tasks, claimed, delegated and completed with form data. Every action checks
the caller is the assignee or a candidate (user or group); only admins act for someone else (`userId`)."""

from __future__ import annotations

from apiflask import APIBlueprint

from inbox.tasks import claim_task, complete_task, delegate_task, get_task, list_tasks, unclaim_task
from processes.errors import Forbidden

from ..auth import caller
from ..extensions import auth
from ..services import services
from .prediction import sla_risks, with_sla_risk
from .schemas import CompleteTaskIn, DelegateIn, Task, TaskPage, TaskQuery, TaskUserIn

bp = APIBlueprint("tasks", __name__, url_prefix="/api/v1", tag="Tasks")
WORKERS = ["approver", "operator"]


def acting_user(user_id: str | None) -> str:
    """Who the action is recorded for: the caller, or (admins only) the person named in the body."""
    me = caller()
    if user_id and user_id != me.name and not me.is_admin:
        raise Forbidden(f"{me.name} cannot act for {user_id}: only an admin may")
    return user_id or me.name


@bp.get("/tasks")
@bp.auth_required(auth, roles=WORKERS)
@bp.input(TaskQuery, location="query", arg_name="q")
@bp.output(TaskPage)
@bp.doc(
    summary="The caller's inbox: open tasks they may work on, most urgent first (priority, due date, age)",
    description="Each task carries its order's `slaRisk`; `sort=slaRisk` lists the riskiest orders' tasks first.",
)
def list_(q: TaskQuery):
    found = list_tasks(
        services().engine, status=q.status, assignee=q.assignee, candidate_user=q.candidateUser,
        candidate_group=q.candidateGroup, process_key=q.processKey, business_key=q.businessKey, overdue=q.overdue,
        page=q.page, per_page=q.perPage, visible_to=caller(), unassigned=q.unassigned, sort=q.sort,
        due_before=q.dueBefore, sla_risk=sla_risks(process_key=q.processKey) if q.sort == "slaRisk" else None,
    )  # fmt: skip
    with_sla_risk(found["items"])
    return found


@bp.get("/tasks/<task_id>")
@bp.auth_required(auth, roles=WORKERS)
@bp.output(Task)
@bp.doc(summary="A task with its form (403 when it is not offered to the caller)")
def get(task_id: str):
    return get_task(services().engine, task_id, caller())


@bp.post("/tasks/<task_id>/claim")
@bp.auth_required(auth, roles=WORKERS)
@bp.input(TaskUserIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Claim a task (409 when someone else has it, 403 when it is not offered to the caller)")
def claim(task_id: str, body: TaskUserIn):
    return claim_task(services().engine, task_id, acting_user(body.userId), caller())


@bp.post("/tasks/<task_id>/unclaim")
@bp.auth_required(auth, roles=WORKERS)
@bp.input(TaskUserIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Give a claimed task back to its candidates")
def unclaim(task_id: str, body: TaskUserIn):
    return unclaim_task(services().engine, task_id, acting_user(body.userId), caller())


@bp.post("/tasks/<task_id>/delegate")
@bp.auth_required(auth, roles=WORKERS)
@bp.input(DelegateIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Hand a task to someone else (its assignee, or a candidate while nobody has claimed it)")
def delegate(task_id: str, body: DelegateIn):
    return delegate_task(services().engine, task_id, body.userId, caller().name, caller())


@bp.post("/tasks/<task_id>/complete")
@bp.auth_required(auth, roles=WORKERS)
@bp.input(CompleteTaskIn, arg_name="body")
@bp.output(Task)
@bp.doc(summary="Complete a task with form data (422 with each field's problem; 409 when done or someone else's)")
def complete(task_id: str, body: CompleteTaskIn):
    return complete_task(services().engine, task_id, body.variables, acting_user(body.userId), caller())
