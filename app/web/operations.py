"""The operator's pages: incidents ranked by impact (retry one, a selection or everything a filter matches, with a
variable fix first; resolve with a comment), dead letters (replay, discard), batch results, and on an order's page
suspend/resume, a variables editor and "move the order here"; migrating running orders from the version history.
Each action calls the same function as the REST API, as the logged-in operator."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from processes import modeling
from processes.core.models import Job, ProcessDefinition
from processes.errors import InvalidInput, OrderflowError
from processes.instances import get_instance
from processes.jobs import dead_letters, incidents
from processes.operations import batches, migration, modification, suspension, variables

from ..api.incidents import weights as impact_weights
from ..api.prediction import with_sla_risk
from ..services import services
from .people import page_caller, page_requires

bp = Blueprint("web_operations", __name__, url_prefix="/monitoring")


def _operator() -> str:
    caller = page_caller()
    if not caller.has_role("operator"):
        abort(403, f"{caller.name} is not an operator")
    return caller.name


def _json_object(text: str, what: str) -> dict[str, Any]:
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput(f'{what} must be a JSON object like {{"count": 2}}')
    return value


# -- incidents and dead letters --------------------------------------------------------------------------


def _filters() -> dict[str, str]:
    names = ("process", "version", "element", "errorType", "connector", "minAgeHours")
    return {name: request.args.get(name, "").strip() for name in names}


def _matching(filters: dict[str, str]) -> list[dict[str, Any]]:
    engine = services().engine
    found = incidents.list_incidents(
        engine, weights=impact_weights(), process_key=filters.get("process") or None,
        element_id=filters.get("element") or None, error_type=filters.get("errorType") or None,
        per_page=incidents.MAX_BULK,
    )  # fmt: skip
    items = found["items"]
    job_ids = [i["jobId"] for i in items if i["jobId"]]
    topics: dict[str, str | None] = {}
    if job_ids:
        with engine.read_session() as session:
            topics = dict(session.execute(select(Job.id, Job.topic).where(Job.id.in_(job_ids))).all())
    for item in items:
        item["connector"] = topics.get(item["jobId"]) if item["jobId"] else None
    if filters.get("version", "").isdigit():
        items = [i for i in items if i["definitionVersion"] == int(filters["version"])]
    if filters.get("connector"):
        items = [i for i in items if i["connector"] == filters["connector"]]
    try:
        min_age = float(filters.get("minAgeHours") or 0)
    except ValueError:
        min_age = 0
    return [i for i in items if i["impact"]["ageHours"] >= min_age]


@bp.get("/incidents")
@page_requires("monitoring")
def incidents_page():
    engine = services().engine
    filters = _filters()
    items = _matching(filters)
    selected_id = request.args.get("incident") or (items[0]["id"] if items else None)
    selected = instance = jobs = None
    if selected_id:
        try:
            selected = incidents.get_incident(engine, selected_id, weights=impact_weights())
            instance = get_instance(engine, selected["instanceId"])
            jobs = [j for j in instance["jobs"] if j["id"] == selected["jobId"]] or instance["jobs"]
        except OrderflowError:
            selected = None
    by_risk = request.args.get("sort") == "slaRisk"
    items = _ranked_by_risk(items) if by_risk else with_sla_risk(items)
    return render_template(
        "monitoring/incidents.html", items=items, filters=filters, selected=selected, instance=instance, jobs=jobs,
        dead=dead_letters.list_dead_letters(engine, per_page=100), query=request.args.to_dict(), by_risk=by_risk,
        risk_threshold=services().predictor.settings.risk_threshold,
    )  # fmt: skip


def _ranked_by_risk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incidents of the orders likeliest to miss their SLA first; impact (the list's order) breaks ties."""
    with_sla_risk(items)
    return sorted(items, key=lambda i: -(i["slaRisk"] if i["slaRisk"] is not None else -1.0))


def _back(**extra: str):
    query = {k: v for k, v in request.form.items() if k.startswith("f_") and v}
    return redirect(url_for(".incidents_page", **{k[2:]: v for k, v in query.items()}, **extra))


