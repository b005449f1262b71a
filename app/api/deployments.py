"""Deployments and process definitions."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import request
from sqlalchemy import select

from processes.core.models import ProcessDefinition
from processes.deployment.deployments import deploy
from processes.errors import InvalidInput, NotFound
from processes.instances import iso

from ..auth import EVERYONE, actor
from ..extensions import auth
from ..services import services
from .schemas import Definition as DefinitionOut
from .schemas import DefinitionList, DeploymentOut, VersionQuery

bp = APIBlueprint("deployments", __name__, url_prefix="/api/v1", tag="Deployments")


@bp.post("/deployments")
@bp.auth_required(auth, roles=["analyst"])
@bp.output(DeploymentOut, status_code=201)
@bp.doc(
    summary="Deploy BPMN and DMN files",
    description="multipart/form-data with one or more files (any field name). Each executable process "
    "becomes a definition; new content gets a new version, identical content returns the existing one. "
    "Lint errors answer 422 listing every problem with its element id.",
)
def create_deployment():
    files = [(f.filename or name, f.read()) for name in request.files for f in request.files.getlist(name)]
    if not files:
        raise InvalidInput("upload the .bpmn/.dmn files as multipart/form-data")
    return deploy(services().engine, files, actor=actor()).as_dict()


def _definition_view(d: ProcessDefinition) -> dict:
    return {
        "id": d.id,
        "key": d.key,
        "version": d.version,
        "name": d.name,
        "resource": d.resource_name,
        "deploymentId": d.deployment_id,
        "createdAt": iso(d.created_at),
    }


def _find(key: str, version: int | None) -> ProcessDefinition:
    with services().engine.read_session() as session:
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        query = query.where(ProcessDefinition.version == version) if version else query
        definition = session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
        if definition is None:
            raise NotFound(f"no process definition with key '{key}'" + (f" version {version}" if version else ""))
        return definition


@bp.get("/process-definitions")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(DefinitionList)
@bp.doc(summary="List process definitions (every version)")
def list_definitions():
    with services().engine.read_session() as session:
        rows = session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version))
        return {"items": [_definition_view(d) for d in rows]}


@bp.get("/process-definitions/<key>")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(VersionQuery, location="query")
@bp.output(DefinitionOut)
@bp.doc(summary="The latest version of a process definition, or ?version=n")
def get_definition(key: str, query_data: VersionQuery):
    return _definition_view(_find(key, query_data.version))


@bp.get("/process-definitions/<key>/xml")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(VersionQuery, location="query")
@bp.doc(summary="The BPMN XML of a definition, as deployed", responses={200: {"description": "BPMN XML"}})
def get_definition_xml(key: str, query_data: VersionQuery):
    definition = _find(key, query_data.version)
    return definition.xml, 200, {"Content-Type": "application/xml; charset=utf-8"}
