"""Deploying diagrams: parse, lint, version. Identical content returns the existing version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ExclusiveGateway, InclusiveGateway, ScriptTask, ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processes import dmn, expressions
from processes.core.db import serialize_on
from processes.core.engine import Engine
from processes.core.feature import Feature
from processes.core.models import DecisionDefinition, Deployment, FormDefinition, ProcessDefinition, Versioned
from processes.deployment.flows import flow_problems
from processes.deployment.forms import LoadedForm, is_form_file, link_forms, load_form
from processes.deployment.labels import label_of
from processes.deployment.overlaps import overlap_problems
from processes.deployment.parser import (
    BPMN_NS,
    IMPLEMENTATIONS,
    MAX_FILE_BYTES,
    LoadedFile,
    OrderflowParser,
    apply_called_elements,
    apply_form_properties,
    called_element,
    element_type_of,
    event_subprocess_starts,
    lint_bpmn,
    load_xml,
    parser_for,
    problem_from_validation,
    quote_timer_literals,
    strip_data_stores,
    topic_of,
)
from processes.errors import Conflict, DeploymentRejected, InvalidInput, Problem
from processes.expressions import mappings
from processes.expressions.beans import Beans, missing
from processes.features import schedules
from processes.features.conditional_events import ScopedConditionalEventDefinition
from processes.features.decisions import DecisionTask
from processes.features.messages import correlation_keys, prepare_message_events

MAX_FILES = 50

# A process deployed earlier, by key: (resource name, BPMN XML), or None when there is none.
ProcessLookup = Callable[[str], "tuple[str, str] | None"]


@dataclass
class DeploymentResult:
    deployment_id: str
    definitions: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.deployment_id,
            "definitions": self.definitions,
            "decisions": self.decisions,
            "forms": self.forms,
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass
class ParsedProcess:
    file: LoadedFile
    key: str
    spec: Any
    subprocess_specs: dict
    message_starts: list[str]


@dataclass
class Parsed:
    """What lint_files read: the files, and each executable process's spec (empty when a file has errors)."""

    bpmn_files: list[LoadedFile] = field(default_factory=list)
    dmn_files: list[LoadedFile] = field(default_factory=list)
    forms: dict[str, LoadedForm] = field(default_factory=dict)  # by form id
    processes: list[ParsedProcess] = field(default_factory=list)
    # Warnings about drawn elements orderflow ignores (data stores, listeners); a rejection lists them too.
    ignored: list[Problem] = field(default_factory=list)


