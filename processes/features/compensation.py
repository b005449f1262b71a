"""Compensation: undoing what completed activities did, as BPMN and Camunda define it.

SpiffWorkflow 3.2 has no compensation: it refuses compensation boundary events and passes straight through a
compensation throw event. orderflow runs it:

- a compensation boundary event on an activity, associated with a handler (an activity with `isForCompensation`),
  says how to undo that activity. Handlers are service tasks: jobs for a connector or an external worker;
- when such an activity completes, the engine remembers it with the variables it completed with. Its handler later
  sees the process's variables as they are then, with those values on top (the process may have moved on, or been
  interrupted, since);
- a compensation throw event (`intermediateThrowEvent` or `endEvent` with `compensateEventDefinition`) runs the
  handlers of the activities completed in its scope, the last completed first, one at a time, each once, and waits
  for them. Its scope is the (sub)process it is drawn in; drawn in an event subprocess, the scope the event
  subprocess belongs to. `activityRef` limits it to one activity. What a handler returns becomes the throw event's
  variables.

Handler failures behave like any job's: retries, then an incident on the throw event; a BPMN error a handler throws
is an incident too (there is nothing to catch it). At deploy, the copy of the diagram SpiffWorkflow parses carries
the handler on its activity (`orderflow.compensation`) and the throw event as a service task that orderflow runs."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.task import TaskState

from processes.core.engine import JOB_KEY
from processes.core.feature import Feature
from processes.core.models import utcnow
from processes.core.spiff import data_changed, tasks_in
from processes.deployment.parser import IMPLEMENTATIONS, _problem, implementation_topic, io_mappings
from processes.errors import Problem
from processes.expressions import mappings
from processes.jobs.service_tasks import service_job

if TYPE_CHECKING:
    from processes.core.records import JobRecord
    from processes.core.step import Step
    from processes.deployment.parser import LoadedFile

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
BINDING = "orderflow.compensation"  # on a compensable activity's spec: its handler (JSON in the parse copy)
THROW = "orderflow.compensate"  # on a throw event's spec: the activityRef, or "" for every activity in scope
TOPIC = "orderflow.compensate"  # the throw event's topic in the parse copy: never a job of its own
LEDGER = "orderflow.compensation"  # in the root task's internal data: the completed activities, in order
REMEMBERED = "orderflow.compensable"  # in a completed compensable task's internal data, once it is in the ledger
COMPENSABLE = ("serviceTask", "scriptTask", "userTask", "businessRuleTask", "sendTask", "receiveTask", "task")

_b = f"{{{BPMN_NS}}}"


# -- deploy -----------------------------------------------------------------------------------------------


def _compensate(element: etree._Element) -> etree._Element | None:
    return element.find(f"{_b}compensateEventDefinition")


def _handlers(root: etree._Element) -> dict[str, tuple[etree._Element, etree._Element | None]]:
    """Compensation boundary event id -> (the boundary event, its handler or None)."""
    by_id = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    found = {}
    for boundary in root.iter(f"{_b}boundaryEvent"):
        if _compensate(boundary) is None:
            continue
        handler = None
        for association in root.iter(f"{_b}association"):
            if association.get("sourceRef") == boundary.get("id"):
                handler = by_id.get(association.get("targetRef"))
        found[boundary.get("id")] = (boundary, handler)
    return found


def _binding(handler: etree._Element) -> dict[str, Any]:

    extension = handler.find(f"{_b}extensionElements")
    cycle = extension.find(f"{{{CAMUNDA_NS}}}failedJobRetryTimeCycle") if extension is not None else None
    definition = extension.find(f"{{{ZEEBE_NS}}}taskDefinition") if extension is not None else None
    topic = handler.get(f"{{{CAMUNDA_NS}}}topic") or (definition.get("type") if definition is not None else None)
    binding = {"handler": handler.get("id"), "name": handler.get("name"), "topic": topic, **io_mappings(handler)}
    for attribute in IMPLEMENTATIONS:  # a Java implementation names the job's topic when it has none
        if (handler.get(f"{{{CAMUNDA_NS}}}{attribute}") or "").strip():
            binding[attribute] = handler.get(f"{{{CAMUNDA_NS}}}{attribute}")
    if cycle is not None and (cycle.text or "").strip():
        binding["retryCycle"] = cycle.text.strip()
    return binding


def _is_job(handler: etree._Element) -> bool:
    """Whether a handler is work orderflow gives a job: a service or send task, or a business rule task implemented
    like one (not by a decision), with a topic or an implementation that names it."""
    kind = etree.QName(handler).localname
    if kind == "businessRuleTask" and handler.get(f"{{{CAMUNDA_NS}}}decisionRef"):
        return False
    jobs = ("serviceTask", "sendTask", "businessRuleTask")
    return kind in jobs and implementation_topic(_binding(handler)) is not None


def prepare_copy(root: etree._Element) -> None:
    """The parse copy: each compensable activity carries its handler as a camunda property; compensation boundary
    events, their associations and the handlers leave the flow; throw events become tasks the engine runs."""
    by_id = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    for boundary, handler in _handlers(root).values():
        activity = by_id.get(boundary.get("attachedToRef"))
        if activity is not None and handler is not None:
            _set_property(activity, BINDING, json.dumps(_binding(handler)))
        for association in list(root.iter(f"{_b}association")):
            if association.get("sourceRef") == boundary.get("id"):
                association.getparent().remove(association)
        boundary.getparent().remove(boundary)
        if handler is not None and handler.getparent() is not None:
            handler.getparent().remove(handler)
    # A compensation end event is the same throw event with nothing after it: the scope ends once the handlers ran.
    for throw in list(root.iter(f"{_b}intermediateThrowEvent", f"{_b}endEvent")):
        definition = _compensate(throw)
        if definition is None:
            continue
        throw.remove(definition)
        throw.tag = f"{_b}serviceTask"
        throw.set(f"{{{CAMUNDA_NS}}}topic", TOPIC)
        _set_property(throw, THROW, definition.get("activityRef") or "")


def _set_property(element: etree._Element, name: str, value: str) -> None:
    extension = element.find(f"{_b}extensionElements")
    if extension is None:
        extension = etree.Element(f"{_b}extensionElements")
        element.insert(0, extension)
    properties = extension.find(f"{{{CAMUNDA_NS}}}properties")
    if properties is None:
        properties = etree.SubElement(extension, f"{{{CAMUNDA_NS}}}properties")
    etree.SubElement(properties, f"{{{CAMUNDA_NS}}}property", name=name, value=value)


def lint(loaded: LoadedFile) -> list[Problem]:
    """What orderflow cannot run of a diagram's compensation, each at its element."""

    problems = []
    root = loaded.root
    by_id = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    compensable = set()
    for boundary, handler in _handlers(root).values():
        activity = by_id.get(boundary.get("attachedToRef"))
        if activity is not None and etree.QName(activity).localname not in COMPENSABLE:
            problems.append(
                _problem(
                    loaded,
                    boundary,
                    f"compensation of a {etree.QName(activity).localname} is not supported; attach compensation "
                    "boundary events to the tasks inside it",
                )
            )
        compensable.add(boundary.get("attachedToRef"))
        if handler is None:
            problems.append(
                _problem(
                    loaded,
                    boundary,
                    "compensation boundary event has no handler: connect it with an association to a task marked "
                    "for compensation (isForCompensation)",
                )
            )
        elif not _is_job(handler):
            problems.append(
                _problem(
                    loaded,
                    handler,
                    "compensation handlers must be service, send or business rule tasks with a topic (camunda:topic "
                    "or zeebe:taskDefinition type) or a Java implementation (camunda:class, camunda:expression, "
                    "camunda:delegateExpression): orderflow runs them as jobs",
                )
            )
        elif not _binding(handler)["topic"]:
            binding = _binding(handler)
            implementation = next(a for a in IMPLEMENTATIONS if a in binding)
            problems.append(
                _problem(
                    loaded,
                    handler,
                    f"compensation handler is implemented in Java (camunda:{implementation}), which orderflow does "
                    f"not run; it becomes an external-worker job on topic '{implementation_topic(binding)}': have a "
                    "worker or connector take that topic",
                    severity="warning",
                )
            )
    for element in root.iter():
        if not isinstance(element.tag, str) or _compensate(element) is None:
            continue
        kind = etree.QName(element).localname
        if kind in ("intermediateThrowEvent", "endEvent"):
            ref = _compensate(element).get("activityRef")
            if ref and ref not in compensable:
                problems.append(
                    _problem(
                        loaded,
                        element,
                        f"activityRef '{ref}' names no activity with a compensation boundary event",
                    )
                )
        elif kind == "startEvent":
            problems.append(
                _problem(
                    loaded,
                    element,
                    "compensation event subprocesses are not supported: attach handlers to the activities with "
                    "compensation boundary events instead",
                )
            )
    return problems