@bp.post("/incidents/<incident_id>/retry")
@page_requires("monitoring")
def retry(incident_id: str):
    actor = _operator()
    try:
        fix = _json_object(request.form.get("variables", ""), "the variable fix")
        if fix:
            found = incidents.get_incident(services().engine, incident_id, weights=impact_weights())
            variables.patch_variables(
                services().engine, found["instanceId"], set_=fix, comment=request.form.get("comment"), actor=actor
            )
        outcome = incidents.retry_incident(services().engine, incident_id, actor=actor)
    except OrderflowError as exc:
        flash(f"Not retried: {exc.detail}", "error")
        return _back()
    if outcome.result == incidents.RESULT_RETRIED:
        flash(f"Retried: {outcome.detail}. The order is {outcome.instance_status}.", "info")
    else:
        flash(f"The retry failed again: {outcome.detail}", "error")
    return _back()


@bp.post("/incidents/<incident_id>/resolve")
@page_requires("monitoring")
def resolve(incident_id: str):
    actor = _operator()
    try:
        incidents.resolve_incident(
            services().engine, incident_id, comment=request.form.get("comment", ""), actor=actor,
            weights=impact_weights(),
        )  # fmt: skip
    except OrderflowError as exc:
        flash(f"Not resolved: {exc.detail}", "error")
        return _back(incident=incident_id)
    flash("Resolved with your comment.", "info")
    return _back()


@bp.post("/incidents/retry")
@page_requires("monitoring")
def retry_many():
    actor = _operator()
    try:
        fix = _json_object(request.form.get("variables", ""), "the variable fix")
        if request.form.get("scope") == "all":
            filters = {k[2:]: v for k, v in request.form.items() if k.startswith("f_")}
            targets = [i["id"] for i in _matching(filters)]
        else:
            targets = list(dict.fromkeys(request.form.getlist("ids")))
        if not targets:
            raise InvalidInput("select the incidents to retry")
        request_body = {"ids": targets, "variables": fix or None, "comment": request.form.get("comment") or None}
        batch_id = batches.create_batch(services().engine, "retry", request_body, targets, actor=actor)
    except OrderflowError as exc:
        flash(exc.detail, "error")
        return _back()
    return redirect(url_for(".batch", batch_id=batch_id))


@bp.post("/dead-letters/<dead_letter_id>/replay")
@page_requires("monitoring")
def replay(dead_letter_id: str):
    actor = _operator()
    try:
        result = dead_letters.replay(services().engine, dead_letter_id, actor=actor)
        flash(f"Replayed: order {result.start.instance['businessKey'] or result.start.instance['id']}.", "info")
    except dead_letters.ReplayFailed as failed:
        flash(f"The replay failed again: {failed.error}", "error")
    except OrderflowError as exc:
        flash(exc.detail, "error")
    return _back()


@bp.post("/dead-letters/<dead_letter_id>/discard")
@page_requires("monitoring")
def discard(dead_letter_id: str):
    actor = _operator()
    try:
        dead_letters.discard(services().engine, dead_letter_id, comment=request.form.get("comment"), actor=actor)
        flash("Discarded.", "info")
    except OrderflowError as exc:
        flash(exc.detail, "error")
    return _back()


@bp.get("/batches/<batch_id>")
@page_requires("monitoring")
def batch(batch_id: str):
    return render_template("monitoring/batch.html", batch=batches.get_batch(services().engine, batch_id))


# -- one order ---------------------------------------------------------------------------------------------


def _to_order(instance_id: str):
    return redirect(url_for("web_monitoring.order", instance_id=instance_id))


@bp.post("/orders/<instance_id>/suspend")
@page_requires("monitoring")
def suspend(instance_id: str):
    actor = _operator()
    resume = request.form.get("action") == "resume"
    action = suspension.resume_instance if resume else suspension.suspend_instance
    try:
        action(services().engine, instance_id, comment=request.form.get("comment") or None, actor=actor)
        flash("Resumed." if resume else "Suspended: it runs nothing until you resume it.", "info")
    except OrderflowError as exc:
        flash(exc.detail, "error")
    return _to_order(instance_id)


@bp.post("/orders/<instance_id>/variables")
@page_requires("monitoring")
def edit_variables(instance_id: str):
    actor = _operator()
    engine = services().engine
    try:
        wanted = _json_object(request.form.get("variables", ""), "the variables")
        current = get_instance(engine, instance_id)["variables"] or {}
        changed = {k: v for k, v in wanted.items() if k not in current or current[k] != v}
        removed = [k for k in current if k not in wanted]
        variables.patch_variables(
            engine, instance_id, set_=changed, delete=removed, comment=request.form.get("comment") or None, actor=actor
        )
        flash(f"Saved: {len(changed)} set, {len(removed)} deleted.", "info")
    except OrderflowError as exc:
        flash(f"Not saved: {exc.detail}", "error")
    return _to_order(instance_id)


