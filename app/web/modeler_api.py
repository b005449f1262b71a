"""JSON for the modeler pages' scripts, on the page session (login cookie plus the X-CSRFToken header on every POST;
the REST API takes bearer tokens only). Each call is the same engine function the REST API uses; errors are
problem+json, and a call without a session or the analyst role answers 401/403 instead of a login page."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, request
from flask_login import current_user

from processes import modeling
from processes.deployment.deployments import deploy
from processes.errors import InvalidInput, NotFound
from processes.features.decisions import DecisionError, DecisionNotFound, evaluate_decision
from processes.identity import list_groups
from processes.instances import start_instance

from ..problems import problem
from ..services import services
from .people import page_caller, roles_for

# Not named web_*: errors here are problem+json for the scripts, not error pages (app/problems.py).
bp = Blueprint("modeler_api", __name__, url_prefix="/modeler/api")


def analyst_only(view: Callable) -> Callable:
    @wraps(view)
    def checked(*args: Any, **kwargs: Any):
        if not current_user.is_authenticated:
            return problem(401, "Unauthorized", "log in first: your session has ended")
        if not roles_for("modeler"):
            return problem(403, "Forbidden", f"{page_caller().name} has no role that opens the modeler")
        return view(*args, **kwargs)

    return checked


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object")
    return body


def _files(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """[{"name": "order.bpmn", "xml": "..."}] as (name, bytes), the shape deploy and lint take."""
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise InvalidInput('send "files": [{"name": "….bpmn", "xml": "…"}]')
    found = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not isinstance(f.get("xml"), str):
            raise InvalidInput('each file needs a "name" and its "xml" as text')
        found.append((f["name"], f["xml"].encode("utf-8")))
    return found


@bp.get("/catalog")
@analyst_only
def catalog():
    """What the pickers offer: connector topics, groups, deployed processes and decisions."""
    engine = services().engine
    return {
        "topics": services().connectors.topics(),
        "groups": [{"id": g["id"], "name": g["name"]} for g in list_groups(engine)],
        "processes": modeling.process_catalog(engine),
        "decisions": modeling.decision_catalog(engine),
    }


@bp.post("/lint")
@analyst_only
def lint():
    return modeling.lint(services().engine, _files(_body()))


@bp.post("/deploy")
@analyst_only
def deploy_files():
    result = deploy(services().engine, _files(_body()), actor=page_caller().name)
    return result.as_dict(), 201


@bp.post("/variables")
@analyst_only
def variables():
    body = _body()
    if not isinstance(body.get("xml"), str):
        raise InvalidInput('send the diagram as "xml"')
    engine = services().engine
    key = body.get("key") if isinstance(body.get("key"), str) else None
    return {"items": modeling.known_variables(engine, body["xml"], modeling.decision_catalog(engine), key=key)}


@bp.post("/processes/<key>/test-orders")
@analyst_only
def start_test_order(key: str):
    body = _body()
    business_key = body.get("businessKey") or f"TEST-{secrets.token_hex(3).upper()}"
    if not isinstance(business_key, str) or len(business_key) > 255:
        raise InvalidInput("businessKey must be text of at most 255 characters")
    started = start_instance(
        services().engine,
        key,
        variables=body.get("variables") or {},
        business_key=business_key,
        actor=page_caller().name,
    )
    return started.instance, 201


@bp.get("/test-orders/<instance_id>")
@analyst_only
def test_order(instance_id: str):
    return modeling.order_progress(services().engine, instance_id)


@bp.post("/decisions/<key>/evaluate")
@analyst_only
def evaluate(key: str):
    body = _body()
    try:
        return evaluate_decision(services().engine, key, body.get("variables") or {})
    except DecisionNotFound as exc:
        raise NotFound(str(exc)) from exc
    except DecisionError as exc:
        raise InvalidInput(f"decision '{key}': {exc}") from exc


# -- scenarios: test a process before deploying it (app/testing) ---------------------------------------------------


def _deployed_models(except_key: str) -> list[tuple[str, bytes]]:
    """The latest deployed decision tables and other processes, for what the posted diagram calls."""
    from sqlalchemy import select

    from processes.core.models import DecisionDefinition, ProcessDefinition

    files: dict[bytes, str] = {}
    engine = services().engine
    with engine.read_session() as session:
        for model, suffix in ((DecisionDefinition, "dmn"), (ProcessDefinition, "bpmn")):
            latest: dict[str, tuple[int, str]] = {}
            for key, version, xml in session.execute(select(model.key, model.version, model.xml)):
                if key != except_key and (key not in latest or version > latest[key][0]):
                    latest[key] = (version, xml)
            for key, (_version, xml) in sorted(latest.items()):
                files.setdefault(xml.encode("utf-8"), f"{key}.{suffix}")  # several decisions share one file
    return [(name, data) for data, name in files.items()]


@bp.get("/processes/<key>/scenarios")
@analyst_only
def shipped_scenarios(key: str):
    """The scenario file kept next to the shipped diagram (`bpmn/<key>.test.yaml`), to start from."""
    from app import SHIPPED_DIR

    path = SHIPPED_DIR / f"{key}.test.yaml"
    return {"name": path.name, "text": path.read_text(encoding="utf-8") if path.is_file() else ""}


@bp.post("/processes/<key>/scenarios/run")
@analyst_only
def run_scenarios(key: str):
    """Run posted scenarios (`text`, a scenario file) against the posted diagram (`xml`, not yet deployed) on an
    in-memory engine beside this server's: answers pass/fail per scenario and the diagram's coverage."""
    from app.testing import run_texts

    body = _body()
    if not isinstance(body.get("xml"), str) or not isinstance(body.get("text"), str):
        raise InvalidInput('send the diagram as "xml" and the scenario file as "text"')
    models = [(f"{key}.bpmn", body["xml"].encode("utf-8")), *_deployed_models(key)]
    result = run_texts(models, [(f"{key}.test.yaml", body["text"])], like=services().engine.settings)
    answer = result.as_json()
    answer["coverage"] = [c for c in answer["coverage"] if c["file"] == f"{key}.bpmn"]
    return answer


@bp.post("/test-orders/<instance_id>/scenario")
@analyst_only
def record_scenario(instance_id: str):
    """A scenario that repeats what a test order did (started, answered, completed by hand), as a file's text."""
    from app.testing import record

    return {"text": record(services().engine, instance_id)}
