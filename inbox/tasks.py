"""Human tasks: reading people's inboxes and the actions on a task (claim, unclaim, delegate, complete).

Rows come from the projection the engine step keeps (`inbox.projection`). Completing a task is an engine step, so
two people completing one task concurrently cannot both win: the second gets 409."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.task import TaskState
from sqlalchemy import func, or_, select

from processes import expressions
from processes.core.models import (
    KIND_REVIEW,
    TASK_COMPLETED,
    TASK_OPEN,
    AuditEvent,
    HumanTask,
    ProcessDefinition,
    User,
    iso,
    utcnow,
)
from processes.core.pages import page_of
from processes.core.records import HumanTaskRecord
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from processes.expressions import mappings
from processes.features import multi_instance

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step
    from processes.identity import Caller
from inbox.forms import validate_form
from inbox.reviews import finish_review

# -- reading -----------------------------------------------------------------------------------------------


def task_view(row: HumanTask) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": row.id,
        "instanceId": row.instance_id,
        "elementId": row.element_id,
        "name": row.name,
        "documentation": row.documentation,
        "processKey": row.process_key,
        "businessKey": row.business_key,
        "status": row.status,
        "assignee": row.assignee,
        "candidateUsers": row.candidate_users or [],
        "candidateGroups": row.candidate_groups or [],
        "priority": row.priority,
        "dueAt": iso(row.due_at),
        "followUpAt": iso(row.follow_up_at),
        "overdue": row.status == TASK_OPEN and row.due_at is not None and row.due_at < now,
        "kind": row.kind,
        "details": row.details,
        "formKey": row.form_key,
        "formSchema": row.form_schema,
        "formFields": row.form_fields or [],
        "createdAt": iso(row.created_at),
        "claimedAt": iso(row.claimed_at),
        "completedAt": iso(row.completed_at),
        "completedBy": row.completed_by,
    }


def list_tasks(
    engine: Engine,
    *,
    status: str | None = TASK_OPEN,
    assignee: str | None = None,
    candidate_user: str | None = None,
    candidate_group: str | None = None,
    process_key: str | None = None,
    process_matching: str | None = None,
    business_key: str | None = None,
    overdue: bool = False,
    page: int = 1,
    per_page: int = 50,
    visible_to: Caller | None = None,
    unassigned: bool = False,
    sort: str = "urgency",
    due_before: datetime | None = None,
    instance_id: str | None = None,
    element_id: str | None = None,
    sla_risk: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """The inbox: most urgent first (priority, then due date, then age). With `visible_to`, only the tasks that
    person may work on. `sort="slaRisk"` with `sla_risk` (order id -> probability of missing its SLA, from
    processes/prediction) puts the riskiest orders' tasks first (then the most urgent), each with its `slaRisk`.
    `process_matching` is what people type in a filter box: part of the process's key or name, in any case."""
    query = select(HumanTask)
    if visible_to is not None and not visible_to.is_admin:
        query = query.where(_visible(visible_to))
    if status:
        query = query.where(HumanTask.status == status)
    if assignee:
        query = query.where(HumanTask.assignee == assignee)
    if candidate_user:  # what this person may pick: theirs, offered to them, or unassigned in their groups
        query = query.where(
            or_(HumanTask.assignee == candidate_user, _json_has(HumanTask.candidate_users, candidate_user))
        )
    if candidate_group:
        query = query.where(_json_has(HumanTask.candidate_groups, candidate_group))
    if process_key:
        query = query.where(HumanTask.process_key == process_key)
    if process_matching:
        text = process_matching.lower()
        named = select(ProcessDefinition.key).where(
            or_(
                func.lower(ProcessDefinition.key).contains(text, autoescape=True),
                func.lower(ProcessDefinition.name).contains(text, autoescape=True),
            )
        )
        query = query.where(HumanTask.process_key.in_(named))
    if business_key:
        query = query.where(HumanTask.business_key == business_key)
    if instance_id:
        query = query.where(HumanTask.instance_id == instance_id)
    if element_id:
        query = query.where(HumanTask.element_id == element_id)
    if overdue:
        query = query.where(HumanTask.due_at < utcnow())
    if unassigned:
        query = query.where(HumanTask.assignee.is_(None))
    if due_before is not None:
        if due_before.tzinfo is not None:  # stored as naive UTC
            due_before = due_before.astimezone(UTC).replace(tzinfo=None)
        query = query.where(HumanTask.due_at < due_before)
    due_first = (HumanTask.due_at.is_(None), HumanTask.due_at)
    orders = {
        "urgency": (HumanTask.priority.desc(), *due_first, HumanTask.created_at),
        "due": (*due_first, HumanTask.priority.desc(), HumanTask.created_at),
        "priority": (HumanTask.priority.desc(), HumanTask.created_at),
        "created": (HumanTask.created_at,),
    }
    if sort == "slaRisk" and sla_risk is not None:
        return _by_risk(engine, query, (*orders["urgency"], HumanTask.id), page, per_page, sla_risk)
    if sort not in orders:
        raise InvalidInput(f"sort by {sort}? Tasks sort by {', '.join(orders)}")
    with engine.read_session() as session:
        return page_of(session, query, (*orders[sort], HumanTask.id), page, per_page, task_view)


