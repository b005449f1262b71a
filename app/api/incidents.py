"""Incidents (failed orders, highest impact first: retry or resolve, one by one or in bulk) and dead letters of
intake (start requests that could not be processed: replay or discard)."""

from __future__ import annotations

import logging
import os
from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from processes.errors import OrderflowError
from processes.jobs import dead_letters, incidents
from processes.jobs.incidents import ImpactWeights

from ..auth import actor
from ..extensions import auth
from ..problems import internal_error_problem, is_infrastructure_error, problem, unavailable
from ..services import services
from .incident_schemas import (
    BatchOut,
    BulkRetryIn,
    DeadLetterOut,
    DeadLetterPage,
    DeadLetterQuery,
    DiscardIn,
    IncidentOut,
    IncidentPage,
    IncidentQuery,
    ReplayIn,
    ReplayOut,
    ResolveIn,
    RetryOut,
)
from .prediction import sla_risks

log = logging.getLogger(__name__)

bp = APIBlueprint("incidents", __name__, url_prefix="/api/v1", tag="Incidents")
dead_letters_bp = APIBlueprint("dead_letters", __name__, url_prefix="/api/v1", tag="Dead letters")

WEIGHTS_SETTING = "ORDERFLOW_IMPACT_WEIGHTS"
_WEIGHTS_KEY = "orderflow.impact_weights"


@bp.record_once
def _read_weights(state) -> None:
    """ORDERFLOW_IMPACT_WEIGHTS ("value=1,tier=500,age_hours=10"), from the app config or the environment;
    parsed at start-up, so a wrong value stops the server with the reason instead of failing every request."""
    text = state.app.config.get(WEIGHTS_SETTING) or os.environ.get(WEIGHTS_SETTING, "")
    try:
        state.app.extensions[_WEIGHTS_KEY] = ImpactWeights.parse(text)
    except ValueError as exc:
        raise RuntimeError(f"{WEIGHTS_SETTING}: {exc}") from exc


def weights() -> ImpactWeights:
    return current_app.extensions.get(_WEIGHTS_KEY) or ImpactWeights()


# -- problems with a dead letter id ----------------------------------------------------------------------


def error_problem(error: BaseException, **extra: Any):
    """The problem+json response the app's error handlers give for `error`, with extra members."""
    if is_infrastructure_error(error):
        return unavailable(error)
    if isinstance(error, OrderflowError) and error.status < 500:
        if getattr(error, "field_errors", None):
            extra["errors"] = error.field_errors
        return problem(error.status, error.title, error.detail, type=error.type, **extra)
    log.error("unexpected error: %s", error, exc_info=error)
    return internal_error_problem(**extra)


def start_failed(
    error: Exception,
    *,
    key: str,
    variables: dict[str, Any] | None,
    business_key: str | None,
    version: int | None,
    idempotency_key: str | None,
):
    """The start endpoint's failure path: keep the request as a dead letter, answer with the same problem as
    before plus `deadLetterId`. If even keeping it fails, the original error goes out as it would have."""
    try:
        dead_letter_id = dead_letters.record_failed_start(
            services().engine,
            process_key=key,
            error=error,
            variables=variables,
            business_key=business_key,
            version=version,
            idempotency_key=idempotency_key,
            actor=actor(),
            per_minute=current_app.config["ORDERFLOW_DEAD_LETTERS_PER_MINUTE"],
        )
    except Exception:
        log.exception("could not keep the failed start of %s as a dead letter", key)
        raise error from None
    if dead_letter_id is None:  # over the flood limit: the caller still hears why
        return error_problem(error)
    return error_problem(error, deadLetterId=dead_letter_id)


# -- incidents -------------------------------------------------------------------------------------------


@bp.get("/incidents")
@bp.auth_required(auth, roles=["operator", "analyst"])
@bp.input(IncidentQuery, location="query", arg_name="q")
@bp.output(IncidentPage)
@bp.doc(
    summary="Incidents, highest impact first (or the riskiest orders' first: sort=-slaRisk)",
    description="Impact = value weight x order value + tier weight x customer tier rank (gold 2, silver 1, other 0) "
    "+ age weight x hours open. Weights come from ORDERFLOW_IMPACT_WEIGHTS (default value=1,tier=500,age_hours=10).",
)
def list_(q: IncidentQuery):
    return incidents.list_incidents(
        services().engine, weights=weights(), status=q.status, process_key=q.processKey, element_id=q.elementId,
        error_type=q.errorType, business_key=q.businessKey, instance_id=q.instanceId, page=q.page, per_page=q.perPage,
        sla_risk=sla_risks(process_key=q.processKey) if q.sort == "-slaRisk" else None,
    )  # fmt: skip


@bp.get("/incidents/<incident_id>")
@bp.auth_required(auth, roles=["operator", "analyst"])
@bp.output(IncidentOut)
@bp.doc(summary="One incident with its impact")
def get(incident_id: str):
    return incidents.get_incident(services().engine, incident_id, weights=weights())