# -- run ----------------------------------------------------------------------------------------------------

_uses_compensation: WeakKeyDictionary = WeakKeyDictionary()


def _in_use(workflow) -> bool:
    spec = workflow.spec
    if spec not in _uses_compensation:
        specs = [spec, *workflow.subprocess_specs.values()]
        _uses_compensation[spec] = any(BINDING in _own(t) for s in specs for t in s.task_specs.values())
    return _uses_compensation[spec]


def settle(step: Step) -> bool:
    """Within a step: remember compensable activities that completed, start the next handler of each compensation
    throw event, complete those with nothing (left) to compensate. True when the engine should run again."""
    workflow = step.workflow
    if not _in_use(workflow):
        return False

    ledger = workflow.task_tree.internal_data.setdefault(LEDGER, [])
    for task in tasks_in(workflow, TaskState.COMPLETED):
        binding = _own(task.task_spec).get(BINDING)
        if binding and not task.internal_data.get(REMEMBERED):
            task.internal_data[REMEMBERED] = True
            ledger.append(
                {
                    "taskId": str(task.id),
                    "activity": task.task_spec.bpmn_id,
                    "scopes": _scopes(task.workflow),
                    "binding": json.loads(binding),
                    "data": deepcopy(task.data),
                    "state": "owed",
                }
            )
    progressed = False
    for task in tasks_in(workflow, TaskState.STARTED):
        extensions = _own(task.task_spec)
        if THROW not in extensions or task.internal_data.get(JOB_KEY):
            continue
        entry = _next(ledger, _throw_scope(task), extensions[THROW])
        if entry is not None:
            _start_handler(step, task, entry)
        elif step.incident is None:
            task.complete()
            step.record("element_completed", task, data_changed(task) or None)
            progressed = True
    return progressed


