"""The monitoring pages: the KPIs and throughput of a window, the bottleneck heatmap on a process diagram, one
order's page, and the audit trail search with export. Every number comes from processes.reporting (metrics and
audit), the same functions the REST API serves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from sqlalchemy import select

from processes.core.models import ProcessDefinition, utcnow
from processes.errors import InvalidInput, NotFound
from processes.instances import get_instance, instance_events, list_instances
from processes.jobs.incidents import list_incidents
from processes.reporting import audit, metrics
from processes.reporting.sla import SlaTargets

from ..api.incidents import weights as impact_weights
from ..api.monitoring import monitoring_settings
from ..api.monitoring_schemas import naive_utc
from ..services import services
from . import prediction
from .args import whole_number
from .naming import element_names, name_events, names_in, waiting_at, without_expressions
from .order_data import view_of
from .people import page_requires

bp = Blueprint("web_monitoring", __name__, url_prefix="/monitoring")
WINDOW_NAMES = {"5m": "5 minutes", "1h": "1 hour", "24h": "24 hours", "7d": "7 days"}


def _targets() -> SlaTargets:
    """The targets the REST API parsed at start-up (one reading of ORDERFLOW_SLA for pages and API)."""
    return monitoring_settings()["targets"]


def _window() -> metrics.Window:
    name = request.args.get("window", metrics.DEFAULT_WINDOW)
    return metrics.Window.parse(name if name in metrics.WINDOWS else metrics.DEFAULT_WINDOW)


def _scope() -> metrics.Scope:
    key = request.args.get("process", "").strip() or None
    version = request.args.get("version", type=whole_number) if key else None
    return metrics.Scope(key, version)


def _process_keys() -> list[str]:
    with services().engine.read_session() as session:
        return sorted(set(session.scalars(select(ProcessDefinition.key))))


@bp.get("")
@page_requires("monitoring")
def dashboard():
    engine, window, scope, now = services().engine, _window(), _scope(), utcnow()
    targets = _targets()
    context: dict[str, Any] = {
        "window": window,
        "windows": WINDOW_NAMES,
        "process": scope.process_key or "",
        "processes": _process_keys(),
        "kpis": metrics.kpis(engine, window, scope, targets, now),
        "overview": metrics.overview(engine, window, scope, targets, now),
        "throughput": metrics.throughput(engine, window, scope, 30, now),
        "incidents": list_incidents(
            engine, weights=impact_weights(), process_key=scope.process_key, per_page=10, now=now
        ),
        "target": targets.for_process(scope.process_key) if scope.process_key else None,
        "min_share": min((t.min_share for t in targets.processes.values()), default=None),
        "prediction": prediction.dashboard_context(scope.process_key),
        "now": now,
    }
    template = "monitoring/_dashboard.html" if request.headers.get("HX-Request") else "monitoring/dashboard.html"
    return render_template(template, **context)


@bp.get("/processes/<key>")
@page_requires("monitoring")
def bottlenecks(key: str):
    engine, window = services().engine, _window()
    version = request.args.get("version", type=whole_number)
    with engine.read_session() as session:
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        query = query.where(ProcessDefinition.version == version) if version else query
        definition = session.scalars(query.order_by(ProcessDefinition.version.desc())).first()
        if definition is None:
            raise NotFound(f"process {key}{f' version {version}' if version else ''} is not deployed")
        definition_version, xml, versions = (
            definition.version,
            definition.xml,
            sorted(
                session.scalars(select(ProcessDefinition.version).where(ProcessDefinition.key == key)), reverse=True
            ),
        )
    found = metrics.element_metrics(engine, window, metrics.Scope(key, definition_version), _targets())
    elements = next((p["elements"] for p in found["processes"] if p["version"] == definition_version), [])
    at_risk = prediction.at_risk_by_element(key)
    names = names_in(xml)
    elements = [{**e, "atRisk": at_risk.get(e["elementId"], 0)} for e in elements]
    return render_template(
        "monitoring/bottlenecks.html", key=key, version=definition_version, versions=versions, window=window,
        windows=WINDOW_NAMES, elements=elements, freshness=found.get("freshness") or {},
        at_risk=[(names.get(element) or element, count) for element, count in sorted(at_risk.items())],
    )  # fmt: skip


@bp.get("/processes/<key>/<int(min=1, max=2147483647):version>/diagram.xml")
@page_requires("monitoring")
def definition_xml(key: str, version: int):
    with services().engine.read_session() as session:
        xml = session.scalar(
            select(ProcessDefinition.xml).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
        )
    if xml is None:
        raise NotFound(f"process {key} version {version} is not deployed")
    return Response(without_expressions(xml), mimetype="application/xml")


@bp.get("/orders")
@page_requires("monitoring")
def orders():
    business_key = request.args.get("businessKey", "").strip()
    status = request.args.get("status", "").strip() or None
    page = max(1, request.args.get("page", 1, type=whole_number) or 1)
    found = list_instances(
        services().engine, business_key_prefix=business_key or None, status=status, page=page, per_page=50
    )
    return render_template("monitoring/orders.html", found=found, business_key=business_key, status=status or "")


@bp.get("/orders/<instance_id>")
@page_requires("monitoring")
def order(instance_id: str):
    engine = services().engine
    instance = get_instance(engine, instance_id)
    active = [e.get("elementId") for e in instance.get("activeElements") or [] if e.get("elementId")]
    history = name_events(instance_events(engine, instance_id))
    return render_template(
        "monitoring/order.html", instance=instance, history=history, active=active, waiting=waiting_at(instance),
        order=view_of(instance, history), show_internal=True, names=element_names(instance["definitionId"]),
    )  # fmt: skip


def _audit_filter() -> audit.AuditFilter:
    args = request.args

    def moment(name: str) -> datetime | None:
        text = args.get(name, "").strip()
        if not text:
            return None
        try:
            # The pages speak UTC: a time without a zone is UTC.
            return naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError as exc:
            raise InvalidInput(f"{name}: {text!r} is not a date and time (YYYY-MM-DDTHH:MM): {exc}") from exc

    return audit.AuditFilter(
        business_key=args.get("businessKey", "").strip() or None,
        actor=args.get("actor", "").strip() or None,
        element_id=args.get("elementId", "").strip() or None,
        type=args.get("type", "").strip() or None,
        start=moment("from"),
        end=moment("to"),
    )


@bp.get("/audit")
@page_requires("monitoring")
def audit_search():
    where = _audit_filter()
    found = audit.search_events(services().engine, where, limit=200, before=request.args.get("before") or None)
    name_events(found["items"])
    return render_template("monitoring/audit.html", found=found, args=request.args)


@bp.get("/audit/export.<fmt>")
@page_requires("monitoring")
def audit_export(fmt: str):
    if fmt not in ("csv", "json"):
        raise NotFound("export as csv or json")
    events = audit.export_events(services().engine, _audit_filter())
    body = audit.as_csv(events) if fmt == "csv" else audit.as_json(events)
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    headers = {"Content-Disposition": f"attachment; filename=audit-events.{fmt}"}
    return Response(stream_with_context(body), mimetype=mimetype, headers=headers)
