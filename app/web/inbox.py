"""The inbox pages: my tasks, my groups' tasks, overdue; a task page with its form, the order's data, its diagram
with the current step highlighted, and who did what."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from inbox.forms import FormInvalid
from inbox.tasks import claim_task, complete_task, delegate_task, get_task, list_tasks, unclaim_task
from processes.core.models import ProcessDefinition
from processes.errors import Forbidden, InternalError, InvalidInput, NotFound, OrderflowError
from processes.instances import get_instance, instance_events

from ..api.prediction import sla_risks, with_sla_risk
from ..services import services
from .args import whole_number
from .naming import name_events, without_expressions
from .order_data import view_of
from .people import page_caller, page_requires

bp = Blueprint("web_inbox", __name__, url_prefix="/inbox")

VIEWS = {
    "mine": "My tasks",
    "group": "My groups' tasks",
    "overdue": "Overdue",
    "all": "Everything I may work on",
}
SORTS = {
    "urgency": "Most urgent",
    "due": "Due date",
    "priority": "Priority",
    "created": "Oldest first",
    "slaRisk": "SLA risk",
}


def _tasks(view: str, process: str | None, sort: str, page: int, marks: bool = True) -> dict[str, Any]:
    me = page_caller()
    filters: dict[str, Any] = {"visible_to": me, "process_matching": process or None, "sort": sort, "page": page}
    if sort == "slaRisk":
        # The filter is part of a name, not a key: the risks of every open order; the filter narrows the tasks.
        filters["sla_risk"] = sla_risks()
    if view == "mine":
        filters["assignee"] = me.name
    elif view == "group":
        filters["unassigned"] = True
    elif view == "overdue":
        filters["overdue"] = True
    found = list_tasks(services().engine, per_page=25, **filters)
    if marks:
        with_sla_risk(found["items"])  # tasks of orders at risk are marked
    return found


def _opening_view(counts: dict[str, int]) -> str:
    """Without a chosen tab the inbox opens where the work is: my tasks, else my groups' tasks, else anything I may
    work on. An empty first tab beside a full second one read as "nothing to do"."""
    return next((name for name in ("mine", "group", "all") if counts[name]), "mine")


@bp.get("")
@page_requires("inbox")
def inbox():
    sort = request.args.get("sort", "urgency")
    sort = sort if sort in SORTS else "urgency"
    process = request.args.get("process", "").strip()
    page = max(1, request.args.get("page", 1, type=whole_number) or 1)
    view = request.args.get("view", "")
    if request.headers.get("HX-Request"):  # the list refreshing itself
        view = view if view in VIEWS else "mine"
        tasks = _tasks(view, process, sort, page)
        return render_template("inbox/_rows.html", **_context(view, sort, process, tasks, None))
    counts = {name: _tasks(name, process, "urgency", 1, marks=False)["total"] for name in VIEWS}
    view = view if view in VIEWS else _opening_view(counts)
    tasks = _tasks(view, process, sort, page)
    return render_template("inbox/list.html", **_context(view, sort, process, tasks, counts))


def _context(view: str, sort: str, process: str, tasks: dict[str, Any], counts: dict[str, int] | None) -> dict:
    me = page_caller()
    return {
        "tasks": tasks, "view": view, "views": VIEWS, "sort": sort, "sorts": SORTS, "process": process,
        "counts": counts, "groups": sorted(me.groups), "risk_threshold": services().predictor.settings.risk_threshold,
    }  # fmt: skip


def _task_or_403(task_id: str) -> dict[str, Any]:
    return get_task(services().engine, task_id, page_caller())


@bp.get("/tasks/<task_id>")
@page_requires("inbox")
def task(task_id: str):
    return _render_task(_task_or_403(task_id))


def _render_task(task: dict[str, Any], errors: dict[str, list[str]] | None = None, values: dict | None = None,
                 status: int = 200):  # fmt: skip
    instance = get_instance(services().engine, task["instanceId"])
    history = name_events(instance_events(services().engine, task["instanceId"]))
    active = [e.get("elementId") for e in instance.get("activeElements") or [] if e.get("elementId")]
    page = render_template(
        "inbox/task.html", task=task, instance=instance, history=history, order=view_of(instance, history),
        active=active, show_internal=False, errors=errors or {}, values=values or {}, me=page_caller(),
    )  # fmt: skip
    return page, status


@bp.get("/instances/<instance_id>/diagram.xml")
@page_requires("inbox")
def diagram(instance_id: str):
    instance = get_instance(services().engine, instance_id)
    with services().engine.read_session() as session:
        xml = session.scalar(select(ProcessDefinition.xml).where(ProcessDefinition.id == instance["definitionId"]))
    if xml is None:
        raise NotFound(f"the diagram of {instance_id} is gone")
    return Response(without_expressions(xml), mimetype="application/xml")


def _action(task_id: str, done: str, action) -> Any:
    try:
        action()
    except (Forbidden, NotFound, InvalidInput) as exc:
        flash(exc.detail, "error")
        return redirect(url_for(".inbox"))
    except InternalError:
        raise  # a bug, not an answer: the error page, logged
    except OrderflowError as exc:  # someone else was faster (409): say so and show the task as it is now
        flash(exc.detail, "error")
        return redirect(url_for(".task", task_id=task_id))
    flash(done, "info")
    return redirect(url_for(".task", task_id=task_id))


@bp.post("/tasks/<task_id>/claim")
@page_requires("inbox")
def claim(task_id: str):
    me = page_caller()
    return _action(task_id, "You have the task.", lambda: claim_task(services().engine, task_id, me.name, me))


@bp.post("/tasks/<task_id>/unclaim")
@page_requires("inbox")
def unclaim(task_id: str):
    me = page_caller()
    return _action(task_id, "The task is back with its candidates.",
                   lambda: unclaim_task(services().engine, task_id, me.name, me))  # fmt: skip


@bp.post("/tasks/<task_id>/delegate")
@page_requires("inbox")
def delegate(task_id: str):
    me, to_user = page_caller(), request.form.get("user", "").strip()
    if not to_user:
        flash("Say who the task goes to.", "error")
        return redirect(url_for(".task", task_id=task_id))
    return _action(task_id, f"The task went to {to_user}.",
                   lambda: delegate_task(services().engine, task_id, to_user, me.name, me))  # fmt: skip


def form_values(task: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """What the browser sent, typed as the task's form says. A Camunda Form posts its data as one JSON field."""
    if "variables" in form:
        try:
            values = json.loads(form["variables"] or "{}")
        except ValueError as exc:
            raise InvalidInput(f"the form data is not JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise InvalidInput("the form data must be a JSON object")
        return values
    values: dict[str, Any] = {}
    for field in task["formFields"]:
        raw = form.get(field["id"], "").strip()
        if raw == "":
            continue
        kind = field["type"]
        try:
            if kind == "boolean":
                values[field["id"]] = {"true": True, "false": False}.get(raw, raw)
            elif kind == "long":
                values[field["id"]] = int(raw)
            elif kind == "double":
                values[field["id"]] = float(raw)
            else:
                values[field["id"]] = raw
        except ValueError:
            values[field["id"]] = raw  # the validator names the problem
    return values


@bp.post("/tasks/<task_id>/complete")
@page_requires("inbox")
def complete(task_id: str):
    me, task = page_caller(), _task_or_403(task_id)
    try:
        values = form_values(task, request.form)
        complete_task(services().engine, task_id, values, me.name, me)
    except FormInvalid as exc:
        return _render_task(task, exc.field_errors, dict(request.form), status=422)
    except InvalidInput as exc:
        return _render_task(task, {"": [exc.detail]}, dict(request.form), status=422)
    except InternalError:
        raise
    except OrderflowError as exc:
        flash(exc.detail, "error")
        return redirect(url_for(".task", task_id=task_id))
    flash(f"Done: {task['name'] or task['elementId']} for order {task['businessKey'] or task['instanceId']}.", "info")
    return redirect(url_for(".inbox"))
