"""What a modeling tool needs over REST (the browser modeler calls the same functions through its pages): lint
without deploying, version history with who deployed each version, the differences between two versions, deployed
decisions with their columns, the variables a process knows, and the connector topics a service task can bind to."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, Field

from processes import modeling
from processes.errors import InvalidInput

from ..auth import EVERYONE
from ..extensions import auth
from ..services import services
from .schemas import MAX_VERSION, LintProblem, Strict, VersionQuery

bp = APIBlueprint("modeling", __name__, url_prefix="/api/v1", tag="Modeling")


class LintOut(BaseModel):
    errors: list[LintProblem]
    warnings: list[LintProblem]


class Version(BaseModel):
    id: str
    key: str
    version: int
    name: str | None
    resource: str
    createdAt: str
    createdBy: str | None = Field(description="Who deployed this version")


class VersionList(BaseModel):
    items: list[Version]


class DecisionColumn(BaseModel):
    label: str | None = None
    name: str | None = None
    expression: str | None = None
    typeRef: str | None = None


class Decision(Version):
    versions: int
    inputs: list[DecisionColumn]
    outputs: list[DecisionColumn]
    hitPolicy: str | None


class DecisionList(BaseModel):
    items: list[Decision]


class Variable(BaseModel):
    name: str
    type: str | None = Field(description="number, string, boolean, date or object, where something says so")
    label: str | None
    options: list[dict[str, Any]]
    sources: list[str] = Field(description="Where the diagram (or an earlier order) mentions it")
    reads: bool
    writes: bool
    startValue: bool = Field(description="A new order should bring it: read somewhere and set by no element")
    example: Any = None


class VariableList(BaseModel):
    items: list[Variable]


class DiffQuery(Strict):
    base: int = Field(ge=1, le=MAX_VERSION, description="The older version")
    to: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="The newer version (default: the latest)")


class ChangedElement(BaseModel):
    id: str
    type: str
    name: str | None
    changes: list[str] = []


class DiffOut(BaseModel):
    base: int
    to: int
    added: list[ChangedElement]
    removed: list[ChangedElement]
    changed: list[ChangedElement]
    moved: list[str]


class TopicList(BaseModel):
    items: list[str]


@bp.post("/lint")
@bp.auth_required(auth, roles=["analyst"])
@bp.output(LintOut)
@bp.doc(
    summary="Check BPMN and DMN files as a deployment would, without deploying",
    description="multipart/form-data like POST /deployments. Answers 200 with the errors a deployment would refuse "
    "and the warnings it would give, each with its element id; references are checked against what is deployed.",
)
def lint_files():
    files = [(f.filename or name, f.read()) for name in request.files for f in request.files.getlist(name)]
    if not files:
        raise InvalidInput("upload the .bpmn/.dmn files as multipart/form-data")
    return modeling.lint(services().engine, files)


@bp.get("/process-definitions/<key>/versions")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(VersionList)
@bp.doc(summary="Every version of a process, newest first, with who deployed it and when")
def process_versions(key: str):
    return {"items": modeling.version_history(services().engine, "process", key)}


@bp.get("/process-definitions/<key>/variables")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(VersionQuery, location="query")
@bp.output(VariableList)
@bp.doc(summary="The variables a process knows: form fields, outputs, conditions, decision inputs, earlier orders")
def process_variables(key: str, query_data: VersionQuery):
    engine = services().engine
    definition = modeling.definition_version(engine, "process", key, query_data.version)
    decisions = modeling.decision_catalog(engine)
    return {"items": modeling.known_variables(engine, definition["xml"], decisions, key=key)}


def _diff(kind: str, key: str, query: DiffQuery) -> dict[str, Any]:
    engine = services().engine
    old = modeling.definition_version(engine, kind, key, query.base)
    new = modeling.definition_version(engine, kind, key, query.to)
    return {"base": old["version"], "to": new["version"], **modeling.diff_versions(old["xml"], new["xml"])}


@bp.get("/process-definitions/<key>/diff")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(DiffQuery, location="query")
@bp.output(DiffOut)
@bp.doc(summary="What changed from one version of a process to another: elements added, removed, changed, moved")
def process_diff(key: str, query_data: DiffQuery):
    return _diff("process", key, query_data)


@bp.get("/decision-definitions")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(DecisionList)
@bp.doc(summary="The latest version of every deployed decision, with its input and output columns")
def list_decisions():
    return {"items": modeling.decision_catalog(services().engine)}


@bp.get("/decision-definitions/<key>/versions")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(VersionList)
@bp.doc(summary="Every version of a decision, newest first, with who deployed it and when")
def decision_versions(key: str):
    return {"items": modeling.version_history(services().engine, "decision", key)}


@bp.get("/decision-definitions/<key>/xml")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(VersionQuery, location="query")
@bp.doc(summary="The DMN XML of a decision's file, as deployed", responses={200: {"description": "DMN XML"}})
def decision_xml(key: str, query_data: VersionQuery):
    definition = modeling.definition_version(services().engine, "decision", key, query_data.version)
    return definition["xml"], 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.get("/decision-definitions/<key>/diff")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(DiffQuery, location="query")
@bp.output(DiffOut)
@bp.doc(summary="What changed from one version of a decision to another (rules, cells, columns)")
def decision_diff(key: str, query_data: DiffQuery):
    return _diff("decision", key, query_data)


@bp.get("/connectors/topics")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(TopicList)
@bp.doc(summary="The topics of the built-in connectors: what a service task's camunda:topic can bind to")
def connector_topics():
    return {"items": services().connectors.topics()}