def lint_files(
    files: Iterable[tuple[str, bytes]],
    *,
    features: Sequence[Feature],
    known_processes: ProcessLookup | None = None,
    known_decisions: Iterable[str] | None = None,
    beans: Beans | None = None,
    known_forms: Callable[[str], dict | None] | None = None,
) -> tuple[list[Problem], list[Problem], Parsed]:
    """The deploy-time lint, on its own: parse BPMN and DMN files together and return (errors, warnings, parsed).
    Call activities and business rule tasks may refer to processes and decisions in any of the files.

    `known_processes` finds processes deployed earlier and `known_decisions` names decisions deployed earlier; a
    reference to neither is an error. Offline (None), nothing else is known: a reference to something not in the
    files is a warning, since it may be deployed already. `beans` are the registered beans (expressions/beans.py): a
    JUEL call of any other bean method is a warning (offline, every bean call is). Raises InvalidInput/TooLarge for a
    file that is not readable BPMN or DMN XML."""
    offline = known_processes is None
    parsed = Parsed()
    for name, data in files:
        if is_form_file(name):  # Camunda Forms that user tasks link by id
            form = load_form(name, data, MAX_FILE_BYTES)
            parsed.forms[form.id] = form
            continue
        loaded = load_xml(name, data)
        (parsed.bpmn_files if loaded.kind == "bpmn" else parsed.dmn_files).append(loaded)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    # Rules of UNIQUE decision tables that surely overlap: refused, but the diagrams are still parsed, so their
    # problems are listed too.
    overlapping: list[Problem] = []
    for f in parsed.bpmn_files:
        for problem in lint_bpmn(f):
            (problems if problem.severity == "error" else parsed.ignored).append(problem)
        warnings.extend(flow_problems(f))  # flows no order takes, elements no order reaches, dead ends
        for feature in features:
            for problem in feature.lint(f):
                (problems if problem.severity == "error" else parsed.ignored).append(problem)
    warnings.extend(parsed.ignored)
    refused: dict[str, str] = {}  # decisions of these files that cannot be used -> why
    for f in parsed.dmn_files:  # every FEEL cell of every table, named by rule and column
        try:
            model = dmn.parse(f.text.encode("utf-8"), f.name)
        except dmn.DmnParseError as exc:
            problems.extend(exc.as_problems())
        else:  # a decision that cannot be used is refused on its own, the others deploy
            warnings.extend(replace(p, element_type="dmn", file=f.name) for p in model.refusals)
            refused.update((d.id, d.refused) for d in model.decisions.values() if d.refused)
            for problem in overlap_problems(f):  # rules of a UNIQUE table that match one input
                (overlapping if problem.severity == "error" else warnings).append(problem)
    if problems:  # elements SpiffWorkflow cannot parse: stop before it tries
        return _located(problems + overlapping, parsed), _located(warnings, parsed), parsed

    parser = parser_for(features)
    for f in parsed.bpmn_files:
        try:
            parser.add_bpmn_xml(_parser_copy(f.root, features), filename=f.name)
        except ValidationException as exc:
            problems.append(problem_from_validation(exc, f.name))
        except SpiffWorkflowException as exc:
            problems.append(Problem(message=str(exc), file=f.name))
    if problems:
        return _located(problems + overlapping, parsed), _located(warnings, parsed), parsed
    problems.extend(overlapping)

    for called in _add_called_processes(parser, parsed.bpmn_files, known_processes, features):
        (warnings if offline else problems).extend(_missing_call(parsed.bpmn_files, called, offline))
    decisions = {
        d.get("id") for f in parsed.dmn_files for d in f.root.iter(f"{{{etree.QName(f.root).namespace}}}decision")
    }
    decisions |= set(known_decisions or ())
    message_keys = {k: v for f in parsed.bpmn_files for k, v in correlation_keys(f.root).items()}
    names = {f.name: f for f in parsed.bpmn_files}
    linted: set[str] = set()
    for f in parsed.bpmn_files:
        for process in _executable_processes(f):
            key = process.get("id")
            try:
                spec = parser.get_spec(key)
                subprocess_specs = parser.get_subprocess_specs(key)
            except ValidationException as exc:
                problems.append(problem_from_validation(exc, f.name))
                continue
            except SpiffWorkflowException as exc:
                problems.append(Problem(message=str(exc), element_id=key, element_type="bpmn:process", file=f.name))
                continue
            message_starts = prepare_message_events([spec, *subprocess_specs.values()], message_keys)
            for feature in features:
                feature.prepare_specs([spec, *subprocess_specs.values()], [b.root for b in parsed.bpmn_files])
            # Each process of these files once, in its own file; processes deployed earlier were linted then.
            for s in (spec, *subprocess_specs.values()):
                if s.file in names and s.name not in linted:
                    linted.add(s.name)
                    _lint_spec(s, names[s.file], problems, warnings, decisions, offline, beans)
                    problems.extend(_calls_of_refused_decisions(s, s.file, refused))
                    for problem in link_forms(s, parsed.forms, None if offline else known_forms, s.file):
                        (problems if problem.severity == "error" else warnings).append(problem)
            parsed.processes.append(ParsedProcess(f, key, spec, subprocess_specs, message_starts))
    for f in parsed.bpmn_files:  # after parsing, so the other problems of the file are listed too
        problems.extend(event_subprocess_starts(f))
    if not parsed.processes and not parsed.dmn_files and not parsed.forms and not problems:
        problems.append(
            Problem(
                message="no executable process found (isExecutable is false everywhere); mark the process to run "
                'as executable (isExecutable="true", "Executable" in Camunda Modeler)',
                file=parsed.bpmn_files[0].name if len(parsed.bpmn_files) == 1 else None,
            )
        )
    return _located(problems, parsed), _located(warnings, parsed), parsed