def _next(ledger: list[dict[str, Any]], scope: str, activity: str) -> dict[str, Any] | None:
    """The last completed activity of the scope still to compensate (BPMN: in reverse order of completion)."""
    for entry in reversed(ledger):
        if entry["state"] == "owed" and scope in entry["scopes"] and (not activity or entry["activity"] == activity):
            return entry
    return None


def _start_handler(step: Step, task, entry: dict[str, Any]) -> None:

    binding = entry["binding"]
    # The handler sees the process as it is now, with the values its activity completed with on top.
    data = {**task.data, **entry["data"]}
    topic = implementation_topic(binding)
    job = service_job(step, task, topic, utcnow(), extensions=binding, data=data, element_id=binding["handler"])
    if job is None:  # its input mapping failed: an incident; retrying it tries again
        task.internal_data[JOB_KEY] = None  # the throw event is never a job of its own
        return
    entry["state"], entry["jobId"] = "running", job.id
    task.internal_data[JOB_KEY] = job.id
    step.record(
        "compensation_started",
        task,
        {"activity": entry["activity"], "handler": binding["handler"], "jobId": job.id, "topic": job.topic},
    )


def handles(task, job: JobRecord) -> bool:
    """Whether a job is a compensation handler's, run for this throw event."""
    return THROW in _own(task.task_spec) and job.element_id != task.task_spec.bpmn_id


def _own(task_spec) -> dict[str, Any]:
    """A task spec's extensions, when they are its own: SpiffWorkflow gives a subprocess the camunda properties of
    every element inside it too."""
    if isinstance(task_spec, SubWorkflowTask):
        return {}
    return getattr(task_spec, "extensions", None) or {}


def handler_done(step: Step, task, job: JobRecord, variables: dict[str, Any]) -> None:
    """Within a step: a handler's job completed. Its results become the throw event's variables; the next handler
    starts when the engine settles (`settle`)."""

    ledger = step.workflow.task_tree.internal_data.get(LEDGER, [])
    entry = next((e for e in ledger if e.get("jobId") == job.id), None)
    binding = entry["binding"] if entry is not None else {}
    produced = mappings.outputs(binding, {**job.variables, **variables})
    task.data.update(variables if produced is None else produced)
    if entry is not None:
        entry["state"] = "done"
    task.internal_data.pop(JOB_KEY, None)
    step.record(
        "compensation_completed",
        task,
        {
            "activity": entry["activity"] if entry else None,
            "handler": job.element_id,
            "variables": variables if produced is None else produced,
        },
    )


def _scopes(workflow) -> list[str]:
    """The scopes an element runs in, innermost first: subprocesses by their task id, then "top"."""
    scopes = []
    while getattr(workflow, "parent_task_id", None) is not None:
        scopes.append(workflow.parent_task_id.hex)
        workflow = workflow.parent_workflow
    return [*scopes, "top"]


def _throw_scope(task) -> str:
    """The scope a throw event compensates: its own, or for an event subprocess the scope that holds it."""
    workflow = task.workflow
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is not None:
        parent = workflow.parent_workflow
        holder = parent.get_task_from_id(parent_id) if parent_id in parent.tasks else None
        if holder is not None and holder.task_spec.name in (getattr(parent.spec.start, "trigger_specs", None) or []):
            workflow = parent
    return _scopes(workflow)[0]


class Compensation(Feature):
    """Compensation boundary events, handlers and throw events (see the module's docstring)."""

    def prepare_xml(self, root: etree._Element) -> None:
        prepare_copy(root)  # handlers onto their activities, throw events run by orderflow

    def lint(self, loaded: LoadedFile) -> list[Problem]:
        return lint(loaded)

    def settle(self, step: Step) -> bool:
        # Even after an incident: the ledger remembers what completed, and the throw events are this feature's.
        return settle(step)

    def job_result(self, step: Step, task, job: JobRecord, variables: dict[str, Any]) -> bool:
        if not handles(task, job):  # one handler of a compensation throw event, which waits for all
            return False
        handler_done(step, task, job, variables)
        return True