@bp.post("/incidents/<incident_id>/retry")
@bp.auth_required(auth, roles=["operator"])
@bp.output(RetryOut)
@bp.doc(
    summary="Retry an incident: one engine step brings the instance back",
    description="A failed job is ready again with its attempts renewed; a failed script, expression or decision "
    "runs again; a service task whose BPMN error nobody caught gets a new job. The incident is resolved as "
    "`retried`. `result` is `failed` (with `newIncidentId`) when the retry failed again at once. 409 when the "
    "incident is already resolved.",
)
def retry(incident_id: str):
    engine = services().engine
    outcome = incidents.retry_incident(engine, incident_id, actor=actor())
    return {**outcome.as_dict(), "incident": incidents.get_incident(engine, incident_id, weights=weights())}


@bp.post("/incidents/<incident_id>/resolve")
@bp.auth_required(auth, roles=["operator"])
@bp.input(ResolveIn, arg_name="body")
@bp.output(IncidentOut)
@bp.doc(
    summary="Resolve an incident without retrying (the cause was fixed elsewhere)",
    description="Closes the incident with the comment. The instance is left exactly as it is: nothing runs, and an "
    "instance whose last incident is resolved this way keeps the status `incident` (retry instead to continue it, "
    "or cancel it). 409 when the incident is already resolved.",
)
def resolve(incident_id: str, body: ResolveIn):
    return incidents.resolve_incident(
        services().engine, incident_id, comment=body.comment, actor=actor(), weights=weights()
    )


@bp.post("/incidents/retry")
@bp.auth_required(auth, roles=["operator"])
@bp.input(BulkRetryIn, arg_name="body")
@bp.output(BatchOut, status_code=201)
@bp.doc(
    summary="Retry incidents in bulk, as a tracked batch",
    description="Give `ids`, or a `filter` (open incidents, highest impact first, at most 1000). Each incident is "
    "retried in its own engine step; every item reports `retried`, `failed`, `not found` or `already resolved`.",
)
def retry_bulk(body: BulkRetryIn):
    filters = body.filter.model_dump(exclude_none=True) if body.filter is not None else None
    batch = incidents.retry_many(services().engine, ids=body.ids, filters=filters, weights=weights(), actor=actor())
    return batch, 201, {"Location": f"/api/v1/incident-batches/{batch['id']}"}


@bp.get("/incident-batches/<batch_id>")
@bp.auth_required(auth, roles=["operator", "analyst"])
@bp.output(BatchOut)
@bp.doc(summary="A bulk retry and its result per incident")
def batch(batch_id: str):
    return incidents.get_batch(services().engine, batch_id)


# -- dead letters ----------------------------------------------------------------------------------------


@dead_letters_bp.get("/dead-letters")
@dead_letters_bp.auth_required(auth, roles=["operator", "analyst"])
@dead_letters_bp.input(DeadLetterQuery, location="query", arg_name="q")
@dead_letters_bp.output(DeadLetterPage)
@dead_letters_bp.doc(summary="Start requests that could not be processed (open ones by default), oldest first")
def list_dead_letters(q: DeadLetterQuery):
    return dead_letters.list_dead_letters(
        services().engine,
        status=q.status,
        process_key=q.processKey,
        business_key=q.businessKey,
        page=q.page,
        per_page=q.perPage,
    )


@dead_letters_bp.get("/dead-letters/<dead_letter_id>")
@dead_letters_bp.auth_required(auth, roles=["operator", "analyst"])
@dead_letters_bp.output(DeadLetterOut)
@dead_letters_bp.doc(summary="One dead letter: the request as received and why it failed")
def get_dead_letter(dead_letter_id: str):
    return dead_letters.get_dead_letter(services().engine, dead_letter_id)


@dead_letters_bp.post("/dead-letters/<dead_letter_id>/replay")
@dead_letters_bp.auth_required(auth, roles=["operator"])
@dead_letters_bp.input(ReplayIn, arg_name="body")
@dead_letters_bp.output(ReplayOut, status_code=201)
@dead_letters_bp.doc(
    summary="Start a dead letter's request again, optionally corrected",
    description="201 with the new instance; 200 when its Idempotency-Key (or business key) finds an instance "
    "already started. A start that fails again answers as the start endpoint does (with `deadLetterId`) and "
    "leaves the dead letter open. 409 when it was already replayed or discarded.",
)
def replay_dead_letter(dead_letter_id: str, body: ReplayIn):
    corrections: dict[str, Any] = {}
    if "version" in body.model_fields_set:
        corrections["version"] = body.version
    if "businessKey" in body.model_fields_set:
        corrections["business_key"] = body.businessKey
    try:
        result = dead_letters.replay(
            services().engine,
            dead_letter_id,
            variables=body.variables,
            process_key=body.processKey,
            actor=actor(),
            **corrections,
        )
    except dead_letters.ReplayFailed as failed:
        return error_problem(failed.error, deadLetterId=failed.dead_letter_id)
    body_out = {"deadLetter": result.dead_letter, "created": result.start.created, "instance": result.start.instance}
    return body_out, (201 if result.start.created else 200)


@dead_letters_bp.post("/dead-letters/<dead_letter_id>/discard")
@dead_letters_bp.auth_required(auth, roles=["operator"])
@dead_letters_bp.input(DiscardIn, arg_name="body")
@dead_letters_bp.output(DeadLetterOut)
@dead_letters_bp.doc(summary="Close a dead letter without starting anything (409 when already closed)")
def discard_dead_letter(dead_letter_id: str, body: DiscardIn):
    return dead_letters.discard(services().engine, dead_letter_id, comment=body.comment, actor=actor())