def _by_risk(
    engine: Engine, query, urgency: tuple, page: int, per_page: int, sla_risk: Mapping[str, float | None]
) -> dict[str, Any]:
    """The risk is not in the database: the matching tasks are ranked here (an inbox holds hundreds, not
    millions)."""
    with engine.read_session() as session:
        rows = session.scalars(query.order_by(*urgency)).all()
        ranked = sorted(rows, key=lambda row: -(sla_risk.get(row.instance_id) or 0.0))  # stable: urgency next
        items = [task_view(row) for row in ranked[(page - 1) * per_page : page * per_page]]
    for item in items:
        item["slaRisk"] = sla_risk.get(item["instanceId"])
    return {"items": items, "total": len(rows), "page": page, "perPage": per_page}


def _visible(caller: Caller):
    """Theirs, offered to them or to one of their groups, or offered to nobody in particular."""
    from sqlalchemy import String, and_, cast

    offered_to_nobody = and_(
        HumanTask.assignee.is_(None),
        cast(HumanTask.candidate_users, String) == "[]",
        cast(HumanTask.candidate_groups, String) == "[]",
    )
    return or_(
        HumanTask.assignee == caller.name,
        _json_has(HumanTask.candidate_users, caller.name),
        *(_json_has(HumanTask.candidate_groups, group) for group in sorted(caller.groups)),
        offered_to_nobody,
    )


def may_work_on(caller: Caller | None, row: Any) -> bool:
    """The same rule as `_visible`, for one row (a HumanTask or its record). None: a trusted in-process call."""
    if caller is None or caller.is_admin:
        return True
    users, groups = row.candidate_users or [], row.candidate_groups or []
    if row.assignee == caller.name or caller.name in users or caller.groups.intersection(groups):
        return True
    return row.assignee is None and not users and not groups


def works_on_instance(engine: Engine, caller: Caller, instance_id: str) -> bool:
    """Whether the caller may work one of the instance's tasks, open or done (what their inbox shows them)."""
    if caller.is_admin:
        return True
    with engine.read_session() as session:
        found = session.scalar(
            select(HumanTask.id).where(HumanTask.instance_id == instance_id, _visible(caller)).limit(1)
        )
    return found is not None


def _check_may_work_on(caller: Caller | None, row: Any) -> None:
    if not may_work_on(caller, row):
        raise Forbidden(f"task {row.id} is not offered to {caller.name} or their groups")


def _json_has(column, name: str):
    # Portable across SQLite and PostgreSQL: the JSON text of a list of names contains "name".
    from sqlalchemy import String, cast

    return cast(column, String).like(f'%"{name}"%')


def get_task(engine: Engine, task_id: str, caller: Caller | None = None) -> dict[str, Any]:
    with engine.read_session() as session:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        _check_may_work_on(caller, row)
        return task_view(row)


# -- actions -----------------------------------------------------------------------------------------------


def claim_task(engine: Engine, task_id: str, user: str, caller: Caller | None = None) -> dict[str, Any]:
    return _assign(engine, task_id, user, user, "task_claimed", caller, require_unassigned=True)


def unclaim_task(engine: Engine, task_id: str, user: str, caller: Caller | None = None) -> dict[str, Any]:
    return _assign(engine, task_id, None, user, "task_unclaimed", caller, require_assignee=user)