def _calls_of_refused_decisions(spec, file: str, refused: dict[str, str]) -> list[Problem]:
    """A business rule task calling a decision of these files that cannot be used would only fail at run time."""
    return [
        Problem(
            message=f"decision '{task.decision_ref}' cannot be used: {refused[task.decision_ref]}",
            element_id=task.bpmn_id,
            element_type="bpmn:businessRuleTask",
            file=file,
        )
        for task in spec.task_specs.values()
        if isinstance(task, DecisionTask) and task.decision_ref in refused
    ]


def _parser_copy(root: etree._Element, features: Sequence[Feature]) -> etree._Element:
    """The copy of a diagram SpiffWorkflow parses: timer literals quoted, data stores left out. The stored XML
    stays as drawn; deepcopy keeps the line numbers."""
    copy = deepcopy(root)
    quote_timer_literals(copy)
    apply_called_elements(copy)
    apply_form_properties(copy)
    strip_data_stores(copy)
    for feature in features:  # timer start events fired by orderflow, compensation handlers on their activities
        feature.prepare_xml(copy)
    return copy


def _located(problems: list[Problem], parsed: Parsed) -> list[Problem]:
    """Point every problem at its element's line, and name the element's type as the XML does (bpmn:…). Each
    problem once."""
    files = parsed.bpmn_files + parsed.dmn_files
    seen = set()
    problems = [p for p in problems if _key(p) not in seen and not seen.add(_key(p))]
    order = {f.name: i for i, f in enumerate(files)}
    for problem in problems:
        if not problem.element_id:
            continue
        candidates = [f for f in files if f.name == problem.file] if problem.file else files
        for f in candidates:
            found = f.root.xpath("//*[@id=$id]", id=problem.element_id)
            if found:
                problem.file = f.name
                problem.line = problem.line or found[0].sourceline
                problem.element_type = element_type_of(found[0])
                problem.element_name = problem.element_name or label_of(found[0])
                break
    return sorted(problems, key=lambda p: (order.get(p.file, len(order)), p.line or 0))


def _key(problem: Problem) -> tuple:
    return tuple(problem.as_dict().values())


def _executable_processes(loaded: LoadedFile) -> list[etree._Element]:
    return [p for p in loaded.root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "true") != "false"]


def _call_activities(root: etree._Element) -> list[etree._Element]:
    """The call activities of the executable processes (what a non-executable process calls never runs)."""
    return [
        c
        for p in root.iter(f"{{{BPMN_NS}}}process")
        if p.get("isExecutable", "true") != "false"
        for c in p.iter(f"{{{BPMN_NS}}}callActivity")
        if called_element(c)
    ]


def _called_elements(root: etree._Element) -> set[str]:
    return {called_element(c) for c in _call_activities(root)}


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_expression(source: str, mode: str, task_spec, file: str, problems: list[Problem], flow=None) -> None:
    try:
        dialect = expressions.dialect_of(source)
        expressions.check(source, mode)
    except expressions.ExpressionError as exc:
        message = str(exc)
        if flow is not None:  # a gateway's condition: name the flow, point at its condition
            message = f"condition of flow '{flow.get('id')}': {message}"
            if dialect == expressions.PYTHON and "syntax" in message:
                message += "; write conditions in JUEL (${…}), FEEL (=…) or Python over the process variables"
        condition = flow.find(f"{{{BPMN_NS}}}conditionExpression") if flow is not None else None
        problems.append(
            Problem(
                message=message,
                element_id=task_spec.bpmn_id,
                file=file,
                line=(condition if condition is not None else flow).sourceline if flow is not None else None,
            )
        )


