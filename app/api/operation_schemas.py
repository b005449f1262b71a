"""Bodies of the operator's REST API: variables, suspend/resume, modification, migration, batches."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .schemas import Strict

Comment = Field(default=None, max_length=10_000, description="Why: kept in the audit trail")


class VariablesIn(Strict):
    set: dict[str, Any] = Field(default_factory=dict, description="Variables to set (a JSON object)")
    delete: list[str] = Field(default_factory=list, description="Names of variables to delete")
    comment: str | None = Comment


class CommentIn(Strict):
    comment: str | None = Comment


class ModifyIn(Strict):
    instructions: list[dict[str, Any]] = Field(
        description='In order: {"cancel": "<elementId>"} withdraws the token there, {"startBefore": "<elementId>"} '
        "puts one before the element"
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="Variables to set with the move")
    comment: str | None = Comment


class InstanceFilter(Strict):
    instanceIds: list[str] | None = None
    businessKeys: list[str] | None = None
    activeElement: str | None = None
    processKey: str | None = None
    version: int | None = None
    status: str | None = None


class MigrationIn(Strict):
    processKey: str = Field(min_length=1)
    sourceVersion: int = Field(ge=1)
    targetVersion: int = Field(ge=1)
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Old element id -> new element id; elements with the same id map themselves"
    )
    filter: InstanceFilter = Field(default_factory=InstanceFilter)
    dryRun: bool = False
    comment: str | None = Comment


class BatchIn(Strict):
    operation: Literal["cancel", "suspend", "resume"]
    filter: InstanceFilter = Field(description="Which open orders: ids, business keys, active element, process, ...")
    comment: str | None = Comment


class IncidentFilterIn(Strict):
    processKey: str | None = None
    elementId: str | None = None
    errorType: str | None = None
    businessKey: str | None = None
    instanceId: str | None = None


class RetryBatchIn(Strict):
    ids: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    filter: IncidentFilterIn | None = None
    variables: dict[str, Any] | None = Field(
        default=None, description="Set on each incident's order before it is retried (a fix)"
    )
    comment: str | None = Comment


class BatchStarted(BaseModel):
    batchId: str


class BatchItem(BaseModel):
    instanceId: str | None
    incidentId: str | None = None
    result: Literal["done", "failed", "skipped"]
    detail: str | None


class BatchOut(BaseModel):
    id: str
    operation: str
    status: Literal["running", "completed"]
    request: dict[str, Any]
    total: int
    counts: dict[str, int]
    items: list[BatchItem]
    createdAt: str
    createdBy: str | None
    finishedAt: str | None


class DefinitionSuspension(BaseModel):
    id: str
    key: str
    version: int
    suspended: bool
    suspendedAt: str | None
