"""Request and response bodies of the incident and dead-letter endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .schemas import MAX_PAGE, MAX_VERSION, Instance, Strict


class IncidentFilter(Strict):
    processKey: str | None = None
    elementId: str | None = None
    errorType: str | None = Field(
        default=None, description="job_failed, engine_error, bpmn_error, unbound_service_task, timer_error"
    )
    businessKey: str | None = None
    instanceId: str | None = None


class IncidentQuery(IncidentFilter):
    status: Literal["open", "resolved"] = "open"
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    perPage: int = Field(default=50, ge=1, le=500)
    sort: Literal["-impact", "-slaRisk"] = Field(
        default="-impact",
        description="-impact: highest impact first; -slaRisk: the incidents of orders likeliest to miss their SLA "
        "first (each with slaRisk), then by impact",
    )


class Impact(BaseModel):
    score: float = Field(description="value weight * value + tier weight * tier rank + age weight * ageHours")
    value: float = Field(description="Order value: the variable `total`, else sum of items[].quantity * unitPrice")
    tier: str | None = Field(description="customer.tier; gold ranks 2, silver 1, anything else 0")
    ageHours: float = Field(description="Hours open (until now, or until resolved)")


class ImpactWeights(BaseModel):
    value: float
    tier: float
    ageHours: float


class IncidentOut(BaseModel):
    id: str
    instanceId: str
    instanceStatus: str
    businessKey: str | None
    processKey: str
    elementId: str | None
    jobId: str | None
    errorType: str
    message: str
    createdAt: str
    resolvedAt: str | None
    resolvedBy: str | None
    resolution: str | None = Field(
        description="retried, resolved (with a comment), or none when the instance was cancelled"
    )
    comment: str | None
    resolutionSeconds: float | None = Field(description="Time from open to resolved")
    impact: Impact
    slaRisk: float | None = Field(
        default=None, description="With sort=-slaRisk: the order's probability (0..1) of missing its SLA"
    )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    page: int
    perPage: int
    weights: ImpactWeights


class RetryOut(BaseModel):
    id: str
    instanceId: str
    result: Literal["retried", "failed"] = Field(description="failed: the retry ran and failed again at once")
    detail: str
    newIncidentId: str | None = Field(description="The incident the failed retry opened")
    instanceStatus: str
    incident: IncidentOut


class ResolveIn(Strict):
    comment: str = Field(min_length=1, max_length=10_000, description="How the cause was fixed")


class BulkRetryIn(Strict):
    ids: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    filter: IncidentFilter | None = Field(
        default=None, description="Open incidents matching this, highest impact first, at most 1000"
    )

    @model_validator(mode="after")
    def _one_of(self) -> BulkRetryIn:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either ids or filter")
        return self


class BatchItem(BaseModel):
    id: str
    result: Literal["retried", "failed", "not found", "already resolved"]
    detail: str | None
    instanceId: str | None = None
    instanceStatus: str | None = None
    newIncidentId: str | None = None


class BatchOut(BaseModel):
    id: str
    createdAt: str
    createdBy: str | None
    finishedAt: str | None
    request: dict[str, Any]
    total: int
    succeeded: int = Field(description="Items retried")
    failed: int = Field(description="Items not retried (failed, not found, already resolved): total - succeeded")
    counts: dict[str, int] = Field(description="Items per result")
    items: list[BatchItem]


class DeadLetterQuery(Strict):
    status: Literal["open", "replayed", "discarded"] = "open"
    processKey: str | None = None
    businessKey: str | None = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    perPage: int = Field(default=50, ge=1, le=500)


class DeadLetterBody(BaseModel):
    excerpt: str = Field(description="The first 4096 characters of the variables as JSON")
    bytes: int
    sha256: str


class DeadLetterOut(BaseModel):
    id: str
    processKey: str
    version: int | None
    businessKey: str | None
    idempotencyKey: str | None
    variables: dict[str, Any] = Field(description="As received; empty when they were too large to keep (see body)")
    body: DeadLetterBody | None = Field(
        default=None, description="Variables too large for any start: only an excerpt, their size and sha256 are kept"
    )
    errorType: str
    error: str
    status: str
    attempts: int = Field(description="The request, its repeats with the same Idempotency-Key, and failed replays")
    createdAt: str
    createdBy: str | None
    updatedAt: str
    closedAt: str | None
    closedBy: str | None
    comment: str | None
    instanceId: str | None = Field(description="The instance a replay started (or found already started)")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int
    page: int
    perPage: int


class ReplayIn(Strict):
    variables: dict[str, Any] | None = Field(default=None, description="Corrected variables (default: as received)")
    processKey: str | None = Field(default=None, max_length=255, description="Corrected process key")
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="Version to start (null: the latest)")
    businessKey: str | None = Field(default=None, max_length=255)


class ReplayOut(BaseModel):
    deadLetter: DeadLetterOut
    created: bool = Field(description="False when the instance had already been started (same Idempotency-Key)")
    instance: Instance


class DiscardIn(Strict):
    comment: str | None = Field(default=None, max_length=10_000)