def _lint_mappings(task_spec, file: str, problems: list[Problem]) -> None:
    """Input and output mappings are expressions too: refused at deploy like the others, not first at run time."""
    for kind, target, source in mappings.expressions_in(getattr(task_spec, "extensions", None)):
        try:
            expressions.check(source, "eval")
        except expressions.ExpressionError as exc:
            problems.append(
                Problem(message=f"{kind} mapping '{target}': {exc}", element_id=task_spec.bpmn_id, file=file)
            )


def _lint_spec(
    spec,
    file: LoadedFile,
    problems: list[Problem],
    warnings: list[Problem],
    decisions: set[str],
    offline: bool,
    beans: Beans | None = None,
) -> None:
    for task_spec in spec.task_specs.values():
        if getattr(task_spec, "bpmn_id", None) is None:
            continue
        _lint_mappings(task_spec, file.name, problems)
        event = getattr(task_spec, "event_definition", None)
        if isinstance(event, ScopedConditionalEventDefinition):
            _check_expression(event.expression or "", "eval", task_spec, file.name, problems)
            _lint_bean_calls(event.expression or "", task_spec, file.name, warnings, beans, offline, "condition")
        if isinstance(task_spec, ScriptTask):
            _check_expression(task_spec.script or "", "exec", task_spec, file.name, problems)
        elif isinstance(task_spec, (ExclusiveGateway, InclusiveGateway)):
            for condition, target in task_spec.cond_task_specs:
                if condition is not None:  # SpiffWorkflow wraps the text in a condition operator
                    flow = _flow(file, task_spec.bpmn_id, getattr(target, "bpmn_id", None) or target)
                    _check_expression(condition.args[0], "eval", task_spec, file.name, problems, flow)
                    what = f"condition of flow '{flow.get('id') if flow is not None else target}'"
                    _lint_bean_calls(condition.args[0], task_spec, file.name, warnings, beans, offline, what, flow)
        elif isinstance(task_spec, DecisionTask) and task_spec.decision_ref not in decisions:
            if offline:
                message = (
                    f"decision '{task_spec.decision_ref}' is not in these files; it must be deployed before this "
                    "diagram, or deploy its DMN file with it"
                )
            else:
                message = (
                    f"decision '{task_spec.decision_ref}' is not deployed: deploy its DMN file with the diagram or "
                    "before it"
                )
            (warnings if offline else problems).append(
                Problem(
                    message=message,
                    element_id=task_spec.bpmn_id,
                    file=file.name,
                    severity="warning" if offline else "error",
                )
            )
        elif isinstance(task_spec, ServiceTask):
            topic = ((task_spec.extensions or {}).get("topic") or "").strip()
            if expressions.dialect_of(topic) != expressions.PYTHON:  # a job type evaluated per job
                _check_expression(topic, "eval", task_spec, file.name, problems)
            _lint_service_task(task_spec, file.name, warnings, beans, offline)


def _lint_bean_calls(
    source: str,
    task_spec,
    file: str,
    warnings: list[Problem],
    beans: Beans | None,
    offline: bool,
    what: str,
    flow: etree._Element | None = None,
) -> None:
    """A warning per bean method an expression calls that is not registered (offline: per bean method it calls):
    an instance that evaluates it stops with an incident there."""
    try:
        calls = expressions.bean_calls(source)
    except expressions.ExpressionError:
        return  # a syntax error is reported as such
    for bean, method in calls if offline else missing(calls, beans):
        if offline:
            message = (
                f"{what} calls bean method {bean}.{method}(): the server must have a bean '{bean}' with a method "
                f"'{method}' registered (ORDERFLOW_BEANS), or an instance stops with an incident here"
            )
        else:
            message = (
                f"{what} calls {bean}.{method}(), which is not a registered bean method: register a bean '{bean}' "
                f"with a method '{method}' (ORDERFLOW_BEANS), or an instance stops with an incident here"
            )
        line = flow.sourceline if flow is not None else None
        condition = flow.find(f"{{{BPMN_NS}}}conditionExpression") if flow is not None else None
        line = condition.sourceline if condition is not None else line
        warnings.append(
            Problem(message=message, element_id=task_spec.bpmn_id, file=file, line=line, severity="warning")
        )


