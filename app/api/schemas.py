"""Request and response bodies of the REST API (pydantic: validation and the OpenAPI spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Whole numbers a caller sends stay within what the database stores (PostgreSQL's INTEGER is 32 bits; SQLite
# overflows past 64): beyond these the answer is 422 naming the parameter, never a database error.
MAX_VERSION = 2**31 - 1
MAX_PAGE = 1_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # unknown keys are a mistake the caller should hear about


class StartInstanceIn(Strict):
    businessKey: str | None = Field(default=None, max_length=255, description="Your order number")
    variables: dict[str, Any] = Field(default_factory=dict, description="Process variables (a JSON object)")


class InstanceQuery(Strict):
    status: Literal["running", "waiting", "completed", "cancelled", "incident", "suspended"] | None = None
    processKey: str | None = None
    businessKey: str | None = None
    businessKeyPrefix: str | None = Field(default=None, description="Orders whose business key starts with this")
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    perPage: int = Field(default=50, ge=1, le=500)
    sort: Literal["-createdAt", "-slaRisk"] = Field(
        default="-createdAt",
        description="-createdAt: newest first; -slaRisk: orders not ended only, likeliest to miss their SLA first "
        "(each item then carries slaRisk and predictedCompletionAt)",
    )


class VersionQuery(Strict):
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)


class Incident(BaseModel):
    id: str
    elementId: str | None
    errorType: str
    message: str
    createdAt: str
    resolvedAt: str | None


class JobView(BaseModel):
    id: str
    kind: str
    topic: str | None
    elementId: str | None
    status: str
    attempt: int
    maxAttempts: int
    dueAt: str | None
    lastError: str | None


class ActiveElement(BaseModel):
    elementId: str
    name: str | None
    type: str
    state: str
    taskId: str | None = None
    message: str | None = Field(default=None, description="The message this element waits for")
    correlationKey: str | None = None
    messages: list[dict[str, str | None]] | None = Field(
        default=None, description="An event-based gateway: the messages it waits for, whichever comes first"
    )
    since: str | None = Field(default=None, description="When the order reached this element (ISO 8601, UTC)")


class Instance(BaseModel):
    id: str
    processKey: str
    definitionId: str
    definitionVersion: int
    businessKey: str | None
    status: str
    revision: int
    createdAt: str
    updatedAt: str
    endedAt: str | None
    traceId: str | None = None  # the trace the order was started under, when tracing was on
    variables: dict[str, Any] | None = None
    activeElements: list[ActiveElement] | None = None
    incidents: list[Incident] | None = None
    jobs: list[JobView] | None = None
    slaRisk: float | None = Field(
        default=None, description="Orders not ended: probability (0..1) of missing the SLA target (null: no target)"
    )
    predictedCompletionAt: str | None = Field(default=None, description="Orders not ended: when it likely completes")
    slaDeadlineAt: str | None = Field(default=None, description="Created plus the process's SLA target")


class InstancePage(BaseModel):
    items: list[Instance]
    total: int
    page: int
    perPage: int


class AuditEvent(BaseModel):
    id: str
    at: str
    type: str
    elementId: str | None
    elementName: str | None
    elementType: str | None
    actor: str | None
    data: dict[str, Any] | None


class EventList(BaseModel):
    items: list[AuditEvent]


class Definition(BaseModel):
    id: str
    key: str
    version: int
    name: str | None
    resource: str
    deploymentId: str
    createdAt: str


class DefinitionList(BaseModel):
    items: list[Definition]


class DeployedDefinition(BaseModel):
    id: str
    key: str
    version: int
    name: str | None
    resource: str | None = None
    isNew: bool
    calls: list[str] | None = None


class LintProblem(BaseModel):
    message: str
    elementId: str | None
    elementType: str | None
    file: str | None
    line: int | None
    severity: str


class DeployedForm(BaseModel):
    id: str
    key: str = Field(description="The form's id, which user tasks name in zeebe:formDefinition formId")
    version: int
    isNew: bool


class DeploymentOut(BaseModel):
    id: str
    definitions: list[DeployedDefinition]
    decisions: list[DeployedDefinition]
    forms: list[DeployedForm] = Field(default_factory=list)
    warnings: list[LintProblem]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]] | None = Field(default=None, description="Only for callers with a token")


class ActivateJobsIn(Strict):
    topic: str = Field(min_length=1, max_length=255, description="The service task's topic / job type")
    workerId: str = Field(min_length=1, max_length=200)
    maxJobs: int = Field(default=1, ge=1, le=100)
    lockDuration: int = Field(default=30_000, ge=1_000, le=86_400_000, description="Lock in milliseconds")


class ActivatedJob(BaseModel):
    id: str
    topic: str | None
    instanceId: str
    businessKey: str | None
    elementId: str | None
    variables: dict[str, Any]
    retries: int
    lockExpiresAt: str
    customHeaders: dict[str, str] = Field(default_factory=dict, description="zeebe:taskHeaders of the task")


class ActivatedJobs(BaseModel):
    jobs: list[ActivatedJob]


class CompleteJobIn(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    variables: dict[str, Any] = Field(default_factory=dict)


class FailJobIn(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    errorMessage: str = Field(default="", max_length=10_000)
    retries: int | None = Field(default=None, ge=0, le=100, description="Attempts left; 0 opens an incident")
    retryBackoff: int | None = Field(default=None, ge=0, le=86_400_000, description="Milliseconds before the retry")


class BpmnErrorIn(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    errorCode: str = Field(min_length=1, max_length=255)
    errorMessage: str = Field(default="", max_length=10_000)
    variables: dict[str, Any] = Field(default_factory=dict)


class JobOutcome(BaseModel):
    jobId: str
    instanceId: str
    result: str


class MessageIn(Strict):
    name: str = Field(min_length=1, max_length=255, description="The message name (bpmn:message name)")
    businessKey: str | None = Field(default=None, max_length=255)
    correlationKey: str | None = Field(default=None, max_length=255, description="Camunda 8 zeebe:subscription key")
    variables: dict[str, Any] = Field(default_factory=dict)


class MessageOut(BaseModel):
    result: Literal["correlated", "started"]
    instanceId: str


class SignalIn(Strict):
    name: str = Field(min_length=1, max_length=255, description="The signal name (bpmn:signal name)")
    variables: dict[str, Any] = Field(default_factory=dict, description="Set on every instance the signal reaches")


class SignalOut(BaseModel):
    signal: str
    reached: list[str] = Field(description="Ids of the waiting instances the signal reached")
    started: list[str] = Field(description="Ids of the instances started at a signal start event")


class EvaluateDecisionIn(Strict):
    variables: dict[str, Any] = Field(default_factory=dict)


class DecisionOut(BaseModel):
    decision: str
    version: int
    result: Any = Field(description="One output: its value; several: an object; list hit policies: a list; none: null")
    matchedRules: list[str]
    trace: list[dict[str, Any]] = Field(default_factory=list, description="Required decisions evaluated first")


class TaskQuery(Strict):
    status: Literal["open", "completed", "cancelled"] | None = "open"
    assignee: str | None = None
    candidateUser: str | None = None
    candidateGroup: str | None = None
    processKey: str | None = None
    businessKey: str | None = None
    overdue: bool = False
    dueBefore: datetime | None = Field(default=None, description="Tasks due before this moment (ISO 8601)")

    @field_validator("dueBefore")
    @classmethod
    def _on_the_calendar(cls, value: datetime | None) -> datetime | None:
        from .monitoring_schemas import naive_utc

        return naive_utc(value)

    unassigned: bool = Field(default=False, description="Only tasks nobody has claimed")
    sort: Literal["urgency", "due", "priority", "created", "slaRisk"] = Field(
        default="urgency", description="slaRisk: the tasks of the orders likeliest to miss their SLA first"
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    perPage: int = Field(default=50, ge=1, le=500)


class FormField(BaseModel):
    id: str
    type: str
    label: str | None
    defaultValue: Any = None
    required: bool
    validation: dict[str, Any]
    options: list[dict[str, Any]]


class Task(BaseModel):
    id: str
    instanceId: str
    elementId: str
    name: str | None
    documentation: str | None
    processKey: str
    businessKey: str | None
    status: str
    assignee: str | None
    candidateUsers: list[str]
    candidateGroups: list[str]
    priority: int
    dueAt: str | None
    followUpAt: str | None
    overdue: bool
    kind: str = Field(description="user: a user task of the diagram; review: a person checks a system's answer")
    details: dict[str, Any] | None = Field(default=None, description="For reviews: the code, asked and got")
    formKey: str | None
    formSchema: dict[str, Any] | None = Field(default=None, description="A Camunda Form (form-js JSON), when drawn")
    formFields: list[FormField]
    createdAt: str
    claimedAt: str | None
    completedAt: str | None
    completedBy: str | None
    slaRisk: float | None = Field(
        default=None, description="In lists: the order's probability (0..1) of missing its SLA (null: no target)"
    )


class TaskPage(BaseModel):
    items: list[Task]
    total: int
    page: int
    perPage: int


class TaskUserIn(Strict):
    userId: str | None = Field(default=None, max_length=255, description="Who acts (default: the token's user)")


class DelegateIn(Strict):
    userId: str = Field(min_length=1, max_length=255, description="Who the task goes to")


class CompleteTaskIn(Strict):
    userId: str | None = Field(default=None, max_length=255, description="Who completes (default: the token's user)")
    variables: dict[str, Any] = Field(default_factory=dict, description="Form data")
