"""(e) of `make bench`: the monitoring queries on a SQLite database holding 1,000,000 audit events.

A week of shipped orders is written the way the engine writes them (each order's events in time order across all
orders, element entry times stamped, a decision per order, some incidents, the last hour's orders still running),
with bulk inserts. Then the queries the dashboard and Prometheus make are timed: element metrics (the heatmap) for
24 hours, the KPIs for 24 hours and 7 days, the overview, audit searches and a scrape of /metrics."""

from __future__ import annotations

import heapq
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.features import build_engine
from app.migrations import upgrade
from app.monitoring import OrderflowCollector
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine
from processes.core.models import AuditEvent, Deployment, Incident, ProcessDefinition, ProcessInstance, iso
from processes.reporting import metrics
from processes.reporting.audit import AuditFilter, search_events
from processes.reporting.sla import SlaTargets

KEY = "order_fulfillment"
DAYS = 7
# The shipped order's path: (element, type, seconds it takes); service tasks wait for their connector.
PATH = [
    ("StartEvent_OrderReceived", "StartEvent", 0),
    ("Task_ValidateOrder", "ScriptTask", 0),
    ("Gateway_OrderValid", "ExclusiveGateway", 0),
    ("Task_CheckRisk", "BusinessRuleTask", 0),
    ("Gateway_Fulfil", "ParallelGateway", 0),
    ("Task_ReserveInventory", "ServiceTask", 4),
    ("Task_AuthorizePayment", "ServiceTask", 6),
    ("Gateway_Fulfilled", "ParallelGateway", 0),
    ("Task_CapturePayment", "ServiceTask", 5),
    ("Task_ShipOrder", "ServiceTask", 40),
    ("EndEvent_OrderShipped", "EndEvent", 0),
]
TARGETS = SlaTargets.parse(f'{{"{KEY}": {{"target": "PT2M", "elements": {{"Task_ShipOrder": "PT1M"}}}}}}')


def _orders(rng: random.Random, start: datetime, end: datetime, count: int) -> Iterator[tuple]:
    """(instance row, its events) per order, orders starting in time order over [start, end)."""
    step = (end - start) / count
    for n in range(count):
        created = start + step * n
        instance_id = f"{n:032x}"
        events, at = [("instance_started", None, None, created, None, {"businessKey": f"ORD-{n}"})], created
        incident = rng.random() < 0.01
        for element, type_, seconds in PATH:
            entered = at
            if type_ == "ServiceTask":
                events.append(("job_created", element, type_, at, entered, {"topic": element}))
                at += timedelta(seconds=seconds * rng.uniform(0.5, 3.0))
                if incident and element == "Task_ShipOrder":
                    events.append(("incident_opened", element, type_, at, entered, {"errorType": "job_failed"}))
                    at += timedelta(minutes=rng.uniform(5, 60))
            if type_ == "BusinessRuleTask":
                rules = ["r1"] if rng.random() < 0.7 else ["r2", "r5"] if rng.random() < 0.5 else []
                events.append(("decision_evaluated", element, type_, at, entered,
                               {"decision": "risk", "version": 1, "matchedRules": rules}))  # fmt: skip
            events.append(("element_completed", element, type_, at, entered, None))
        events.append(("instance_completed", None, None, at, None, None))
        yield (instance_id, created, at, incident), events