def _flow(file: LoadedFile, source: str, target: str) -> etree._Element | None:
    """The sequence flow from one element to another (a gateway's conditions are kept by target)."""
    found = file.root.xpath(
        "//bpmn:sequenceFlow[@sourceRef=$source and @targetRef=$target]",
        namespaces={"bpmn": BPMN_NS},
        source=source,
        target=target,
    )
    return found[0] if found else None


def _lint_service_task(
    task_spec, file: str, warnings: list[Problem], beans: Beans | None = None, offline: bool = True
) -> None:
    extensions = task_spec.extensions or {}
    topic = topic_of(task_spec)
    kind = (task_spec.description or "service task").lower()  # send and business rule tasks are jobs too
    try:
        calls = [] if extensions.get("topic") else expressions.bean_calls(extensions.get("expression") or "")
    except expressions.ExpressionError:
        calls = []
    absent = calls if offline else missing(calls, beans)
    if calls and not absent:
        return  # its beans are registered: it runs in the engine
    if absent:
        named = ", ".join(f"{bean}.{method}()" for bean, method in absent)
        where = "the server has them" if offline else "they are"
        message = (
            f"{kind} calls bean method(s) {named}: when {where} registered (ORDERFLOW_BEANS) it runs in the "
            f"engine; until then it becomes an external-worker job on topic '{topic}': have a worker take that topic"
        )
    elif topic is None:
        message = (
            f"{kind} has no camunda:topic (or zeebe:taskDefinition type); an instance reaching it will stop "
            'with an incident; set camunda:type="external" and camunda:topic to the topic a worker takes'
        )
    elif not extensions.get("topic"):
        implementation = next(a for a in IMPLEMENTATIONS if (extensions.get(a) or "").strip())
        message = (
            f"{kind} is implemented in Java (camunda:{implementation}), which orderflow does not run; it "
            f"becomes an external-worker job on topic '{topic}': have a worker or connector take that topic"
        )
    else:
        return
    warnings.append(Problem(message=message, element_id=task_spec.bpmn_id, file=file, severity="warning"))


def deploy(engine: Engine, files: list[tuple[str, bytes]], actor: str | None = None) -> DeploymentResult:
    """Deploy BPMN and DMN files together. Raises DeploymentRejected listing every problem at once."""
    if not files:
        raise InvalidInput("no files: upload at least one .bpmn, .dmn or .form file")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"{len(files)} files is more than the {MAX_FILES} allowed in one deployment")
    for name, data in files:  # refuse unreadable files before taking the deploy lock
        load_form(name, data, MAX_FILE_BYTES) if is_form_file(name) else load_xml(name, data)

    with engine.write_session() as session:
        # Concurrent deploys take turns, so the second sees the first's versions (identical content is reused).
        serialize_on(session, "orderflow.deploy")
        problems, warnings, parsed = lint_files(
            files,
            known_processes=lambda key: _deployed_process(session, key),
            known_decisions=session.scalars(select(DecisionDefinition.key).distinct()),
            features=engine.features,
            beans=engine.settings.beans,
            known_forms=lambda form_id: _deployed_form(session, form_id),
        )
        if problems:
            raise DeploymentRejected(problems=problems + parsed.ignored)

        deployment = Deployment(created_by=actor)
        session.add(deployment)
        session.flush()
        result = DeploymentResult(deployment_id=deployment.id, warnings=warnings)
        scheduled = []
        for p in parsed.processes:
            definition = _version_process(
                engine, session, deployment, p.file, p.key, p.spec, p.subprocess_specs, p.message_starts
            )
            result.definitions.append(definition)
            if definition["isNew"]:  # a new version takes over the timer start events' schedules
                scheduled.extend(schedules.replace(session, definition["id"], p.key, p.file.root))
        for f in parsed.dmn_files:
            for decision in f.root.iter(f"{{{etree.QName(f.root).namespace}}}decision"):
                result.decisions.append(_version_decision(session, deployment, f, decision))
        for form in parsed.forms.values():
            result.forms.append(_version_form(session, deployment, form))
        try:
            session.commit()
        except IntegrityError as exc:
            raise Conflict("the same process was deployed concurrently; deploy again") from exc
    if scheduled:
        engine.dispatcher.dispatch(scheduled)
    return result


