"""Operational metrics: what operations leads watch live, computed from the audit trail and the engine's tables.

Everything is for a time window (5m, 1h, 24h, 7d, or explicit from/to) and optionally one process (and version).
The definitions, in the order the dashboard shows them:

- **entered / completed per element**: visits that reached the element in the window (counted when they complete,
  or from the instance's active elements while they still wait; a visit that an interrupting event or a cancel ended
  is not counted) and visits that completed in it. A user task completes when its person completes it
  (`task_completed`), every other element with `element_completed`.
- **active**: visits waiting at the element now, whatever the window.
- **time spent**: completion minus the moment the token reached the element (`entered_at`, stamped by the engine from
  the predecessor's completion), for visits completed in the window: mean, p50, p95 (nearest rank), max.
- **waiting vs working**: user tasks wait until claimed (the last claim) and are worked on from the claim to the
  completion (an unclaimed task completed directly has only waiting time). Service tasks wait in retry backoff
  (`retryInSeconds` of the window's failed attempts) and while an incident holds them (incidents resolved in the
  window); the rest of their time spent (queue and connector) is working. Both are means per completed visit.
  Other elements have neither: a timer, a message or a join just waits.
- **order time**: start to completion of orders completed in the window; **throughput**: orders started, completed
  and cancelled per bucket of the window.
- **job backlog per topic**: jobs due and waiting for a worker now, and how long the oldest has been due.
- **incidents**: open now; opened, and resolved (retried or resolved by a person) in the window with the time it
  took: the exception resolution time. Incidents closed by cancelling their order are not resolutions.
- **rule hit rate**: per decision table, the share of the window's evaluations (business rule tasks) in which at
  least one rule matched, and how often each rule matched.
- **SLA share**: see reporting/sla.py for the targets. Of the orders whose SLA was decided in the window, the share
  within target: orders completed in it within target count as met; completed late, or still running when their
  target passed in the window, as missed. Element targets work the same on visits.
- **freshness**: the time of the newest audit event before the window's end: metrics are as fresh as that.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from processes.core.engine import Engine
from processes.core.models import (
    ACTIVE_JOB_STATUSES,
    INCIDENT,
    JOB_LOCKED,
    JOB_READY,
    JOB_REVIEW,
    KIND_USER,
    RUNNING,
    TASK_COMPLETED,
    WAITING,
    AuditEvent,
    HumanTask,
    Incident,
    Job,
    ProcessInstance,
    iso,
    utcnow,
)
from processes.errors import InvalidInput
from processes.reporting.audit import ORDER_SLACK, first_id_at, in_window
from processes.reporting.sla import SlaTargets, share

WINDOWS = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_WINDOW = "1h"
COMPLETIONS = ("element_completed", "task_completed")
# Orders not ended, by status: the (status, created_at) index finds them without reading every order.
NOT_ENDED = (RUNNING, WAITING, INCIDENT)
MAX_BUCKETS = 500


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    name: str | None = None

    @classmethod
    def parse(
        cls,
        window: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        now: datetime | None = None,
    ) -> Window:
        """A named window ending now, or an explicit one (`to` defaults to now)."""
        now = now or utcnow()
        if start is not None or end is not None:
            if window:
                raise InvalidInput("give either window or from/to, not both")
            if start is None:
                raise InvalidInput("from is required when to is given")
            end = end or now
            if start >= end:
                raise InvalidInput("from must be before to")
            return cls(start, end)
        name = window or DEFAULT_WINDOW
        if name not in WINDOWS:
            raise InvalidInput(f"window must be one of {', '.join(WINDOWS)} (or from and to), not {name!r}")
        return cls(now - WINDOWS[name], now, name)

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": iso(self.start),
            "to": iso(self.end),
            "seconds": (self.end - self.start).total_seconds(),
        }


@dataclass(frozen=True)
class Scope:
    """Which orders: all, one process (key), or one version of it."""

    process_key: str | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        if self.version is not None and self.process_key is None:
            raise InvalidInput("version needs processKey")

    def clauses(self) -> list:
        clauses = []
        if self.process_key is not None:
            clauses.append(ProcessInstance.process_key == self.process_key)
        if self.version is not None:
            clauses.append(ProcessInstance.definition_version == self.version)
        return clauses


def ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def summary(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "avgMs": None, "p50Ms": None, "p95Ms": None, "maxMs": None}
    return {
        "count": len(ordered),
        "avgMs": round(sum(ordered) / len(ordered), 3),
        "p50Ms": round(percentile(ordered, 50), 3),
        "p95Ms": round(percentile(ordered, 95), 3),
        "maxMs": round(ordered[-1], 3),
    }


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def _events(session: Session, types: tuple[str, ...], start: datetime, end: datetime, scope: Scope, *columns):
    """Audit events of these types stamped in [start, end), with their instance's columns."""
    query = (
        select(*columns)
        .select_from(AuditEvent)
        .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
        .where(AuditEvent.type.in_(types), *in_window(session, start, end), *scope.clauses())
    )
    return session.connection().execute(query)  # Core rows: the ORM's per-row work doubled the time on big windows


