"""Process instances: start, read, audit trail, cancel."""

from __future__ import annotations

from datetime import datetime

from apiflask import APIBlueprint
from flask import request
from sqlalchemy import select

from inbox.tasks import works_on_instance
from processes.core.models import INCIDENT, RUNNING, WAITING, ProcessInstance
from processes.errors import InvalidInput
from processes.instances import (
    IdempotencyKeyReused,
    cancel_instance,
    get_instance,
    instance_events,
    instance_view,
    list_instances,
    start_instance,
)
from processes.jobs import dead_letters
from processes.prediction import CHANNEL_VARIABLE, Risk

from ..auth import EVERYONE, actor, caller
from ..extensions import auth
from ..problems import INFRASTRUCTURE_ERRORS
from ..services import services
from .incidents import start_failed
from .prediction import risk_fields
from .schemas import EventList, Instance, InstancePage, InstanceQuery, StartInstanceIn, VersionQuery

bp = APIBlueprint("instances", __name__, url_prefix="/api/v1", tag="Process instances")

# Who reads an order's data (its variables, and the data of its audit events: addresses, amounts, payment ids).
# The roles that run, design or repair orders read every order; an approver reads the orders of the tasks they
# may work (the inbox's rule: theirs, offered to them or their groups), as the task page shows them. Everyone
# with a token still sees every order's status, elements, incidents and jobs.
ORDER_DATA_ROLES = ("integrator", "operator", "analyst")
NOT_ENDED = (RUNNING, WAITING, INCIDENT)  # the orders that have an SLA risk


def _may_read_data(instance_id: str) -> bool:
    me = caller()
    return me.has_role(*ORDER_DATA_ROLES) or works_on_instance(services().engine, me, instance_id)


@bp.post("/process-definitions/<key>/instances")
@bp.auth_required(auth, roles=["integrator", "operator", "analyst"])
@bp.input(VersionQuery, location="query", arg_name="query_data")
@bp.input(StartInstanceIn, arg_name="body")
@bp.output(Instance, status_code=201)
@bp.doc(
    summary="Start an order process",
    description="Send an `Idempotency-Key` header to retry safely: a repeated key returns the instance it "
    "started (200), as does a start with the business key of an instance that is still active; the same key with "
    "a different request is 422. A start that fails (unknown process, invalid variables) is kept as a dead letter: "
    "the problem body has `deadLetterId`; a later success with the same Idempotency-Key closes it. When the "
    "database is unavailable the answer is 503 with Retry-After: send the same request again.",
)
def start(key: str, query_data: VersionQuery, body: StartInstanceIn):
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 255):
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters")
    try:
        result = start_instance(
            services().engine,
            key,
            variables=body.variables,
            business_key=body.businessKey,
            version=query_data.version,
            idempotency_key=idempotency_key,
            actor=actor(),
        )
    except (IdempotencyKeyReused, *INFRASTRUCTURE_ERRORS):
        raise  # not the request's fault or a second request, not a dead letter: 422, or 503 to send it again
    except Exception as error:  # kept as a dead letter; the caller gets the same problem plus its id
        return start_failed(
            error,
            key=key,
            variables=body.variables,
            business_key=body.businessKey,
            version=query_data.version,
            idempotency_key=idempotency_key,
        )
    if idempotency_key is not None:
        dead_letters.close_started(
            services().engine, process_key=key, idempotency_key=idempotency_key, instance_id=result.instance["id"],
            actor=actor(),
        )  # fmt: skip
    headers = {"Location": f"/api/v1/process-instances/{result.instance['id']}"}
    return result.instance, (201 if result.created else 200), headers


@bp.get("/process-instances")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(InstanceQuery, location="query", arg_name="q")
@bp.output(InstancePage)
@bp.doc(
    summary="List process instances, newest first (or riskiest first), with filters and pagination",
    description="`sort=-slaRisk` lists the orders not ended, likeliest to miss their SLA first, each with "
    "`slaRisk`, `predictedCompletionAt` and `slaDeadlineAt`.",
)
def list_(q: InstanceQuery):
    if q.sort == "-slaRisk":
        return _by_risk(q)
    return list_instances(
        services().engine,
        status=q.status,
        process_key=q.processKey,
        business_key=q.businessKey,
        business_key_prefix=q.businessKeyPrefix,
        page=q.page,
        per_page=q.perPage,
    )


@bp.get("/process-instances/<instance_id>")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(Instance)
@bp.doc(
    summary="An instance: status, variables, active elements, incidents, jobs, and its SLA risk while it runs",
    description="`variables` is null for an approver who has no task of this order (see README: who reads what). "
    "An order not ended carries `slaRisk` (0..1, null when its process has no SLA target), "
    "`predictedCompletionAt` and `slaDeadlineAt`.",
)
def get(instance_id: str):
    view = get_instance(services().engine, instance_id)
    if view["endedAt"] is None:
        view.update(risk_fields(_risk_of(view)))
    if not _may_read_data(instance_id):
        view["variables"] = None
    return view


def _risk_of(view: dict) -> Risk:
    channel = (view.get("variables") or {}).get(CHANNEL_VARIABLE)
    created = datetime.fromisoformat(view["createdAt"].rstrip("Z"))
    return services().predictor.risk_of(view["id"], view["processKey"], channel, created, view.get("activeElements"))


def _by_risk(q: InstanceQuery) -> dict:
    """Orders not ended that match the filters, riskiest first, a page at a time (the risks of all of them are
    computed to rank them: one query and arithmetic per order)."""
    engine = services().engine
    query = select(ProcessInstance.id).where(ProcessInstance.status.in_(NOT_ENDED))
    for column, value in (
        (ProcessInstance.status, q.status),
        (ProcessInstance.process_key, q.processKey),
        (ProcessInstance.business_key, q.businessKey),
    ):
        if value:
            query = query.where(column == value)
    if q.businessKeyPrefix:
        query = query.where(ProcessInstance.business_key.startswith(q.businessKeyPrefix, autoescape=True))
    with engine.read_session() as session:
        matching = set(session.scalars(query))
    ranked = [r for r in services().predictor.risks(process_key=q.processKey) if r.instance_id in matching]
    page = ranked[(q.page - 1) * q.perPage : q.page * q.perPage]
    with engine.read_session() as session:
        rows = {row.id: row for row in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(
            [r.instance_id for r in page])))}  # fmt: skip
        items = [
            {**instance_view(session, rows[r.instance_id]), **risk_fields(r)} for r in page if r.instance_id in rows
        ]
    return {"items": items, "total": len(ranked), "page": q.page, "perPage": q.perPage}


@bp.get("/process-instances/<instance_id>/events")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(EventList)
@bp.doc(
    summary="The instance's audit trail, oldest first",
    description="Each event's `data` is null for an approver who has no task of this order.",
)
def events(instance_id: str):
    items = instance_events(services().engine, instance_id)
    if not _may_read_data(instance_id):
        items = [{**event, "data": None} for event in items]
    return {"items": items}


@bp.post("/process-instances/<instance_id>/cancel")
@bp.auth_required(auth, roles=["integrator", "operator"])
@bp.output(Instance)
@bp.doc(summary="Cancel a running or waiting instance (409 when it has already ended)")
def cancel(instance_id: str):
    return cancel_instance(services().engine, instance_id, actor=actor())
