"""What is deployed, as the modeler shows it: the latest version of every process and decision, each one's version
history (who deployed it and when), the XML of any version, and lint of unsaved files against what is deployed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree
from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import DecisionDefinition, Deployment, ProcessDefinition, iso
from processes.deployment.deployments import latest_definition, lint_files
from processes.deployment.parser import load_xml
from processes.errors import InvalidInput, NotFound, Problem, TooLarge

KINDS: dict[str, type[ProcessDefinition] | type[DecisionDefinition]] = {
    "process": ProcessDefinition,
    "decision": DecisionDefinition,
}


def _model(kind: str) -> type[ProcessDefinition] | type[DecisionDefinition]:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: process or decision")
    return KINDS[kind]


def _rows(engine: Engine, kind: str, key: str | None = None) -> list[dict[str, Any]]:
    """Every version (of one key), oldest first, without the XML; createdBy is who deployed it."""
    model = _model(kind)
    query = select(
        model.id, model.key, model.version, model.name, model.resource_name, model.created_at, Deployment.created_by
    ).join(Deployment, Deployment.id == model.deployment_id)
    if key is not None:
        query = query.where(model.key == key)
    with engine.read_session() as session:
        rows = session.execute(query.order_by(model.key, model.version)).all()
    return [
        {
            "id": row.id,
            "key": row.key,
            "version": row.version,
            "name": row.name,
            "resource": row.resource_name,
            "createdAt": iso(row.created_at),
            "createdBy": row.created_by,
        }
        for row in rows
    ]


def _latest_of_each(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # oldest first: the last one of a key wins
        latest[row["key"]] = {**row, "versions": row["version"]}
    return sorted(latest.values(), key=lambda row: ((row["name"] or row["key"]).lower(), row["key"]))


def process_catalog(engine: Engine) -> list[dict[str, Any]]:
    """The latest version of each deployed process, by name."""
    return _latest_of_each(_rows(engine, "process"))


def decision_catalog(engine: Engine) -> list[dict[str, Any]]:
    """The latest version of each deployed decision, by name, with its inputs and outputs (for pickers: a
    business rule task's result variable, sample variables for a test)."""
    decisions = _latest_of_each(_rows(engine, "decision"))
    with engine.read_session() as session:
        xml = dict(session.execute(select(DecisionDefinition.id, DecisionDefinition.xml)).all())
    for decision in decisions:
        decision.update(_columns(xml[decision["id"]], decision["key"]))
    return decisions


def _columns(xml: str, key: str) -> dict[str, Any]:
    root = load_xml("decision.dmn", xml.encode("utf-8")).root
    found = root.xpath("//*[local-name()='decision' and @id=$id]", id=key)
    if not found:
        return {"inputs": [], "outputs": [], "hitPolicy": None}
    decision = found[0]

    def local(element: etree._Element, name: str) -> list[etree._Element]:
        return [e for e in element.iter() if isinstance(e.tag, str) and etree.QName(e).localname == name]

    inputs = []
    for column in local(decision, "input"):
        expression = next(iter(local(column, "inputExpression")), None)
        text = next(iter(local(expression, "text")), None) if expression is not None else None
        inputs.append(
            {
                "label": column.get("label"),
                "expression": (text.text or "").strip() if text is not None else "",
                "typeRef": expression.get("typeRef") if expression is not None else None,
            }
        )
    outputs = [
        {"name": o.get("name"), "label": o.get("label"), "typeRef": o.get("typeRef")} for o in local(decision, "output")
    ]
    table = next(iter(local(decision, "decisionTable")), None)
    hit_policy = (table.get("hitPolicy") or "UNIQUE") if table is not None else None
    return {"inputs": inputs, "outputs": outputs, "hitPolicy": hit_policy}


def version_history(engine: Engine, kind: str, key: str) -> list[dict[str, Any]]:
    """Every version of one process or decision, newest first, with who deployed it and when."""
    rows = _rows(engine, kind, key)
    if not rows:
        raise NotFound(f"no {kind} with key '{key}' is deployed")
    return rows[::-1]


def definition_version(engine: Engine, kind: str, key: str, version: int | None = None) -> dict[str, Any]:
    """One version (the latest without `version`) with its XML as deployed."""
    model = _model(kind)
    query = select(model, Deployment.created_by).join(Deployment, Deployment.id == model.deployment_id)
    query = query.where(model.key == key)
    if version is not None:
        query = query.where(model.version == version)
    with engine.read_session() as session:
        found = session.execute(query.order_by(model.version.desc()).limit(1)).first()
        if found is None:
            suffix = f" version {version}" if version is not None else ""
            raise NotFound(f"no {kind} with key '{key}'{suffix} is deployed")
        row, created_by = found
        return {
            "id": row.id,
            "key": row.key,
            "version": row.version,
            "name": row.name,
            "resource": row.resource_name,
            "createdAt": iso(row.created_at),
            "createdBy": created_by,
            "xml": row.xml,
        }


def lint(engine: Engine, files: Iterable[tuple[str, bytes]]) -> dict[str, list[dict[str, Any]]]:
    """The deploy-time checks without deploying: what a deploy of these files would refuse (errors) and what it
    would warn about, each pointing at its element. References are checked against what is deployed now. A file
    that is not readable XML is an error here, not an exception: the modeler shows it like any other problem."""
    files = list(files)
    try:
        with engine.read_session() as session:

            def deployed(key: str) -> tuple[str, str] | None:
                definition = latest_definition(session, key)
                return None if definition is None else (definition.resource_name, definition.xml)

            errors, warnings, _ = lint_files(
                files,
                known_processes=deployed,
                known_decisions=session.scalars(select(DecisionDefinition.key).distinct()).all(),
                features=engine.features,
                beans=engine.settings.beans,
            )
    except (InvalidInput, TooLarge) as exc:
        errors, warnings = [Problem(message=exc.detail, file=files[0][0] if len(files) == 1 else None)], []
    return {"errors": [p.as_dict() for p in errors], "warnings": [p.as_dict() for p in warnings]}
