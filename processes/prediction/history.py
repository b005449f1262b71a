"""What the predictions learn from, read from rows the engine already keeps: when orders arrived (process_instances),
how long orders took from each element on (audit_events' completions with `entered_at`), and how many jobs of each
topic an order makes and how long one takes (jobs). Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from processes.core.engine import Engine
from processes.core.models import COMPLETED, JOB_DONE, SERVICE, AuditEvent, Job, ProcessInstance

# Orders say where they came from in this variable (web, marketplace, edi, ... in the order story).
CHANNEL_VARIABLE = "channel"
NO_CHANNEL = "(none)"
HOUR = timedelta(hours=1)
COMPLETIONS = ("element_completed", "task_completed")


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _channel(value: object) -> str:
    return str(value) if value not in (None, "") else NO_CHANNEL


@dataclass(frozen=True)
class Arrivals:
    """Orders started per hour from `start`, all together and per channel."""

    start: datetime
    total: np.ndarray
    by_channel: dict[str, np.ndarray]


def process_keys(engine: Engine, since: datetime) -> list[str]:
    with engine.read_session() as session:
        return sorted(
            session.scalars(select(ProcessInstance.process_key).where(ProcessInstance.created_at >= since).distinct())
        )


def arrivals(engine: Engine, process_key: str, start: datetime, end: datetime) -> Arrivals:
    """Counts per whole hour in [start, end): both are rounded down to the hour, so the hour under way is left out
    (it is not over; counting it would read as a drop)."""
    start, end = hour_floor(start), hour_floor(end)
    hours = max(int((end - start) / HOUR), 0)
    total = np.zeros(hours)
    by_channel: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(hours))
    with engine.read_session() as session:
        rows = session.execute(
            select(ProcessInstance.created_at, ProcessInstance.variables[CHANNEL_VARIABLE].as_string()).where(
                ProcessInstance.process_key == process_key,
                ProcessInstance.created_at >= start,
                ProcessInstance.created_at < end,
            )
        )
        for created_at, channel in rows:
            slot = int((created_at - start) / HOUR)
            total[slot] += 1
            by_channel[_channel(channel)][slot] += 1
    return Arrivals(start, total, dict(by_channel))


@dataclass(frozen=True)
class Visit:
    """One element an order went through and how long the order took from there: the remaining time."""

    instance_id: str
    process_key: str
    element_id: str
    channel: str
    entered_at: datetime
    left_at: datetime
    order_created_at: datetime
    order_ended_at: datetime

    @property
    def remaining(self) -> timedelta:
        return self.order_ended_at - self.entered_at


def completed_visits(engine: Engine, start: datetime, end: datetime, limit: int = 200_000) -> list[Visit]:
    """Element visits of orders completed in [start, end), newest orders first, at most `limit` (a bound on the
    work of one refit)."""
    with engine.read_session() as session:
        rows = session.execute(
            select(
                AuditEvent.instance_id,
                ProcessInstance.process_key,
                AuditEvent.element_id,
                ProcessInstance.variables[CHANNEL_VARIABLE].as_string(),
                AuditEvent.entered_at,
                AuditEvent.at,
                ProcessInstance.created_at,
                ProcessInstance.ended_at,
            )
            .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
            .where(
                ProcessInstance.status == COMPLETED,
                ProcessInstance.ended_at >= start,
                ProcessInstance.ended_at < end,
                AuditEvent.type.in_(COMPLETIONS),
                AuditEvent.entered_at.is_not(None),
            )
            .order_by(ProcessInstance.ended_at.desc())
            .limit(limit)
        )
        return [
            Visit(instance, key, element, _channel(channel), entered, left, created, ended)
            for instance, key, element, channel, entered, left, created, ended in rows
            if element is not None
        ]


@dataclass(frozen=True)
class TopicJobs:
    """Jobs of one topic that one process's orders made in a window, and how long they took from due to done."""

    topic: str
    process_key: str
    jobs: int
    seconds: list[float]


def done_jobs(engine: Engine, start: datetime, end: datetime, limit: int = 100_000) -> list[TopicJobs]:
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    with engine.read_session() as session:
        rows = session.execute(
            select(Job.topic, ProcessInstance.process_key, Job.due_at, Job.updated_at)
            .join(ProcessInstance, ProcessInstance.id == Job.instance_id)
            .where(
                Job.kind == SERVICE,
                Job.status == JOB_DONE,
                Job.updated_at >= start,
                Job.updated_at < end,
                Job.topic.is_not(None),
            )
            .order_by(Job.updated_at.desc())
            .limit(limit)
        )
        for topic, key, due_at, done_at in rows:
            found[(topic, key)].append(max((done_at - due_at).total_seconds(), 0.0))
    return [TopicJobs(topic, key, len(seconds), seconds) for (topic, key), seconds in sorted(found.items())]


def orders_started(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    with engine.read_session() as session:
        rows = session.execute(
            select(ProcessInstance.process_key, func.count())
            .where(ProcessInstance.created_at >= start, ProcessInstance.created_at < end)
            .group_by(ProcessInstance.process_key)
        )
        return {key: count for key, count in rows}
