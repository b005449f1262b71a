"""Database tables of the engine. Plain SQLAlchemy: the web layer binds them through Flask-SQLAlchemy."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from processes.core import clock
from processes.errors import InternalError


def utcnow() -> datetime:
    """Naive UTC: SQLite has no time zones, so every timestamp is stored as UTC without one. It is the current
    clock's (`processes.core.clock`): the wall clock, or a scenario test's virtual one."""
    return clock.now()


def iso(value: datetime | None) -> str | None:
    """How the API writes a stored timestamp: ISO 8601 in UTC with milliseconds and a Z."""
    return value.isoformat(timespec="milliseconds") + "Z" if value is not None else None


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as `uuid4().hex` gives, from the same 16 random bytes but without
    building a UUID object: ids are made about 30 times an order (rows, audit events, lease tokens), at a quarter of
    the cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


class Base(DeclarativeBase):
    pass


# Instance statuses, in the user's words.
RUNNING = "running"  # the engine or a job is working on it
WAITING = "waiting"  # waiting for a person, a message or a timer
COMPLETED = "completed"
CANCELLED = "cancelled"
INCIDENT = "incident"  # stopped on a failure that needs an operator
SUSPENDED = "suspended"  # held by an operator: runs no job, fires no timer, takes no task or message
ENDED_STATUSES = (COMPLETED, CANCELLED)


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))


class Versioned:
    """Columns of everything deployed in versions (processes and decisions): same key and new content makes
    version n+1; the XML is kept as drawn."""

    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # "key:version"
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"))
    resource_name: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessDefinition(Versioned, Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    # The parsed spec (and the specs of the processes it calls), serialized once at deploy time.
    spec_json: Mapped[str] = mapped_column(Text)
    # Names of the messages that start an instance of this process (message start events).
    message_starts: Mapped[list[str] | None] = mapped_column(JSON)
    suspended_at: Mapped[datetime | None] = mapped_column()  # set while an operator holds new starts of it


class DecisionDefinition(Versioned, Base):
    __tablename__ = "decision_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)


class FormDefinition(Versioned, Base):
    """A Camunda Form (`.form`, form-js JSON) deployed for user tasks that link it by id (`formId`); `key` is the
    form's id and `xml` holds its JSON text as saved."""

    __tablename__ = "form_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (
        # At most one active instance per process and business key: the database enforces the dedupe,
        # so two concurrent starts cannot both win.
        Index(
            "uq_active_business_key",
            "process_key",
            "business_key",
            unique=True,
            sqlite_where=text("ended_at IS NULL AND business_key IS NOT NULL"),
            postgresql_where=text("ended_at IS NULL AND business_key IS NOT NULL"),
        ),
        Index("ix_instances_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    definition_id: Mapped[str] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    # Bumped by every engine step: a check for concurrent changes and the key of the in-memory state cache.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(Text)  # serialized workflow, without the spec
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active_elements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    suspended_at: Mapped[datetime | None] = mapped_column()  # set while an operator holds the order
    # The W3C traceparent of the step that started the order, when tracing was on: its later work joins that trace.
    trace_parent: Mapped[str | None] = mapped_column(String(55))


# Job kinds and statuses
SERVICE = "service"
TIMER = "timer"
SCHEDULE = "schedule"  # a timer start event's next tick: starts an instance (processes/features/schedules.py)
PUBLISH = "publish"  # a message or signal an instance threw, delivered to other instances after its step committed
JOB_READY = "ready"
JOB_LOCKED = "locked"
JOB_DONE = "done"
JOB_FAILED = "failed"  # retries exhausted: an incident holds the instance
JOB_CANCELLED = "cancelled"
JOB_REVIEW = "review"  # the answer did not match what was asked: a person decides (a review task)
JOB_HELD = "held"  # a feature holds the instance's jobs (a suspended order): nobody claims it until released
BATCH = "batch"  # a batch of operator actions on many orders (processes/operations/batches.py)
ACTIVE_JOB_STATUSES = (JOB_READY, JOB_LOCKED)


class Job(Base):
    """Durable unit of asynchronous work, written in the engine step's transaction (an outbox)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # None for a schedule (SCHEDULE), which belongs to a process definition, not to an instance.
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str | None] = mapped_column(String(255))
    element_id: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))  # the SpiffWorkflow task the job belongs to
    status: Mapped[str] = mapped_column(String(20), default=JOB_READY)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_cycle: Mapped[str | None] = mapped_column(String(255))
    locked_by: Mapped[str | None] = mapped_column(String(255))
    lease_token: Mapped[str | None] = mapped_column(String(32))  # new per claim: a stale worker's report fails
    lock_expires_at: Mapped[datetime | None] = mapped_column()
    # When the job was last handed to a broker; the outbox sweep re-sends jobs nobody took in time.
    dispatched_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the task's data when the job was made
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Declared so one flush inserts a new instance before its jobs.
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_resolved_created", "resolved_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(32))
    element_id: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))
    error_type: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    # How it was closed: "retried" (an operator brought the instance back), "resolved" (fixed elsewhere, with a
    # comment); none when the instance was cancelled. Time to resolution is resolved_at - created_at.
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")


class IncidentBatch(Base):
    """A bulk retry: what was asked and an honest result per incident."""

    __tablename__ = "incident_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None] = mapped_column()  # None while it runs (or if the server died meanwhile)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Batch(Base):
    """Operator actions on many orders (cancel, suspend, resume, migrate, retry incidents), run by the workers as a
    job: what was asked, the orders it targets, and a result per order as it goes."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    operation: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, completed
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)  # instance (or incident) ids, in order
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # results so far, in target order
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None] = mapped_column()


