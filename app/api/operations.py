"""Operating running orders (role operator; admins too): fix variables, suspend and resume, move tokens, migrate to
another version, batches. Every action is audited with who, when, why (the comment) and before/after."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes.errors import InvalidInput
from processes.jobs import incidents
from processes.operations import batches, migration, modification, suspension, variables

from ..auth import actor
from ..extensions import auth
from ..services import services
from .incidents import weights
from .operation_schemas import (
    BatchIn,
    BatchOut,
    BatchStarted,
    CommentIn,
    DefinitionSuspension,
    MigrationIn,
    ModifyIn,
    RetryBatchIn,
    VariablesIn,
)
from .schemas import Instance

bp = APIBlueprint("operations", __name__, url_prefix="/api/v1", tag="Operations")
OPERATORS = ["operator"]


@bp.patch("/process-instances/<instance_id>/variables")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(VariablesIn, arg_name="body")
@bp.output(Instance)
@bp.doc(
    summary="Fix an order's variables (set and delete), in one engine step",
    description="Allowed while the order waits, is suspended or has an incident; 409 when it has ended or a job is "
    "at work for it. The audit trail keeps the old and the new values with the comment.",
)
def patch_variables(instance_id: str, body: VariablesIn):
    return variables.patch_variables(
        services().engine, instance_id, set_=body.set, delete=body.delete, comment=body.comment, actor=actor()
    )


@bp.post("/process-instances/<instance_id>/suspend")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(CommentIn, arg_name="body")
@bp.output(Instance)
@bp.doc(
    summary="Suspend an order",
    description="It runs no job and fires no timer (a due timer fires on resume), and takes no task completion "
    "or message (409) until resumed. 409 when it has ended or is suspended already.",
)
def suspend(instance_id: str, body: CommentIn):
    return suspension.suspend_instance(services().engine, instance_id, comment=body.comment, actor=actor())


@bp.post("/process-instances/<instance_id>/resume")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(CommentIn, arg_name="body")
@bp.output(Instance)
@bp.doc(summary="Resume a suspended order: its held jobs and due timers run")
def resume(instance_id: str, body: CommentIn):
    return suspension.resume_instance(services().engine, instance_id, comment=body.comment, actor=actor())


@bp.post("/process-definitions/<key>/versions/<int:version>/suspend")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(CommentIn, arg_name="body")
@bp.output(DefinitionSuspension)
@bp.doc(summary="Stop new starts of a definition version (409 for a start); its running orders go on")
def suspend_definition(key: str, version: int, body: CommentIn):
    return suspension.set_definition_suspended(
        services().engine, key, version, suspended=True, comment=body.comment, actor=actor()
    )


@bp.post("/process-definitions/<key>/versions/<int:version>/resume")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(CommentIn, arg_name="body")
@bp.output(DefinitionSuspension)
@bp.doc(summary="Allow new starts of a suspended definition version again")
def resume_definition(key: str, version: int, body: CommentIn):
    return suspension.set_definition_suspended(
        services().engine, key, version, suspended=False, comment=body.comment, actor=actor()
    )


@bp.post("/process-instances/<instance_id>/modify")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(ModifyIn, arg_name="body")
@bp.output(Instance)
@bp.doc(
    summary="Move an order's tokens: cancel at elements, start before others, in one engine step",
    description="Jobs and inbox tasks of cancelled elements are withdrawn, those of started ones made. 422 names "
    "every element that cannot be cancelled or started (it does not exist, its scope is not active, no token is "
    "there); nothing changes then.",
)
def modify(instance_id: str, body: ModifyIn):
    return modification.modify_instance(
        services().engine, instance_id, instructions=body.instructions, variables=body.variables,
        comment=body.comment, actor=actor(),
    )  # fmt: skip


@bp.post("/migrations")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(MigrationIn, arg_name="body")
@bp.doc(
    summary="Migrate running orders to another version of their process",
    description="A dry run (`dryRun: true`) answers 200 with each selected order and whether it can move (and "
    "why not), changing nothing. A real run answers 202 with the batch that moves each order in its own engine "
    "step; an order that cannot move stays as it was and its item says why.",
    responses={200: "The dry run: `instances` with `migratable` and `reason`", 202: "`batchId` of the migration"},
)
def migrate(body: MigrationIn):
    engine = services().engine
    request = body.model_dump(exclude={"dryRun", "comment"})
    request["filter"] = body.filter.model_dump(exclude_none=True)
    if body.dryRun:
        return migration.dry_run(engine, request), 200
    checked = migration.check_request(engine, request)
    targets = migration.matching_instances(engine, checked)
    batch_id = batches.create_batch(
        engine, "migrate", {**request, "comment": body.comment, "checked": checked}, targets, actor=actor()
    )
    return {"batchId": batch_id}, 202, {"Location": f"/api/v1/batches/{batch_id}"}


@bp.post("/process-instances/batch")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(BatchIn, arg_name="body")
@bp.output(BatchStarted, status_code=202)
@bp.doc(summary="Cancel, suspend or resume every open order a filter selects, as a batch run by the workers")
def batch(body: BatchIn):
    batch_id = batches.batch_instances(
        services().engine, body.operation, body.filter.model_dump(exclude_none=True), comment=body.comment,
        actor=actor(),
    )  # fmt: skip
    return {"batchId": batch_id}, 202, {"Location": f"/api/v1/batches/{batch_id}"}


@bp.post("/incidents/retry-batch")
@bp.auth_required(auth, roles=OPERATORS)
@bp.input(RetryBatchIn, arg_name="body")
@bp.output(BatchStarted, status_code=202)
@bp.doc(
    summary="Retry incidents (ids, or all open ones a filter matches) as a batch run by the workers",
    description="With `variables`, each incident's order gets them first (a fix), then the incident is retried.",
)
def retry_batch(body: RetryBatchIn):
    engine = services().engine
    if (body.ids is None) == (body.filter is None):
        raise InvalidInput("give either ids or filter")
    if body.ids is not None:
        targets = list(dict.fromkeys(body.ids))
    else:
        filters = body.filter.model_dump(exclude_none=True)
        matched = incidents.list_incidents(
            engine, weights=weights(), process_key=filters.get("processKey"), element_id=filters.get("elementId"),
            error_type=filters.get("errorType"), business_key=filters.get("businessKey"),
            instance_id=filters.get("instanceId"), per_page=incidents.MAX_BULK,
        )  # fmt: skip
        targets = [item["id"] for item in matched["items"]]
    request = body.model_dump(exclude_none=True)
    batch_id = batches.create_batch(engine, "retry", request, targets, actor=actor())
    return {"batchId": batch_id}, 202, {"Location": f"/api/v1/batches/{batch_id}"}


@bp.get("/batches/<batch_id>")
@bp.auth_required(auth, roles=["operator", "analyst"])
@bp.output(BatchOut)
@bp.doc(summary="A batch: running or completed, with a result per order (done, failed or skipped) and why")
def get_batch(batch_id: str):
    return batches.get_batch(services().engine, batch_id)
