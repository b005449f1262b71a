"""Deploying diagrams: parse, lint, version. Identical content returns the existing version."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ExclusiveGateway, InclusiveGateway, ScriptTask, ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import dmn, expressions
from .db import serialize_on
from .decisions import DecisionTask
from .engine import Engine
from .errors import Conflict, DeploymentRejected, InvalidInput, Problem
from .messages import correlation_keys, prepare_message_events
from .models import DecisionDefinition, Deployment, ProcessDefinition, Versioned
from .parser import (
    BPMN_NS,
    LoadedFile,
    OrderflowParser,
    lint_bpmn,
    load_xml,
    problem_from_validation,
    quote_timer_literals,
    topic_of,
)

MAX_FILES = 50


@dataclass
class DeploymentResult:
    deployment_id: str
    definitions: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.deployment_id,
            "definitions": self.definitions,
            "decisions": self.decisions,
            "warnings": [w.as_dict() for w in self.warnings],
        }


def _executable_processes(loaded: LoadedFile) -> list[etree._Element]:
    return [p for p in loaded.root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "true") != "false"]


def _called_elements(loaded: LoadedFile) -> set[str]:
    return {c.get("calledElement") for c in loaded.root.iter(f"{{{BPMN_NS}}}callActivity") if c.get("calledElement")}


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_expression(source: str, mode: str, task_spec, file: str, problems: list[Problem]) -> None:
    try:
        expressions.check(source, mode)
    except expressions.ExpressionError as exc:
        problems.append(
            Problem(
                message=str(exc), element_id=task_spec.bpmn_id, element_type=task_spec.__class__.__name__, file=file
            )
        )


def _lint_spec(spec, file: str, problems: list[Problem], warnings: list[Problem], decisions: set[str]) -> None:
    for task_spec in spec.task_specs.values():
        if getattr(task_spec, "bpmn_id", None) is None:
            continue
        if isinstance(task_spec, ScriptTask):
            _check_expression(task_spec.script or "", "exec", task_spec, file, problems)
        elif isinstance(task_spec, (ExclusiveGateway, InclusiveGateway)):
            for condition, _target in task_spec.cond_task_specs:
                if condition is not None:  # SpiffWorkflow wraps the text in a condition operator
                    _check_expression(condition.args[0], "eval", task_spec, file, problems)
        elif isinstance(task_spec, DecisionTask) and task_spec.decision_ref not in decisions:
            problems.append(
                Problem(
                    message=f"decision '{task_spec.decision_ref}' is not deployed: deploy its DMN file with the "
                    "diagram or before it",
                    element_id=task_spec.bpmn_id,
                    element_type="BusinessRuleTask",
                    file=file,
                )
            )
        elif isinstance(task_spec, ServiceTask) and topic_of(task_spec) is None:
            warnings.append(
                Problem(
                    message="service task has no camunda:topic (or zeebe:taskDefinition type); "
                    "an instance reaching it will stop with an incident",
                    element_id=task_spec.bpmn_id,
                    element_type="ServiceTask",
                    file=file,
                    severity="warning",
                )
            )


def deploy(engine: Engine, files: list[tuple[str, bytes]], actor: str | None = None) -> DeploymentResult:
    """Deploy BPMN and DMN files together. Raises DeploymentRejected listing every problem at once."""
    if not files:
        raise InvalidInput("no files: upload at least one .bpmn or .dmn file")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"{len(files)} files is more than the {MAX_FILES} allowed in one deployment")
    loaded = [load_xml(name, data) for name, data in files]
    bpmn_files = [f for f in loaded if f.kind == "bpmn"]
    dmn_files = [f for f in loaded if f.kind == "dmn"]
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for f in bpmn_files:
        problems.extend(lint_bpmn(f))
    for f in dmn_files:  # every FEEL cell of every table, named by rule and column
        try:
            dmn.parse(f.text.encode("utf-8"), f.name)
        except dmn.DmnParseError as exc:
            problems.extend(exc.as_problems())
    if problems:
        raise DeploymentRejected(problems=problems)

    with engine.write_session() as session:
        # Concurrent deploys take turns, so the second sees the first's versions (identical content is reused).
        serialize_on(session, "orderflow.deploy")
        parser = OrderflowParser()
        try:
            for f in bpmn_files:
                parsed_root = etree.fromstring(etree.tostring(f.root))  # keep the drawn XML untouched
                quote_timer_literals(parsed_root)
                parser.add_bpmn_xml(parsed_root, filename=f.name)
        except ValidationException as exc:
            raise DeploymentRejected(problems=[problem_from_validation(exc)]) from exc
        except SpiffWorkflowException as exc:
            raise DeploymentRejected(problems=[Problem(message=str(exc))]) from exc

        _add_called_definitions(session, parser, bpmn_files)

        decisions = _decision_keys(session, dmn_files)
        specs: list[tuple[LoadedFile, str, Any, dict, list[str]]] = []
        message_keys = {k: v for f in bpmn_files for k, v in correlation_keys(f.root).items()}
        for f in bpmn_files:
            for process in _executable_processes(f):
                key = process.get("id")
                try:
                    spec = parser.get_spec(key)
                    subprocess_specs = parser.get_subprocess_specs(key)
                except ValidationException as exc:
                    problems.append(_missing_call(f, exc) or problem_from_validation(exc, f.name))
                    continue
                except SpiffWorkflowException as exc:
                    problems.append(Problem(message=str(exc), element_id=key, element_type="bpmn:process", file=f.name))
                    continue
                message_starts = prepare_message_events([spec, *subprocess_specs.values()], message_keys)
                _lint_spec(spec, f.name, problems, warnings, decisions)
                for sub in subprocess_specs.values():
                    _lint_spec(sub, f.name, problems, warnings, decisions)
                specs.append((f, key, spec, subprocess_specs, message_starts))
        if not specs and not dmn_files and not problems:
            problems.append(Problem(message="no executable process found (isExecutable is false everywhere)"))
        if problems:
            raise DeploymentRejected(problems=problems)

        deployment = Deployment(created_by=actor)
        session.add(deployment)
        session.flush()
        result = DeploymentResult(deployment_id=deployment.id, warnings=warnings)
        for f, key, spec, subprocess_specs, message_starts in specs:
            result.definitions.append(
                _version_process(engine, session, deployment, f, key, spec, subprocess_specs, message_starts)
            )
        for f in dmn_files:
            for decision in f.root.iter(f"{{{etree.QName(f.root).namespace}}}decision"):
                result.decisions.append(_version_decision(session, deployment, f, decision))
        try:
            session.commit()
        except IntegrityError as exc:
            raise Conflict("the same process was deployed concurrently; deploy again") from exc
    return result


def _add_called_definitions(session: Session, parser: OrderflowParser, bpmn_files: list[LoadedFile]) -> None:
    """Call activities may call processes deployed earlier: add the latest version of each to the parser."""
    known = {p.get("id") for f in bpmn_files for p in f.root.iter(f"{{{BPMN_NS}}}process")}
    wanted = set().union(*(_called_elements(f) for f in bpmn_files)) if bpmn_files else set()
    while wanted - known:
        key = (wanted - known).pop()
        known.add(key)
        definition = latest_definition(session, key)
        if definition is None:
            continue  # the parser names the missing process with its call activity
        root = etree.fromstring(
            definition.xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
        )
        quote_timer_literals(root)
        parser.add_bpmn_xml(root, filename=definition.resource_name)
        wanted |= {c.get("calledElement") for c in root.iter(f"{{{BPMN_NS}}}callActivity") if c.get("calledElement")}


def _missing_call(f: LoadedFile, exc: ValidationException) -> Problem | None:
    """SpiffWorkflow names a missing called process but not the call activity: point at the element."""
    match = re.match(r"The process '([^']+)' was not found", str(exc.args[0]) if exc.args else "")
    if match is None:
        return None
    called = match.group(1)
    for element in f.root.iter(f"{{{BPMN_NS}}}callActivity"):
        if element.get("calledElement") == called:
            return Problem(
                message=f"call activity calls process '{called}', which is neither in this deployment nor deployed",
                element_id=element.get("id"),
                element_type="bpmn:callActivity",
                file=f.name,
                line=element.sourceline,
            )
    return None


def _decision_keys(session: Session, dmn_files: list[LoadedFile]) -> set[str]:
    """Decisions a business rule task may name: those in this deployment and those deployed before."""
    keys = {d.get("id") for f in dmn_files for d in f.root.iter(f"{{{etree.QName(f.root).namespace}}}decision")}
    return keys | set(session.scalars(select(DecisionDefinition.key).distinct()))


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return _latest(session, ProcessDefinition, key)


def _latest(session: Session, model: type[Versioned], key: str):
    return session.scalar(select(model).where(model.key == key).order_by(model.version.desc()).limit(1))


def _versioned(session: Session, model: type[Versioned], key: str, deployment, f: LoadedFile, new_columns) -> tuple:
    """The latest version if its content is identical, else a new version (`new_columns()` adds the rest)."""
    content_hash = _content_hash(f.text)
    latest = _latest(session, model, key)
    if latest is not None and latest.content_hash == content_hash:
        return latest, False
    version = (latest.version + 1) if latest is not None else 1
    row = model(
        id=f"{key}:{version}",
        key=key,
        version=version,
        deployment_id=deployment.id,
        resource_name=f.name,
        content_hash=content_hash,
        xml=f.text,
        **new_columns(),
    )
    session.add(row)
    return row, True


def _version_process(
    engine, session, deployment, f: LoadedFile, key, spec, subprocess_specs, message_starts: list[str]
) -> dict[str, Any]:
    definition, is_new = _versioned(
        session,
        ProcessDefinition,
        key,
        deployment,
        f,
        lambda: {
            "name": spec.description or None,
            "spec_json": engine.serializer.dump_spec(spec, subprocess_specs),
            "message_starts": message_starts,
        },
    )
    return {
        "id": definition.id,
        "key": definition.key,
        "version": definition.version,
        "name": definition.name,
        "resource": definition.resource_name,
        "isNew": is_new,
        "calls": sorted(ts.spec for ts in spec.task_specs.values() if isinstance(ts, CallActivity)),
    }


def _version_decision(session: Session, deployment, f: LoadedFile, decision) -> dict[str, Any]:
    definition, is_new = _versioned(
        session, DecisionDefinition, decision.get("id"), deployment, f, lambda: {"name": decision.get("name")}
    )
    return {
        "id": definition.id,
        "key": definition.key,
        "version": definition.version,
        "name": definition.name,
        "isNew": is_new,
    }