def newest_event_at(session: Session, before: datetime) -> datetime | None:
    """Freshness: when the newest audit event before `before` was written."""
    return session.scalar(
        select(AuditEvent.at)
        .where(AuditEvent.id < first_id_at(session, before + ORDER_SLACK), AuditEvent.at < before)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def freshness(session: Session, window: Window, now: datetime) -> dict[str, Any]:
    newest = newest_event_at(session, window.end)
    return {
        "newestEventAt": iso(newest),
        "computedAt": iso(now),
        "ageSeconds": round((now - newest).total_seconds(), 3) if newest is not None else None,
    }


# -- per element (the heatmap) ---------------------------------------------------------------------------------


class _Element:
    __slots__ = (
        "element_id", "name", "type", "target", "entered", "completed", "active", "oldest", "spent", "met", "missed"
    )  # fmt: skip

    def __init__(self, element_id: str, name: str | None, type_: str | None):
        self.element_id, self.name, self.type = element_id, name, type_
        self.target: timedelta | None = None
        self.entered = self.completed = self.active = self.met = self.missed = 0
        self.oldest: datetime | None = None
        self.spent: list[float] = []


def element_metrics(
    engine: Engine,
    window: Window,
    scope: Scope = Scope(),
    targets: SlaTargets | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Per definition version and per BPMN element: entered, completed, active, time spent, waiting vs working,
    element SLA share. The shape the diagram heatmap reads."""
    now = now or utcnow()
    targets = targets or SlaTargets()
    found: dict[tuple[str, int], dict[str, _Element]] = defaultdict(dict)

    def element(key: str, version: int, element_id: str, name: str | None, type_: str | None) -> _Element:
        elements = found[(key, version)]
        visit = elements.get(element_id)
        if visit is None:
            visit = elements[element_id] = _Element(element_id, name, type_)
            process = targets.for_process(key)
            visit.target = process.elements.get(element_id) if process is not None else None
        return visit

    with engine.read_session() as session:
        # Visits entered in the window may complete after it ends: read completions up to now.
        rows = _events(
            session,
            COMPLETIONS,
            window.start,
            max(window.end, now),
            scope,
            ProcessInstance.process_key,
            ProcessInstance.definition_version,
            AuditEvent.element_id,
            AuditEvent.element_name,
            AuditEvent.element_type,
            AuditEvent.at,
            AuditEvent.entered_at,
        )
        start, end = window.start, window.end
        for key, version, element_id, name, type_, at, entered_at in rows:
            if element_id is None:
                continue
            visit = element(key, version, element_id, name, type_)
            if start <= (entered_at or at) < end:
                visit.entered += 1
            if not start <= at < end:
                continue
            visit.completed += 1
            if entered_at is not None:
                spent = at - entered_at
                visit.spent.append(spent.total_seconds() * 1000)
                if visit.target is not None:
                    if spent <= visit.target:
                        visit.met += 1
                    else:
                        visit.missed += 1

        active = session.execute(
            select(
                ProcessInstance.process_key, ProcessInstance.definition_version, ProcessInstance.active_elements
            ).where(ProcessInstance.status.in_(NOT_ENDED), *scope.clauses())
        )
        for key, version, active_elements in active:
            for item in active_elements or []:
                visit = element(key, version, item["elementId"], item.get("name"), item.get("type"))
                visit.active += 1
                since = _parse_since(item.get("since"))
                if since is None:
                    continue
                if window.contains(since):
                    visit.entered += 1
                if visit.oldest is None or since < visit.oldest:
                    visit.oldest = since
                target = visit.target
                if target is not None and window.contains(since + target) and since + target <= now:
                    visit.missed += 1  # still waiting, and its target passed in the window

        user_split = _user_task_split(session, window, scope)
        service_waits = _service_task_waits(session, window, scope)
        fresh = freshness(session, window, now)

    processes = []
    for (key, version), elements in sorted(found.items()):
        views = []
        for visit in sorted(elements.values(), key=lambda v: v.element_id):
            spent = summary(visit.spent)
            waiting = working = None
            split_key = (key, version, visit.element_id)
            if split_key in user_split:
                waiting, working = user_split[split_key]
            elif "ServiceTask" in (visit.type or "") and visit.completed:
                waiting = round(service_waits.get(split_key, 0.0) / visit.completed, 3)
                working = round(max((spent["avgMs"] or 0.0) - waiting, 0.0), 3)
            target = visit.target
            views.append(
                {
                    "elementId": visit.element_id,
                    "name": visit.name,
                    "type": visit.type,
                    "entered": visit.entered,
                    "completed": visit.completed,
                    "active": visit.active,
                    "oldestActiveSince": iso(visit.oldest),
                    "timeSpent": spent,
                    "waitingMs": waiting,
                    "workingMs": working,
                    "sla": None
                    if target is None
                    else {
                        "targetMs": ms(target),
                        "met": visit.met,
                        "missed": visit.missed,
                        "share": share(visit.met, visit.missed),
                    },
                }
            )
        processes.append({"processKey": key, "version": version, "elements": views})
    return {"window": window.view(), "freshness": fresh, "processes": processes}


def _user_task_split(session: Session, window: Window, scope: Scope) -> dict[tuple, tuple[float, float]]:
    """(process, version, element) -> mean (waiting, working) ms of user tasks completed in the window."""
    rows = session.execute(
        select(
            ProcessInstance.process_key,
            ProcessInstance.definition_version,
            HumanTask.element_id,
            HumanTask.created_at,
            HumanTask.claimed_at,
            HumanTask.completed_at,
        )
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(
            HumanTask.status == TASK_COMPLETED,
            HumanTask.kind == KIND_USER,
            HumanTask.completed_at >= window.start,
            HumanTask.completed_at < window.end,
            *scope.clauses(),
        )
    )
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for key, version, element_id, created_at, claimed_at, completed_at in rows:
        claimed = claimed_at if claimed_at is not None and claimed_at <= completed_at else completed_at
        total = sums[(key, version, element_id)]
        total[0] += ms(claimed - created_at)
        total[1] += ms(completed_at - claimed)
        total[2] += 1
    return {k: (round(w / n, 3), round(x / n, 3)) for k, (w, x, n) in sums.items()}


def _service_task_waits(session: Session, window: Window, scope: Scope) -> dict[tuple, float]:
    """(process, version, element) -> ms service tasks spent in retry backoff and on incidents, in the window."""
    waits: dict[tuple, float] = defaultdict(float)
    failed = _events(
        session,
        ("job_failed",),
        window.start,
        window.end,
        scope,
        ProcessInstance.process_key,
        ProcessInstance.definition_version,
        AuditEvent.element_id,
        AuditEvent.data,
    )
    for key, version, element_id, data in failed:
        retry_in = (data or {}).get("retryInSeconds")
        if isinstance(retry_in, int | float):
            waits[(key, version, element_id)] += retry_in * 1000
    incidents = session.execute(
        select(
            ProcessInstance.process_key,
            ProcessInstance.definition_version,
            Incident.element_id,
            Incident.created_at,
            Incident.resolved_at,
        )
        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
        .where(
            Incident.job_id.is_not(None),
            Incident.resolution.is_not(None),
            Incident.resolved_at >= window.start,
            Incident.resolved_at < window.end,
            *scope.clauses(),
        )
    )
    for key, version, element_id, created_at, resolved_at in incidents:
        waits[(key, version, element_id)] += ms(resolved_at - created_at)
    return waits


# -- per order --------------------------------------------------------------------------------------------------


def order_metrics(engine: Engine, window: Window, scope: Scope = Scope(), now: datetime | None = None) -> dict:
    """Orders started, completed and cancelled in the window, start-to-end time of the completed ones, and the
    orders active now by status."""
    now = now or utcnow()
    started = completed = cancelled = 0
    durations: list[float] = []
    with engine.read_session() as session:
        rows = _events(
            session,
            ("instance_started", "instance_completed", "instance_cancelled"),
            window.start,
            window.end,
            scope,
            AuditEvent.type,
            ProcessInstance.created_at,
            ProcessInstance.ended_at,
        )
        for type_, created_at, ended_at in rows:
            if type_ == "instance_started":
                started += 1
            elif type_ == "instance_cancelled":
                cancelled += 1
            else:
                completed += 1
                if ended_at is not None:
                    durations.append(ms(ended_at - created_at))
        by_status = dict(
            session.execute(
                select(ProcessInstance.status, func.count())
                .where(ProcessInstance.status.in_(NOT_ENDED), *scope.clauses())
                .group_by(ProcessInstance.status)
            ).all()
        )
        fresh = freshness(session, window, now)
    return {
        "window": window.view(),
        "freshness": fresh,
        "started": started,
        "completed": completed,
        "cancelled": cancelled,
        "active": by_status,
        "processingTime": summary(durations),
    }


def throughput(
    engine: Engine, window: Window, scope: Scope = Scope(), buckets: int = 30, now: datetime | None = None
) -> dict[str, Any]:
    """Orders started, completed and cancelled per equal slice of the window (oldest first)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInput(f"buckets must be from 1 to {MAX_BUCKETS}")
    now = now or utcnow()
    width = (window.end - window.start) / buckets
    counts = [{"started": 0, "completed": 0, "cancelled": 0} for _ in range(buckets)]
    names = {"instance_started": "started", "instance_completed": "completed", "instance_cancelled": "cancelled"}
    with engine.read_session() as session:
        rows = _events(session, tuple(names), window.start, window.end, scope, AuditEvent.type, AuditEvent.at)
        for type_, at in rows:
            index = min(int((at - window.start) / width), buckets - 1)
            counts[index][names[type_]] += 1
        fresh = freshness(session, window, now)
    return {
        "window": window.view(),
        "freshness": fresh,
        "bucketSeconds": width.total_seconds(),
        "buckets": [
            {"from": iso(window.start + width * n), "to": iso(window.start + width * (n + 1)), **count}
            for n, count in enumerate(counts)
        ],
    }


# -- jobs, incidents, decisions ----------------------------------------------------------------------------------


def job_metrics(engine: Engine, scope: Scope = Scope(), now: datetime | None = None) -> list[dict[str, Any]]:
    """Per job topic (timers as kind "timer" with no topic), now: the backlog of due jobs no worker has taken, the
    age of the oldest, jobs scheduled for later (retries, timers), jobs a worker holds, jobs waiting for review."""
    now = now or utcnow()
    due = (Job.status == JOB_READY) & (Job.due_at <= now)
    query = (
        select(
            Job.kind,
            Job.topic,
            func.sum(case((due, 1), else_=0)),
            func.min(case((due, Job.due_at))),
            func.sum(case(((Job.status == JOB_READY) & (Job.due_at > now), 1), else_=0)),
            func.sum(case((Job.status == JOB_LOCKED, 1), else_=0)),
            func.sum(case((Job.status == JOB_REVIEW, 1), else_=0)),
        )
        .where(Job.status.in_([*ACTIVE_JOB_STATUSES, JOB_REVIEW]))
        .group_by(Job.kind, Job.topic)
    )
    if scope.clauses():
        query = query.join(ProcessInstance, ProcessInstance.id == Job.instance_id).where(*scope.clauses())
    with engine.read_session() as session:
        rows = session.execute(query).all()
    topics = []
    for kind, topic, backlog, oldest, scheduled, locked, review in rows:
        topics.append(
            {
                "topic": topic,
                "kind": kind,
                "backlog": int(backlog or 0),
                "oldestDueAt": iso(oldest),
                "oldestAgeSeconds": round((now - oldest).total_seconds(), 3) if oldest is not None else None,
                "scheduled": int(scheduled or 0),
                "inProgress": int(locked or 0),
                "inReview": int(review or 0),
            }
        )
    return sorted(topics, key=lambda t: (-t["backlog"], t["kind"], t["topic"] or ""))


def incident_metrics(engine: Engine, window: Window, scope: Scope = Scope(), now: datetime | None = None) -> dict:
    """Open now (and the oldest), opened in the window, resolved in the window with the time to resolve them."""
    now = now or utcnow()
    with engine.read_session() as session:
        open_query = (
            select(func.count(), func.min(Incident.created_at))
            .select_from(Incident)
            .where(Incident.resolved_at.is_(None))
        )
        if scope.clauses():
            open_query = open_query.join(ProcessInstance, ProcessInstance.id == Incident.instance_id).where(
                *scope.clauses()
            )
        open_count, oldest = session.execute(open_query).one()
        opened = len(_events(session, ("incident_opened",), window.start, window.end, scope, AuditEvent.id).all())
        resolved = session.execute(
            select(Incident.resolution, Incident.created_at, Incident.resolved_at)
            .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
            .where(Incident.resolved_at >= window.start, Incident.resolved_at < window.end, *scope.clauses())
        ).all()
    times: dict[str, list[float]] = defaultdict(list)
    closed_by_cancel = 0
    for resolution, created_at, resolved_at in resolved:
        if resolution is None:
            closed_by_cancel += 1
        else:
            times[resolution].append(ms(resolved_at - created_at))
    every = [t for values in times.values() for t in values]
    return {
        "open": open_count,
        "oldestOpenAt": iso(oldest),
        "opened": opened,
        "resolved": len(every),
        "closedByCancel": closed_by_cancel,
        "resolutionTime": summary(every),
        "resolutionTimeBy": {name: summary(values) for name, values in sorted(times.items())},
    }


def decision_metrics(engine: Engine, window: Window, scope: Scope = Scope()) -> list[dict[str, Any]]:
    """Per decision table (key and version) evaluated by business rule tasks in the window: evaluations, those
    with at least one matching rule, the hit rate, and each rule's matches."""
    tables: dict[tuple[str, Any], dict[str, Any]] = {}
    with engine.read_session() as session:
        rows = _events(session, ("decision_evaluated",), window.start, window.end, scope, AuditEvent.data)
        for (data,) in rows:
            data = data or {}
            key = (str(data.get("decision")), data.get("version"))
            table = tables.setdefault(key, {"evaluations": 0, "hits": 0, "rules": defaultdict(int)})
            table["evaluations"] += 1
            matched = data.get("matchedRules") or []
            if matched:
                table["hits"] += 1
            for rule in matched:
                table["rules"][str(rule)] += 1
    views = []
    for (decision, version), table in sorted(tables.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        n = table["evaluations"]
        views.append(
            {
                "decision": decision,
                "version": version,
                "evaluations": n,
                "withMatch": table["hits"],
                "hitRate": round(table["hits"] / n, 4),
                "rules": [
                    {"ruleId": rule, "matches": count, "share": round(count / n, 4)}
                    for rule, count in sorted(table["rules"].items(), key=lambda item: (-item[1], item[0]))
                ],
            }
        )
    return views


# -- SLA and KPIs ------------------------------------------------------------------------------------------------


def sla_metrics(
    engine: Engine, window: Window, targets: SlaTargets, scope: Scope = Scope(), now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per process with an order target: orders whose SLA was decided in the window, met or missed."""
    now = now or utcnow()
    views = []
    with engine.read_session() as session:
        for key, process in sorted(targets.processes.items()):
            if process.target is None or (scope.process_key is not None and key != scope.process_key):
                continue
            process_scope = Scope(key, scope.version)
            met = late = 0
            rows = _events(
                session,
                ("instance_completed",),
                window.start,
                window.end,
                process_scope,
                ProcessInstance.created_at,
                ProcessInstance.ended_at,
            )
            for created_at, ended_at in rows:
                if ended_at is not None and ended_at - created_at <= process.target:
                    met += 1
                else:
                    late += 1
            # Still running when their target passed, within the window (and before now).
            deadline_from, deadline_to = window.start - process.target, min(window.end, now) - process.target
            overdue = session.scalar(
                select(func.count()).where(
                    ProcessInstance.status.in_(NOT_ENDED),
                    ProcessInstance.created_at >= deadline_from,
                    ProcessInstance.created_at < deadline_to,
                    *process_scope.clauses(),
                )
            )
            views.append(
                {
                    "processKey": key,
                    "targetMs": ms(process.target),
                    "minShare": process.min_share,
                    "met": met,
                    "completedLate": late,
                    "overdue": overdue,
                    "share": share(met, late + overdue),
                }
            )
    return views


def kpis(
    engine: Engine,
    window: Window,
    scope: Scope = Scope(),
    targets: SlaTargets | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The seed's three KPIs on one call: average order processing time, workflow rule hit rate, exception
    resolution time; with the SLA share and the counts behind each."""
    now = now or utcnow()
    orders = order_metrics(engine, window, scope, now)
    decisions = decision_metrics(engine, window, scope)
    incidents = incident_metrics(engine, window, scope, now)
    slas = sla_metrics(engine, window, targets or SlaTargets(), scope, now)
    evaluations = sum(d["evaluations"] for d in decisions)
    hits = sum(d["withMatch"] for d in decisions)
    met = sum(s["met"] for s in slas)
    missed = sum(s["completedLate"] + s["overdue"] for s in slas)
    return {
        "window": window.view(),
        "freshness": orders["freshness"],
        "averageOrderProcessingMs": orders["processingTime"]["avgMs"],
        "ordersCompleted": orders["completed"],
        "ruleHitRate": round(hits / evaluations, 4) if evaluations else None,
        "decisionEvaluations": evaluations,
        "exceptionResolutionMs": incidents["resolutionTime"]["avgMs"],
        "incidentsResolved": incidents["resolved"],
        "slaShare": share(met, missed),
    }


def overview(
    engine: Engine,
    window: Window,
    scope: Scope = Scope(),
    targets: SlaTargets | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything but the per-element view, for the dashboard's first screen."""
    now = now or utcnow()
    orders = order_metrics(engine, window, scope, now)
    return {
        "window": orders.pop("window"),
        "freshness": orders.pop("freshness"),
        "orders": orders,
        "incidents": incident_metrics(engine, window, scope, now),
        "jobs": job_metrics(engine, scope, now),
        "decisions": decision_metrics(engine, window, scope),
        "sla": sla_metrics(engine, window, targets or SlaTargets(), scope, now),
    }