def delegate_task(
    engine: Engine, task_id: str, to_user: str, user: str, caller: Caller | None = None
) -> dict[str, Any]:
    """Hand a task on: its assignee may, or (an unclaimed task) any candidate; admins always."""
    return _assign(engine, task_id, to_user, user, "task_delegated", caller, require_assignee_or_none=True)


def _assign(
    engine: Engine,
    task_id: str,
    assignee: str | None,
    actor: str,
    event: str,
    caller: Caller | None = None,
    require_unassigned: bool = False,
    require_assignee: str | None = None,
    require_assignee_or_none: bool = False,
) -> dict[str, Any]:
    """Assignment does not change the workflow, so it is not an engine step: one guarded update and an audit event
    in the same transaction."""
    with engine.write_session() as session:
        row = session.get(HumanTask, task_id, with_for_update=True)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        _check_may_work_on(caller, row)
        if row.status != TASK_OPEN:
            raise Conflict(f"task {task_id} is {row.status}")
        someone_elses = row.assignee not in (None, actor)
        if require_assignee_or_none and someone_elses and caller is not None and not caller.is_admin:
            raise Conflict(f"task {task_id} is claimed by {row.assignee}: only they can hand it on")
        if require_unassigned and row.assignee not in (None, actor):
            raise Conflict(f"task {task_id} is already claimed by {row.assignee}")
        if require_assignee is not None and row.assignee != require_assignee:
            raise Conflict(f"task {task_id} is not claimed by {require_assignee}")
        known = (
            event != "task_delegated"
            or assignee is None
            or session.scalar(select(User.id).where(User.username == assignee)) is not None
        )
        if not known:
            # A task handed to nobody who can log in would be stranded: nobody would ever see it.
            raise InvalidInput(f"there is no user '{assignee}' to delegate task {task_id} to")
        row.assignee = assignee
        row.claimed_at = utcnow() if assignee else None
        session.add(
            AuditEvent(
                instance_id=row.instance_id,
                type=event,
                element_id=row.element_id,
                element_name=row.name,
                element_type="UserTask",
                actor=actor,
                data={"taskId": row.id, "assignee": assignee},
            )
        )
        session.commit()
        return task_view(row)


def complete_task(
    engine: Engine, task_id: str, variables: dict[str, Any], user: str, caller: Caller | None = None
) -> dict[str, Any]:
    """Complete a task with form data. Someone else's claimed task, a completed or cancelled one, or a concurrent
    completion: 409. Form data that does not fit the form: 422 with each field's problem."""
    from processes.instances import check_variables

    variables = check_variables(variables)
    with engine.read_session() as session:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        instance_id, spiff_id = row.instance_id, row.task_id

    from processes.core.spiff import find_task

    def apply(step: Step) -> None:
        current = HumanTaskRecord.load(step.connection, HumanTask.id == task_id)[0]
        _check_may_work_on(caller, current)
        if current.status != TASK_OPEN:
            raise Conflict(f"task {task_id} is already {current.status}")
        if current.assignee not in (None, user):
            raise Conflict(f"task {task_id} is claimed by {current.assignee}")
        task = find_task(step.workflow, spiff_id)
        validate_form(current.form_fields or [], variables, task.data if task is not None else None)
        if current.kind == KIND_REVIEW:
            finish_review(engine, step, current, task, variables, user)
        else:
            if task is None or task.state != TaskState.READY:
                raise Conflict(f"task {task_id} is no longer waiting")
            extensions = task.task_spec.extensions
            try:
                scope = {**task.data, **mappings.inputs(extensions, task.data), **variables}
                produced = mappings.outputs(extensions, scope)
            except expressions.ExpressionError as exc:
                raise InvalidInput(f"task {task_id}: its output mapping failed: {exc}") from exc
            task.data.update(variables if produced is None else produced)
            instance = multi_instance.instance_info(task)
            task.run()
            step.record("task_completed", task, {"taskId": task_id, "variables": variables, **instance})
        current.status, current.completed_at, current.completed_by = TASK_COMPLETED, utcnow(), user
        if current.assignee is None:
            current.assignee = user
        step.records.append(current)

    engine.step(instance_id, apply, actor=user, kind="task")
    return get_task(engine, task_id)
