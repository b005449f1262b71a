"""Request and response bodies of the monitoring endpoints: metrics, KPIs and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .schemas import MAX_VERSION, Strict

# Moments a caller may ask about: windows are computed around them, which must not leave the calendar.
EARLIEST, LATEST = datetime(1970, 1, 1), datetime(9000, 1, 1)


def naive_utc(value: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC; a time without a zone is taken as UTC. Years outside 1970 to 9000 are
    refused (422) rather than overflowing the arithmetic on them."""
    if value is None:
        return value
    if value.tzinfo is not None:
        if not EARLIEST.year < value.year < LATEST.year:  # the zone could move it off the calendar
            raise ValueError(f"{value.isoformat()} is not between {EARLIEST.year} and {LATEST.year}")
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value.isoformat()} is not between {EARLIEST.year} and {LATEST.year}")
    return value


class TimeRange(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: datetime | None = Field(default=None, alias="from", description="ISO 8601; without a zone: UTC")
    to: datetime | None = Field(default=None, description="ISO 8601; default: now")

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return naive_utc(value)


class MetricsQuery(TimeRange):
    window: Literal["5m", "1h", "24h", "7d"] | None = Field(
        default=None, description="Ending now; default 1h. Or give from (and to) instead."
    )
    processKey: str | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="A version of processKey")


class ThroughputQuery(MetricsQuery):
    buckets: int = Field(default=30, ge=1, le=500)


class AuditFilterQuery(TimeRange):
    businessKey: str | None = None
    actor: str | None = Field(default=None, description="Who acted: a user, worker, timer or the API caller")
    elementId: str | None = None
    type: str | None = Field(default=None, description="Event type, e.g. element_completed, task_claimed")
    instanceId: str | None = None
    processKey: str | None = None


class AuditSearchQuery(AuditFilterQuery):
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, description="nextCursor of the previous page")


class AuditExportQuery(AuditFilterQuery):
    format: Literal["csv", "json"] = "csv"


# -- responses -------------------------------------------------------------------------------------------------


class WindowOut(BaseModel):
    name: str | None
    from_: str = Field(alias="from")
    to: str
    seconds: float

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Freshness(BaseModel):
    newestEventAt: str | None = Field(description="The newest audit event before the window's end")
    computedAt: str
    ageSeconds: float | None


class Durations(BaseModel):
    count: int
    avgMs: float | None
    p50Ms: float | None = Field(description="Nearest-rank median")
    p95Ms: float | None
    maxMs: float | None


class ElementSla(BaseModel):
    targetMs: float
    met: int
    missed: int
    share: float | None


class ElementMetrics(BaseModel):
    elementId: str
    name: str | None
    type: str | None
    entered: int
    completed: int
    active: int = Field(description="Waiting at the element now")
    oldestActiveSince: str | None
    timeSpent: Durations
    waitingMs: float | None = Field(description="Mean per completed visit: unclaimed, retry backoff, on incidents")
    workingMs: float | None
    sla: ElementSla | None


class ProcessElements(BaseModel):
    processKey: str
    version: int
    elements: list[ElementMetrics]


class ElementsOut(BaseModel):
    window: WindowOut
    freshness: Freshness
    processes: list[ProcessElements]


class OrdersOut(BaseModel):
    started: int
    completed: int
    cancelled: int
    active: dict[str, int] = Field(description="Orders not ended, by status")
    processingTime: Durations


class Bucket(BaseModel):
    from_: str = Field(alias="from")
    to: str
    started: int
    completed: int
    cancelled: int

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ThroughputOut(BaseModel):
    window: WindowOut
    freshness: Freshness
    bucketSeconds: float
    buckets: list[Bucket]


class JobTopic(BaseModel):
    topic: str | None
    kind: str
    backlog: int = Field(description="Due and not taken by a worker")
    oldestDueAt: str | None
    oldestAgeSeconds: float | None
    scheduled: int = Field(description="Due later: retries after backoff, timers")
    inProgress: int
    inReview: int


class IncidentsOut(BaseModel):
    open: int
    oldestOpenAt: str | None
    opened: int
    resolved: int
    closedByCancel: int
    resolutionTime: Durations
    resolutionTimeBy: dict[str, Durations]


class RuleHits(BaseModel):
    ruleId: str
    matches: int
    share: float


class DecisionOut(BaseModel):
    decision: str
    version: int | None
    evaluations: int
    withMatch: int
    hitRate: float
    rules: list[RuleHits]


class SlaOut(BaseModel):
    processKey: str
    targetMs: float
    minShare: float
    met: int
    completedLate: int
    overdue: int = Field(description="Still running when their target passed in the window")
    share: float | None


class OverviewOut(BaseModel):
    window: WindowOut
    freshness: Freshness
    orders: OrdersOut
    incidents: IncidentsOut
    jobs: list[JobTopic]
    decisions: list[DecisionOut]
    sla: list[SlaOut]


class JobsOut(BaseModel):
    items: list[JobTopic]


class KpisOut(BaseModel):
    window: WindowOut
    freshness: Freshness
    averageOrderProcessingMs: float | None
    ordersCompleted: int
    ruleHitRate: float | None = Field(description="Share of decision evaluations with at least one matching rule")
    decisionEvaluations: int
    exceptionResolutionMs: float | None = Field(description="Mean time from incident to retry or resolution")
    incidentsResolved: int
    slaShare: float | None


class AuditEventOut(BaseModel):
    id: str
    at: str
    type: str
    processKey: str | None
    definitionVersion: int | None
    instanceId: str
    businessKey: str | None
    elementId: str | None
    elementName: str | None
    elementType: str | None
    actor: str | None
    enteredAt: str | None = Field(description="When the token reached the element the event is about")
    data: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    nextCursor: str | None = Field(description="Pass as cursor for the next (older) page; null on the last page")
