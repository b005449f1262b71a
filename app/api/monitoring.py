"""Monitoring over REST: metrics and KPIs for the dashboard, the audit trail (search and export), and `/metrics` for
Prometheus. Reads only: nothing here changes an order, and no endpoint updates or deletes an audit event."""

from __future__ import annotations

from datetime import UTC, datetime

from apiflask import APIBlueprint
from flask import Response, current_app, stream_with_context
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processes.reporting import metrics
from processes.reporting.audit import AuditFilter, as_csv, as_json, export_events, get_event, search_events

from ..extensions import auth
from ..monitoring import prometheus_registry, sla_targets
from ..services import services
from .monitoring_schemas import (
    AuditEventOut,
    AuditExportQuery,
    AuditFilterQuery,
    AuditPage,
    AuditSearchQuery,
    ElementsOut,
    JobsOut,
    KpisOut,
    MetricsQuery,
    OverviewOut,
    ThroughputOut,
    ThroughputQuery,
)

# No url_prefix: the REST endpoints live under /api/v1 and Prometheus expects /metrics at the root.
bp = APIBlueprint("monitoring", __name__, tag="Monitoring")
READERS = ["operator", "analyst", "admin"]
SETTINGS = "orderflow.monitoring"


@bp.record_once
def _configure(state) -> None:
    # Parsed at start-up, so a mistake in ORDERFLOW_SLA stops the server with a clear message.
    state.app.extensions[SETTINGS] = {
        "targets": sla_targets(state.app.config),
        "registry": prometheus_registry(
            state.app.extensions["orderflow"].engine, state.app.extensions["orderflow"].predictor
        ),
    }


def monitoring_settings() -> dict:
    """What the monitoring endpoints and pages share: the SLA targets parsed at start-up, the Prometheus registry."""
    return current_app.extensions[SETTINGS]


def _window(q: MetricsQuery) -> metrics.Window:
    return metrics.Window.parse(q.window, q.from_, q.to)


def _scope(q: MetricsQuery) -> metrics.Scope:
    return metrics.Scope(q.processKey, q.version)


@bp.get("/api/v1/metrics/overview")
@bp.auth_required(auth, roles=READERS)
@bp.input(MetricsQuery, location="query", arg_name="q")
@bp.output(OverviewOut)
@bp.doc(summary="Orders, incidents, job backlog, rule hits and SLA share for a window (default the last hour)")
def overview(q: MetricsQuery):
    return metrics.overview(services().engine, _window(q), _scope(q), monitoring_settings()["targets"])


@bp.get("/api/v1/metrics/elements")
@bp.auth_required(auth, roles=READERS)
@bp.input(MetricsQuery, location="query", arg_name="q")
@bp.output(ElementsOut)
@bp.doc(
    summary="Per BPMN element: entered, completed, active, time spent (p50/p95), waiting vs working, SLA",
    description="Per process version; give processKey and version for one diagram's heatmap.",
)
def elements(q: MetricsQuery):
    return metrics.element_metrics(services().engine, _window(q), _scope(q), monitoring_settings()["targets"])


@bp.get("/api/v1/metrics/throughput")
@bp.auth_required(auth, roles=READERS)
@bp.input(ThroughputQuery, location="query", arg_name="q")
@bp.output(ThroughputOut)
@bp.doc(summary="Orders started, completed and cancelled per slice of the window")
def throughput(q: ThroughputQuery):
    return metrics.throughput(services().engine, _window(q), _scope(q), q.buckets)


@bp.get("/api/v1/metrics/jobs")
@bp.auth_required(auth, roles=READERS)
@bp.input(MetricsQuery, location="query", arg_name="q")
@bp.output(JobsOut)
@bp.doc(summary="Per job topic, now: backlog of due jobs, age of the oldest, scheduled, in progress")
def jobs(q: MetricsQuery):
    return {"items": metrics.job_metrics(services().engine, _scope(q))}


@bp.get("/api/v1/metrics/kpis")
@bp.auth_required(auth, roles=READERS)
@bp.input(MetricsQuery, location="query", arg_name="q")
@bp.output(KpisOut)
@bp.doc(summary="Average order processing time, workflow rule hit rate, exception resolution time, SLA share")
def kpis(q: MetricsQuery):
    return metrics.kpis(services().engine, _window(q), _scope(q), monitoring_settings()["targets"])


# -- audit trail -------------------------------------------------------------------------------------------------


def _filter(q: AuditFilterQuery) -> AuditFilter:
    return AuditFilter(
        business_key=q.businessKey,
        actor=q.actor,
        element_id=q.elementId,
        type=q.type,
        instance_id=q.instanceId,
        process_key=q.processKey,
        start=q.from_,
        end=q.to,
    )


@bp.get("/api/v1/audit-events")
@bp.auth_required(auth, roles=READERS)
@bp.input(AuditSearchQuery, location="query", arg_name="q")
@bp.output(AuditPage)
@bp.doc(summary="Search the audit trail of every order, newest first, a page at a time")
def search(q: AuditSearchQuery):
    return search_events(services().engine, _filter(q), limit=q.limit, before=q.cursor)


@bp.get("/api/v1/audit-events/export")
@bp.auth_required(auth, roles=READERS)
@bp.input(AuditExportQuery, location="query", arg_name="q")
@bp.doc(
    summary="Export the matching audit events, oldest first, as CSV or a JSON array (streamed)",
    responses={200: {"description": "The events", "content": {"text/csv": {}, "application/json": {}}}},
)
def export(q: AuditExportQuery):
    where = _filter(q)
    events = export_events(services().engine, where)
    body, mimetype = (as_csv(events), "text/csv") if q.format == "csv" else (as_json(events), "application/json")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="audit-events-{stamp}.{q.format}"'},
    )


@bp.get("/api/v1/audit-events/<event_id>")
@bp.auth_required(auth, roles=READERS)
@bp.output(AuditEventOut)
@bp.doc(summary="One audit event. Events are append-only: there is no way to change or delete one")
def event(event_id: str):
    return get_event(services().engine, event_id)


# -- Prometheus --------------------------------------------------------------------------------------------------


@bp.get("/metrics")
@bp.auth_required(auth, roles=READERS)
@bp.doc(
    summary="Prometheus metrics, computed from the database at scrape time",
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
def prometheus():
    return Response(generate_latest(monitoring_settings()["registry"]), content_type=CONTENT_TYPE_LATEST)