def populate(engine: Engine, events_wanted: int, now: datetime, seed: int = 7) -> dict[str, Any]:
    """Write about `events_wanted` audit events over DAYS days ending at `now`, in time order."""
    rng = random.Random(seed)
    per_order = len(PATH) + 7  # elements, jobs, a decision, start and end
    count = events_wanted // per_order
    start = now - timedelta(days=DAYS)
    pending: list[tuple] = []  # (at, sequence, row): events wait here until every earlier one is written
    instances, incidents, batch, written, sequence = [], [], [], 0, 0
    started = time.perf_counter()

    with engine.write_session() as session:
        session.execute(insert(Deployment), [{"id": "bench", "created_at": start}])
        session.execute(
            insert(ProcessDefinition),
            [{"id": f"{KEY}:1", "key": KEY, "version": 1, "deployment_id": "bench", "resource_name": f"{KEY}.bpmn",
              "content_hash": "bench", "xml": "<definitions/>", "spec_json": "{}", "created_at": start}],
        )  # fmt: skip
        session.commit()

    def flush(rows: list[dict]) -> None:
        with engine.write_connection() as connection:
            if instances:
                connection.execute(insert(ProcessInstance.__table__), instances)
                instances.clear()
            if incidents:
                connection.execute(insert(Incident.__table__), incidents)
                incidents.clear()
            connection.execute(insert(AuditEvent.__table__), rows)

    for (instance_id, created, ended, incident), events in _orders(rng, start, now, count):
        running = ended > now
        instances.append(
            {"id": instance_id, "definition_id": f"{KEY}:1", "process_key": KEY, "definition_version": 1,
             "business_key": f"ORD-{int(instance_id, 16)}", "idempotency_key": None,
             "status": "running" if running else "completed", "revision": 1, "state": "{}", "variables": {},
             "active_elements": [{"elementId": "Task_ShipOrder", "type": "ServiceTask", "since": iso(created)}]
             if running else [], "created_at": created, "updated_at": min(ended, now),
             "ended_at": None if running else ended}
        )  # fmt: skip
        if incident:
            opened = next(e[3] for e in events if e[0] == "incident_opened")
            resolved = opened + timedelta(minutes=5) if opened + timedelta(minutes=5) < now else None
            incidents.append(
                {"id": instance_id, "instance_id": instance_id, "job_id": instance_id, "element_id": "Task_ShipOrder",
                 "task_id": None, "error_type": "job_failed", "message": "carrier down", "created_at": opened,
                 "resolved_at": resolved, "resolution": "retried" if resolved else None, "resolved_by": None,
                 "comment": None}
            )  # fmt: skip
        for type_, element, element_type, at, entered, data in events:
            if at < now:
                heapq.heappush(pending, (at, sequence, instance_id, type_, element, element_type, entered, data))
                sequence += 1
        while pending and pending[0][0] <= created:  # nothing later than this order's start is still to come
            batch.append(_row(heapq.heappop(pending)))
            if len(batch) == 20_000:
                flush(batch)
                written += len(batch)
                batch = []
    while pending:
        batch.append(_row(heapq.heappop(pending)))
    # Four events by a person, among the million: the audit search by actor has to find them.
    batch += [{"instance_id": f"{n:032x}", "at": now - timedelta(seconds=4 - n), "type": "task_claimed",
               "element_id": "Task_Approve", "element_name": None, "element_type": "UserTask", "actor": "olga",
               "data": None, "entered_at": None} for n in range(4)]  # fmt: skip
    flush(batch)
    written += len(batch)
    return {"orders": count, "auditEvents": written, "insertSeconds": round(time.perf_counter() - started, 1)}


def _row(pending: tuple) -> dict[str, Any]:
    at, _, instance_id, type_, element, element_type, entered, data = pending
    return {"instance_id": instance_id, "at": at, "type": type_, "element_id": element, "element_name": None,
            "element_type": element_type, "actor": "worker" if element else "erp-client", "data": data,
            "entered_at": entered}  # fmt: skip


def timed(action: Callable[[], Any], repeat: int = 5) -> float:
    """Median milliseconds of `repeat` runs (after one warm-up run)."""
    action()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 1)


def monitoring_speed(events: int = 1_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        sql = make_engine(f"sqlite:///{Path(directory) / 'bench.db'}", "NORMAL")
        upgrade(sql)
        engine = build_engine(make_session_factory(sql))
        now = datetime(2026, 6, 1, 12, 0)
        data = populate(engine, events, now)
        day, week = metrics.Window(now - timedelta(days=1), now), metrics.Window(now - timedelta(days=7), now)
        hour = metrics.Window(now - timedelta(hours=1), now)
        scope = metrics.Scope(KEY, 1)
        newest_key = f"ORD-{data['orders'] - 1}"
        collector = OrderflowCollector(engine)
        queries = {
            "elementMetrics24h": lambda: metrics.element_metrics(engine, day, scope, TARGETS, now),
            "kpis24h": lambda: metrics.kpis(engine, day, targets=TARGETS, now=now),
            "kpis7d": lambda: metrics.kpis(engine, week, targets=TARGETS, now=now),
            "overview1h": lambda: metrics.overview(engine, hour, targets=TARGETS, now=now),
            "throughput24h": lambda: metrics.throughput(engine, day, now=now),
            "auditByBusinessKey": lambda: search_events(engine, AuditFilter(business_key=newest_key)),
            "auditByActorAllTime": lambda: search_events(engine, AuditFilter(actor="olga")),
            "auditByType1h": lambda: search_events(engine, AuditFilter(type="incident_opened", start=hour.start)),
            "prometheusScrape": lambda: list(collector.collect()),
        }
        checks = {
            "elements24hCompleted": sum(
                e["completed"] for p in queries["elementMetrics24h"]()["processes"] for e in p["elements"]
            ),
            "auditByBusinessKeyFound": len(queries["auditByBusinessKey"]()["items"]),
            "auditByActorFound": len(queries["auditByActorAllTime"]()["items"]),
        }
        milliseconds = {name: timed(query) for name, query in queries.items()}
        sql.dispose()
    return {**data, **checks, "milliseconds": milliseconds}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(monitoring_speed(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2))