@bp.post("/orders/<instance_id>/move")
@page_requires("monitoring")
def move(instance_id: str):
    actor = _operator()
    engine = services().engine
    element = request.form.get("element", "").strip()
    try:
        active = {e["elementId"] for e in get_instance(engine, instance_id)["activeElements"] or []}
        # The token leaves where it is: elements inside an active subprocess go with it.
        instructions = [{"cancel": e} for e in sorted(active) if e != element]
        instructions.append({"startBefore": element})
        modification.modify_instance(
            engine, instance_id, instructions=instructions, comment=request.form.get("comment") or None, actor=actor
        )
        flash(f"Moved the order to {element}.", "info")
    except OrderflowError as exc:
        flash(f"Not moved: {exc.detail}", "error")
    return _to_order(instance_id)


# -- migration -----------------------------------------------------------------------------------------------


def _elements(engine, key: str, version: int) -> dict[str, dict[str, str]]:
    """Drawn elements of a version: id -> {"name", "type"}."""
    with engine.read_session() as session:
        definition_id = session.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
        )
        if definition_id is None:
            raise InvalidInput(f"{key} has no version {version}")
        spec, subs = engine.spec_for(session, definition_id)
    found = {}
    for each in (spec, *subs.values()):
        for task_spec in each.task_specs.values():
            if getattr(task_spec, "bpmn_id", None):
                found[task_spec.bpmn_id] = {"name": task_spec.bpmn_name or "", "type": type(task_spec).__name__}
    return found


def prefilled_mapping(old: dict[str, dict], new: dict[str, dict]) -> dict[str, str]:
    """Old elements the new version lacks, placed where the choice is clear: an element of the same name, else the
    one new element of the same kind."""
    mapping = {}
    added = [i for i in new if i not in old]
    for old_id, facts in old.items():
        if old_id in new:
            continue
        same_name = [i for i in added if facts["name"] and new[i]["name"] == facts["name"]]
        same_kind = [i for i in added if new[i]["type"] == facts["type"]]
        # A rename usually keeps the old words: "Approve" became "ApproveOrder" / "Approve the order".
        name = facts["name"].lower()
        related = [i for i in same_kind if old_id.lower() in i.lower() or (name and name in new[i]["name"].lower())]
        choice = same_name or (related if len(related) == 1 else []) or (same_kind if len(same_kind) == 1 else [])
        if choice:
            mapping[old_id] = choice[0]
    return mapping


@bp.route("/processes/<key>/migrate", methods=["GET", "POST"])
@page_requires("monitoring")
def migrate(key: str):
    engine = services().engine
    source = request.values.get("from", type=int)
    target = request.values.get("to", type=int)
    versions = [v["version"] for v in modeling.version_history(engine, "process", key)]
    if target is None:
        target = max(versions, default=None)
    old, new = _elements(engine, key, source or 1), _elements(engine, key, target or 1)
    removed = {i: f for i, f in old.items() if i not in new}
    mapping = prefilled_mapping(old, new)
    dry = None
    if request.method == "POST":
        actor = _operator()
        mapping = {k[2:]: v for k, v in request.form.items() if k.startswith("m_") and v}
        body = {"processKey": key, "sourceVersion": source, "targetVersion": target, "mapping": mapping, "filter": {}}
        try:
            if request.form.get("action") == "run":
                checked = migration.check_request(engine, body)
                targets = migration.matching_instances(engine, checked)
                batch_id = batches.create_batch(
                    engine, "migrate", {**body, "comment": request.form.get("comment") or None, "checked": checked},
                    targets, actor=actor,
                )  # fmt: skip
                return redirect(url_for(".batch", batch_id=batch_id))
            dry = migration.dry_run(engine, body)
        except OrderflowError as exc:
            flash(exc.detail, "error")
    return render_template(
        "monitoring/migrate.html", key=key, source=source, target=target, removed=removed, new=new,
        mapping=mapping, dry=dry, versions=versions,
    )  # fmt: skip
