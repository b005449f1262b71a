"""Human tasks: ready user tasks projected into a table people's inboxes read, and the actions on them.

The engine step keeps the projection: a user task that becomes ready gets a row (with its assignee, candidates,
due date, priority and form, expressions evaluated then); one that is left (a boundary timer fired, the instance was
cancelled) is cancelled. Completing a task is an engine step, so two people completing one task concurrently cannot
both win: the second gets 409."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, func, or_, select, update

from processes import expressions
from processes.core.models import (
    JOB_DONE,
    JOB_REVIEW,
    KIND_REVIEW,
    TASK_CANCELLED,
    TASK_COMPLETED,
    TASK_OPEN,
    AuditEvent,
    HumanTask,
    iso,
    utcnow,
)
from processes.core.pages import page_of
from processes.core.records import HumanTaskRecord
from processes.deployment.forms import formjs_fields
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from processes.expressions import mappings
from processes.features import multi_instance

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step
    from processes.identity import Caller

HUMAN_TASK_KEY = "orderflow.human_task"


class FormInvalid(InvalidInput):
    """Form data that does not satisfy the task's form; `field_errors` maps each field to what is wrong."""

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        super().__init__("; ".join(f"{name}: {', '.join(errors)}" for name, errors in field_errors.items()))


def is_user_task(task) -> bool:
    return isinstance(task.task_spec, UserTask)


# -- projection (called by the engine step) ----------------------------------------------------------------


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
        name=_name(spec.bpmn_name, data),
        documentation=getattr(spec, "documentation", None),
        process_key=step.instance.process_key,
        business_key=step.instance.business_key,
        status=TASK_OPEN,
        assignee=_text(extensions.get("assignee"), data),
        candidate_users=_names(extensions.get("candidateUsers"), data),
        candidate_groups=_names(extensions.get("candidateGroups"), data),
        priority=_priority(extensions.get("priority"), data),
        due_at=_moment(extensions.get("dueDate"), data),
        follow_up_at=_moment(extensions.get("followUpDate"), data),
        form_key=extensions.get("formKey") or getattr(form, "key", None),
        form_fields=form_fields(form) or formjs_fields(extensions.get("formSchema")),
        form_schema=extensions.get("formSchema"),
    )


def _value(text: str | None, data: dict) -> Any:
    """Attributes are literal text unless written as an expression (`${…}` or `=…`), as in Camunda."""
    if text is None or text == "":
        return None
    if expressions.dialect_of(text) == expressions.PYTHON:
        return text
    return expressions.evaluate(text, data)


def _name(text: str | None, data: dict) -> str | None:
    """Camunda 7 task names may hold JUEL (`Approve level ${level.name}`): one name per instance of a multi-instance
    task. A name is only a label, so one that cannot be evaluated is shown as drawn rather than stopping the task."""
    if text is None or expressions.dialect_of(text) != expressions.JUEL:
        return text
    try:
        return _text(text, data)
    except expressions.ExpressionError:
        return text


def _text(text: str | None, data: dict) -> str | None:
    value = _value(text, data)
    return None if value is None else str(value)


def _names(text: str | None, data: dict) -> list[str]:
    value = _value(text, data)
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _priority(text: str | None, data: dict) -> int:
    value = _value(text, data)
    try:
        return int(value) if value is not None else 50
    except (TypeError, ValueError) as exc:
        raise expressions.ExpressionError(f"priority '{value}' is not a whole number", expressions.PYTHON) from exc


def _moment(text: str | None, data: dict) -> datetime | None:
    """A due or follow-up date: an ISO date-time, or an ISO duration from now (PT4H), literal or computed."""
    value = _value(text, data)
    if value is None:
        return None
    value = str(value).strip()
    now = datetime.now(UTC)
    if value.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).replace(tzinfo=None)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def form_fields(form) -> list[dict[str, Any]]:
    """Camunda 7 formData fields, as the inbox shows and validates them."""
    fields = []
    for field in getattr(form, "fields", None) or []:
        validation = {v.name: v.config for v in getattr(field, "validation", [])}
        fields.append(
            {
                "id": field.id,
                "type": field.type or "string",
                "label": field.label or field.id,
                "defaultValue": field.default_value or None,
                "required": "required" in validation,
                "validation": validation,
                "options": [{"id": o.id, "name": o.name} for o in getattr(field, "options", [])],
            }
        )
    return fields


