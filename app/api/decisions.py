"""Decisions: evaluate a deployed DMN decision directly."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes.errors import InvalidInput, NotFound
from processes.features.decisions import DecisionError, DecisionNotFound, evaluate_decision

from ..extensions import auth
from ..services import services
from .schemas import DecisionOut, EvaluateDecisionIn, VersionQuery

bp = APIBlueprint("decisions", __name__, url_prefix="/api/v1", tag="Decisions")


@bp.post("/decisions/<key>/evaluate")
@bp.auth_required(auth, roles=["analyst", "integrator"])
@bp.input(VersionQuery, location="query", arg_name="query_data")
@bp.input(EvaluateDecisionIn, arg_name="body")
@bp.output(DecisionOut)
@bp.doc(summary="Evaluate a decision (latest version, or ?version=n) with the given variables")
def evaluate(key: str, query_data: VersionQuery, body: EvaluateDecisionIn):
    try:
        return evaluate_decision(services().engine, key, body.variables, query_data.version)
    except DecisionNotFound as exc:
        raise NotFound(str(exc)) from exc
    except DecisionError as exc:  # a hit policy violated, an input of the wrong type: the caller's data
        raise InvalidInput(f"decision '{key}': {exc}") from exc
