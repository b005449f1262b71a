"""Monitoring wiring: settings (SLA targets, alerts) from the app's config or the environment, the periodic alert
check, and the Prometheus collector that `/metrics` serves.

The collector computes every value from the database at scrape time: with several web processes and workers, each
process answers the same numbers, and nothing is lost when a process restarts (no in-process counters)."""

from __future__ import annotations

import logging
import os
from collections import ChainMap, defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import case, func, select

from processes.core.engine import Engine
from processes.core.models import ENDED_STATUSES, Incident, ProcessInstance, utcnow
from processes.jobs.embedded import EmbeddedRunner
from processes.prediction import PredictionSettings, Predictor
from processes.reporting.alerts import AlertMonitor, AlertSettings
from processes.reporting.metrics import NOT_ENDED, job_metrics, newest_event_at
from processes.reporting.sla import SlaTargets

log = logging.getLogger(__name__)
PREFIXES = ("ORDERFLOW_SLA", "ORDERFLOW_ALERT_", "ORDERFLOW_PREDICT_", "ORDERFLOW_RISK_", "ORDERFLOW_CAPACITY_")
EPOCH = datetime(1970, 1, 1)


def monitoring_env(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """ORDERFLOW_SLA, ORDERFLOW_ALERT_* and the prediction settings: the app's config first (create_app(config) in
    tests), then the environment."""
    return ChainMap({k: v for k, v in config.items() if k.startswith(PREFIXES)}, os.environ)


def sla_targets(config: Mapping[str, Any]) -> SlaTargets:
    return SlaTargets.from_env(monitoring_env(config))


def build_predictor(engine: Engine, config: Mapping[str, Any]) -> Predictor:
    """The forecasts, capacity advice and SLA risk (fitted on first use and then on a schedule)."""
    return Predictor(engine, PredictionSettings.from_env(monitoring_env(config)))


def alert_monitor(engine: Engine, config: Mapping[str, Any], predictor: Predictor | None = None) -> AlertMonitor | None:
    """The alert checker, or None when no webhook (or no rule) is configured."""
    settings = AlertSettings.from_env(monitoring_env(config))
    predicts = predictor is not None and predictor.settings.alerts
    if settings.webhook_url is None or not (settings.enabled or predicts):
        return None
    return AlertMonitor(engine, settings, rules=[predictor.readings] if predicts and predictor else [])


def schedule_predictions(runner: EmbeddedRunner, predictor: Predictor) -> None:
    """Refit off the engine step, on the runner's periodic thread."""
    runner.every(predictor.settings.refit_seconds, predictor.refit_logged)


def schedule_alerts(
    runner: EmbeddedRunner, engine: Engine, config: Mapping[str, Any], predictor: Predictor | None = None
) -> AlertMonitor | None:
    monitor = alert_monitor(engine, config, predictor)
    if monitor is not None:
        runner.every(monitor.settings.interval_seconds, monitor.check_logged)
        log.info(
            "alerts: checked every %gs, posted to %s", monitor.settings.interval_seconds, monitor.settings.webhook_url
        )
    return monitor


# -- Prometheus ------------------------------------------------------------------------------------------------


class OrderflowCollector(Collector):
    """Process, element, job and incident metrics, read from the database on every scrape."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        instances = GaugeMetricFamily(
            "orderflow_instances",
            "Orders not ended, by process, version and status",
            labels=["process", "version", "status"],
        )
        started = CounterMetricFamily("orderflow_instances_started", "Orders started", labels=["process"])
        ended = CounterMetricFamily(
            "orderflow_instances_ended", "Orders ended, by how (completed, cancelled)", labels=["process", "status"]
        )
        elements = GaugeMetricFamily(
            "orderflow_element_active",
            "Orders waiting at a BPMN element now",
            labels=["process", "version", "element"],
        )
        incidents_open = GaugeMetricFamily("orderflow_incidents_open", "Incidents not resolved", labels=["process"])
        incidents = CounterMetricFamily("orderflow_incidents", "Incidents opened", labels=["process"])
        with self.engine.read_session() as session:
            totals: dict[str, int] = defaultdict(int)
            for key, version, status, count in session.execute(
                select(
                    ProcessInstance.process_key,
                    ProcessInstance.definition_version,
                    ProcessInstance.status,
                    func.count(),
                ).group_by(ProcessInstance.process_key, ProcessInstance.definition_version, ProcessInstance.status)
            ):
                totals[key] += count
                if status in ENDED_STATUSES:
                    ended.add_metric([key, status], count)
                else:
                    instances.add_metric([key, str(version), status], count)
            for key, total in sorted(totals.items()):
                started.add_metric([key], total)
            active: dict[tuple[str, str, str], int] = defaultdict(int)
            for key, version, active_elements in session.execute(
                select(
                    ProcessInstance.process_key, ProcessInstance.definition_version, ProcessInstance.active_elements
                ).where(ProcessInstance.status.in_(NOT_ENDED))
            ):
                for item in active_elements or []:
                    active[(key, str(version), item["elementId"])] += 1
            for labels, count in sorted(active.items()):
                elements.add_metric(list(labels), count)
            for key, total, still_open in session.execute(
                select(
                    ProcessInstance.process_key,
                    func.count(),
                    func.sum(case((Incident.resolved_at.is_(None), 1), else_=0)),
                )
                .select_from(Incident)
                .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
                .group_by(ProcessInstance.process_key)
            ):
                incidents.add_metric([key], total)
                incidents_open.add_metric([key], still_open)
            newest = newest_event_at(session, now)
        yield from (instances, started, ended, elements, incidents_open, incidents)

        backlog = GaugeMetricFamily(
            "orderflow_job_backlog", "Jobs due and not taken by a worker", labels=["topic", "kind"]
        )
        oldest = GaugeMetricFamily(
            "orderflow_job_oldest_age_seconds", "How long the oldest due job has waited", labels=["topic", "kind"]
        )
        in_progress = GaugeMetricFamily("orderflow_jobs_in_progress", "Jobs a worker holds", labels=["topic", "kind"])
        for topic in job_metrics(self.engine, now=now):
            labels = [topic["topic"] or "", topic["kind"]]
            backlog.add_metric(labels, topic["backlog"])
            oldest.add_metric(labels, topic["oldestAgeSeconds"] or 0.0)
            in_progress.add_metric(labels, topic["inProgress"])
        yield from (backlog, oldest, in_progress)

        freshness = GaugeMetricFamily(
            "orderflow_newest_event_timestamp_seconds", "When the newest audit event was written (Unix time)"
        )
        if newest is not None:
            freshness.add_metric([], (newest - EPOCH).total_seconds())
        yield freshness


class PredictionCollector(Collector):
    """The capacity advice (for an autoscaler: KEDA's Prometheus scaler or an HPA on an external metric), the
    forecast of the coming hour with its back-tested error, and the orders at risk of missing their SLA."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        lookahead = self.predictor.settings.capacity_lookahead_hours
        recommended = GaugeMetricFamily(
            "orderflow_workers_recommended", "Workers a job topic needs in the hour under way", labels=["topic"]
        )
        peak = GaugeMetricFamily(
            "orderflow_workers_recommended_peak",
            f"Workers a job topic needs at the forecast peak of the next {lookahead} hours",
            labels=["topic"],
        )
        for advice in self.predictor.capacity(now, lookahead):
            recommended.add_metric([advice.topic], advice.now)
            peak.add_metric([advice.topic], advice.peak(lookahead)[1])
        expected = GaugeMetricFamily(
            "orderflow_forecast_orders", "Orders expected in the hour under way (forecast)", labels=["process"]
        )
        error = GaugeMetricFamily(
            "orderflow_forecast_error", "Back-tested error of the forecast (WAPE, 0..1)", labels=["process"]
        )
        for key, found in sorted(self.predictor.forecasts().items()):
            points = found.points(now, 1)
            if points:
                expected.add_metric([key], points[0][1])
            error.add_metric([key], found.backtest.value)
        at_risk = GaugeMetricFamily(
            "orderflow_orders_at_risk", "Running orders likely to miss their SLA", labels=["process"]
        )
        counts: dict[str, int] = defaultdict(int)
        for found_risk in self.predictor.at_risk(self.predictor.risks(now)):
            counts[found_risk.process_key] += 1
        for key in sorted(self.predictor.settings.targets.processes):
            at_risk.add_metric([key], counts.get(key, 0))
        yield from (recommended, peak, expected, error, at_risk)


def prometheus_registry(engine: Engine, predictor: Predictor | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OrderflowCollector(engine))
    if predictor is not None:
        registry.register(PredictionCollector(predictor))
    return registry