def validate_form(fields: list[dict[str, Any]], variables: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for field in fields:
        name, value, problems = field["id"], variables.get(field["id"]), []
        rules = field.get("validation") or {}
        if value is None or value == "":
            if field.get("required"):
                problems.append("is required")
        else:
            problems += _type_problems(field, value)
            if not problems:
                problems += _rule_problems(rules, value)
        if "readonly" in rules and name in variables:
            problems.append("is read-only")
        if problems:
            errors[name] = problems
    if errors:
        raise FormInvalid(errors)


def _type_problems(field: dict[str, Any], value: Any) -> list[str]:
    kind = field.get("type")
    if kind == "long" and (isinstance(value, bool) or not isinstance(value, int)):
        return ["must be a whole number"]
    if kind == "boolean" and not isinstance(value, bool):
        return ["must be true or false"]
    if kind in ("string", "date") and not isinstance(value, str):
        return ["must be text"]
    if kind == "date":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ["must be a date (YYYY-MM-DD or an ISO date-time)"]
    if kind == "double" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return ["must be a number"]
    if kind == "enum" and value not in {o["id"] for o in field.get("options", [])}:
        return [f"must be one of {', '.join(o['id'] for o in field.get('options', []))}"]
    if kind == "list":
        allowed = {o["id"] for o in field.get("options", [])}
        if not isinstance(value, list) or (allowed and not set(map(str, value)) <= allowed):
            return [f"must be a list of {', '.join(sorted(allowed))}" if allowed else "must be a list"]
    return []


def _rule_problems(rules: dict[str, Any], value: Any) -> list[str]:
    problems = []
    for name, config in rules.items():
        try:
            if name == "min" and value < float(config):
                problems.append(f"must be at least {config}")
            elif name == "max" and value > float(config):
                problems.append(f"must be at most {config}")
            elif name == "minlength" and len(str(value)) < int(config):
                problems.append(f"must be at least {config} characters")
            elif name == "maxlength" and len(str(value)) > int(config):
                problems.append(f"must be at most {config} characters")
            elif name == "pattern" and not re.fullmatch(str(config), str(value)):
                problems.append(f"must match {config}")
        except (TypeError, ValueError):
            problems.append(f"cannot be checked against {name} {config}")
    return problems


# -- discrepancy reviews ------------------------------------------------------------------------------------

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


CANCEL_REVIEWS = (
    update(_tasks)
    .where(_tasks.c.job_id == bindparam("review_job"), _tasks.c.status == TASK_OPEN)
    .values(status=TASK_CANCELLED)
)


def cancel_reviews(step: Step, job_id: str) -> None:
    step.connection.execute(CANCEL_REVIEWS, {"review_job": job_id})


def _finish_review(engine: Engine, step: Step, current, task, variables: dict[str, Any], user: str) -> None:
    """Accepted: the job completes with the answer's variables. Rejected: its code is thrown as a BPMN error."""
    from processes.jobs.service import throw_error_at

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
    business_key: str | None = None,
    overdue: bool = False,
    page: int = 1,
    per_page: int = 50,
    visible_to: Caller | None = None,
    unassigned: bool = False,
    sort: str = "urgency",
    due_before: datetime | None = None,
) -> dict[str, Any]:
    """The inbox: most urgent first (priority, then due date, then age). With `visible_to`, only the tasks that
    person may work on."""
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
    if business_key:
        query = query.where(HumanTask.business_key == business_key)
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
    if sort not in orders:
        raise InvalidInput(f"sort by {sort}? Tasks sort by {', '.join(orders)}")
    with engine.read_session() as session:
        return page_of(session, query, (*orders[sort], HumanTask.id), page, per_page, task_view)


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
        validate_form(current.form_fields or [], variables)
        task = find_task(step.workflow, spiff_id)
        if current.kind == KIND_REVIEW:
            _finish_review(engine, step, current, task, variables, user)
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

    engine.step(instance_id, apply, actor=user)
    return get_task(engine, task_id)