def _deployed_process(session: Session, key: str) -> tuple[str, str] | None:
    definition = latest_definition(session, key)
    return None if definition is None else (definition.resource_name, definition.xml)


def _add_called_processes(
    parser: OrderflowParser,
    bpmn_files: list[LoadedFile],
    known_processes: ProcessLookup | None,
    features: Sequence[Feature],
) -> set[str]:
    """Call activities may call processes deployed earlier: add the latest version of each to the parser. A process
    found nowhere gets an empty stand-in, so the caller still parses and is linted; returns their keys."""
    known = {p.get("id") for f in bpmn_files for p in f.root.iter(f"{{{BPMN_NS}}}process")}
    wanted = set().union(*(_called_elements(f.root) for f in bpmn_files))
    missing = set()
    while wanted - known:
        key = (wanted - known).pop()
        known.add(key)
        found = known_processes(key) if known_processes is not None else None
        if found is None:
            missing.add(key)
            parser.add_bpmn_xml(_stand_in(key), filename=f"(missing process {key})")
            continue
        resource_name, xml = found
        root = load_xml(resource_name, xml.encode("utf-8")).root  # read as at its deploy (Activiti namespace)
        parser.add_bpmn_xml(_parser_copy(root, features), filename=resource_name)
        wanted |= _called_elements(root)
    return missing


def _stand_in(key: str) -> etree._Element:
    """An empty process with the given key (start, end), standing in for a called process that is not known."""
    bpmn = f"{{{BPMN_NS}}}"
    root = etree.Element(bpmn + "definitions", nsmap={"bpmn": BPMN_NS}, id="orderflow_stand_in", targetNamespace="x")
    process = etree.SubElement(root, bpmn + "process", id=key, isExecutable="true")
    etree.SubElement(process, bpmn + "startEvent", id="stand_in_start")
    etree.SubElement(
        process, bpmn + "sequenceFlow", id="stand_in_flow", sourceRef="stand_in_start", targetRef="stand_in_end"
    )
    etree.SubElement(process, bpmn + "endEvent", id="stand_in_end")
    return root


def _missing_call(bpmn_files: list[LoadedFile], called: str, offline: bool) -> list[Problem]:
    """A call to a process that is nowhere, pointing at each call activity that makes it."""
    if offline:
        message = f"call activity calls process '{called}', which is not in these files; it must be deployed first"
    else:
        message = f"call activity calls process '{called}', which is neither in this deployment nor deployed"
    if any(f.root.xpath("//*[local-name()='globalTask' and @id=$id]", id=called) for f in bpmn_files):
        message = f"call activity calls global task '{called}'; only processes can be called: call a process instead"
    severity = "warning" if offline else "error"
    found = [
        Problem(message=message, element_id=element.get("id"), file=f.name, line=element.sourceline, severity=severity)
        for f in bpmn_files
        for element in _call_activities(f.root)
        if called_element(element) == called
    ]
    # Called only by a process deployed earlier: name the process that is missing.
    return found or [Problem(message=f"process '{called}' is called but not deployed", severity=severity)]


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


def _deployed_form(session: Session, form_id: str) -> dict | None:
    latest = _latest(session, FormDefinition, form_id)
    return None if latest is None else json.loads(latest.xml)


def _version_form(session: Session, deployment, form: LoadedForm) -> dict[str, Any]:
    definition, is_new = _versioned(session, FormDefinition, form.id, deployment, form, lambda: {"name": form.id})
    return {"id": definition.id, "key": definition.key, "version": definition.version, "isNew": is_new}


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