# Dead letter statuses
DEAD_LETTER_OPEN = "open"
DEAD_LETTER_REPLAYED = "replayed"
DEAD_LETTER_DISCARDED = "discarded"


class DeadLetter(Base):
    """A start request that could not be processed, kept as it came so that it can be replayed or discarded."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    process_key: Mapped[str] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), index=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_type: Mapped[str] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DEAD_LETTER_OPEN)
    attempts: Mapped[int] = mapped_column(Integer, default=1)  # the request and every failed replay
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()  # replayed or discarded
    closed_by: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[str | None] = mapped_column(String(32))  # the instance a replay started (or found)


class AuditEvent(Base):
    """Append-only: the engine inserts rows and never updates or deletes them."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(50))
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(255))
    element_type: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the token reached the element the event is about: time spent there is `at - entered_at`.
    entered_at: Mapped[datetime | None] = mapped_column()


class MessageSubscription(Base):
    """A waiting element's expectation of a message: derived by every engine step, used to route messages."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (Index("ix_subscriptions_route", "message_name", "correlation_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Human task statuses
TASK_OPEN = "open"
TASK_COMPLETED = "completed"
TASK_CANCELLED = "cancelled"
KIND_USER = "user"  # a user task drawn in the diagram
KIND_REVIEW = "review"  # a person reviews a connector's answer that did not match what was asked


class HumanTask(Base):
    """A ready user task as people see it in their inbox: projected by the engine step from the workflow."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_status_assignee", "status", "assignee"),
        Index("ix_human_tasks_status_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))  # the SpiffWorkflow task
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    documentation: Mapped[str | None] = mapped_column(Text)
    process_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default=TASK_OPEN)
    assignee: Mapped[str | None] = mapped_column(String(255))
    candidate_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidate_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    due_at: Mapped[datetime | None] = mapped_column()
    follow_up_at: Mapped[datetime | None] = mapped_column()
    form_key: Mapped[str | None] = mapped_column(String(255))
    form_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20), default=KIND_USER)
    job_id: Mapped[str | None] = mapped_column(String(32))  # the job a review task decides
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what a reviewer compares: asked / got
    form_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a Camunda Form (form-js), as drawn
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")


# -- people -------------------------------------------------------------------------------------------------
# Roles, in the user's words: who may do what is decided by these and by the candidate groups on a task.
ROLES = ("admin", "analyst", "approver", "operator", "integrator")


class User(Base):
    """A person who logs in to the pages, or a service account (no password) that calls the API with tokens."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: a service account, tokens only
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    service: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Group(Base):
    """A group of people tasks are offered to (`camunda:candidateGroups`); the id is the name the diagram uses."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(150), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class ApiToken(Base):
    """A bearer token for the REST API. Only a hash is kept: the token itself is shown once, when created."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of a 256-bit random token
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so people can tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class PageSession(Base):
    """A login to the pages. The session cookie carries only a random secret whose sha256 is the id: logging out
    ends the row, so a copied cookie stops working at once (a signed cookie alone would stay valid)."""

    __tablename__ = "page_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the secret in the cookie
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()  # logged out


# -- monitoring ---------------------------------------------------------------------------------------------
# No extra indexes on audit_events: each one cost the engine step more than the new column did (measured: four
# indexes added about 3% to an order's CPU time). Time windows are found by binary search on the primary key
# instead, as events are appended in time order (processes/reporting/audit.py).


class AuditTrailIsAppendOnly(InternalError):
    """Code tried to change or delete an audit event. Never a user's error: a bug, refused before it reaches the
    database (where a trigger refuses it too)."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_change(_mapper, _connection, target: AuditEvent) -> None:
    raise AuditTrailIsAppendOnly(f"audit event {target.id} cannot be changed or deleted: the trail is append-only")


class AlertState(Base):
    """One alert rule's state, shared by every process that checks alerts, so a breach is announced once."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # e.g. "sla:order_fulfillment", "incident_rate"
    firing: Mapped[bool] = mapped_column(default=False)
    value: Mapped[float | None] = mapped_column()  # what was measured at the last check
    threshold: Mapped[float | None] = mapped_column()
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)  # when it last started or stopped firing
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The state the webhook last accepted ("firing" or "resolved"); a different current state is still to be sent.
    notified: Mapped[str | None] = mapped_column(String(20))
    sending_until: Mapped[datetime | None] = mapped_column()  # one process is posting until then
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # posts of the current state that failed
    last_error: Mapped[str | None] = mapped_column(Text)
