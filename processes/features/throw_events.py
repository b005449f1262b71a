"""What throw events throw: errors, escalations, signals and messages, with BPMN's semantics; and link events.

SpiffWorkflow 3.2 throws these inside `do_engine_steps`, where it cannot do what BPMN asks: an error end event skips
the error event subprocesses of its scope, an uncaught error or signal is kept in a list nobody reads, a message throw
event evaluates its payload as a Python expression and fails. So an error, escalation, signal or message throw event
(intermediate or end) waits in STARTED when the engine reaches it (`HeldEndEvent`, `HeldThrowEvent`), and this
feature throws it when the engine settles:

- an **error** goes from the innermost scope outwards: an event subprocess of the scope that starts on its code (or on
  every error), then the boundary events of the enclosing activity, then that activity's scope, and so on. Nothing
  catching it is an incident at the throw event. BPMN errors of jobs and run-out retries go the same way after the
  boundary events on the job's task (`uncaught_error`);
- an **escalation** goes the same way; an interrupting catch ends the scope (the throw event with it), a
  non-interrupting one lets the flow go on, and an escalation nobody catches is only recorded;
- a **signal** reaches every element of the instance waiting for it at once, and every other instance after the step
  committed (processes/features/signals.py);
- a **message** is published after the step committed (a `publish` job, so the step delivering it into another order
  never runs under this one's lock): to the order waiting for it, routed as `POST /api/v1/messages` routes it, by
  name and the receiver's business key or correlation key. With an implementation (`camunda:type="external"` and a
  topic, `camunda:class`/`expression`/`delegateExpression`, `zeebe:taskDefinition`) it is a job for a worker instead,
  and the event completes when the worker does.

A message's routing: the inputs of its input mapping (`camunda:inputOutput`, `zeebe:ioMapping`) are its variables,
except `businessKey` and `correlationKey`, which route it; without them, the correlation key of the message's
`zeebe:subscription` evaluated on the sender's variables, else the sender's own business key.

**Link events** are a drawing aid: in the copy SpiffWorkflow parses, each link throw event gets a sequence flow to
the link catch event of the same name in its (sub)process."""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import SIGNAL_EVENT_XPATH
from SpiffWorkflow.bpmn.specs.defaults import EndEvent, IntermediateThrowEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.task import TaskState

from processes import expressions
from processes.core import spiff
from processes.core.engine import JOB_KEY
from processes.core.feature import Feature
from processes.core.models import JOB_DONE, JOB_LOCKED, PUBLISH, new_id, utcnow
from processes.core.records import JobRecord
from processes.deployment.parser import IMPLEMENTATIONS, ZEEBE_NS, _problem, io_mappings
from processes.errors import Problem
from processes.expressions import mappings
from processes.features import event_subprocesses, signals
from processes.features.messages import correlation_keys
from processes.jobs.service_tasks import service_job

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step
    from processes.core.transport import ClaimedJob
    from processes.deployment.parser import LoadedFile

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HELD = (ErrorEventDefinition, EscalationEventDefinition, SignalEventDefinition, MessageEventDefinition)
THROWN = "orderflow.thrown"  # in a held throw event's internal data, once this feature threw it
MESSAGE_TOPIC = "orderflow.message"  # a publish job's topic: deliver a message
SIGNAL_TOPIC = "orderflow.signal"  # a publish job's topic: broadcast a signal
PUBLISH_ATTEMPTS = 5  # a message may find its receiver only a moment later: try again with backoff

_b = f"{{{BPMN_NS}}}"


class HeldEndEvent(EndEvent):
    """An end event that throws an error, escalation, signal or message: it waits in STARTED for this feature."""

    def _run_hook(self, my_task):
        if not isinstance(self.event_definition, HELD):
            return spiff.run_hook_of(HeldEndEvent, self, my_task)
        spiff.run_hook_of(ThrowingEvent, self, my_task)  # the task's own work, without SpiffWorkflow's throw
        return None


class HeldThrowEvent(IntermediateThrowEvent):
    """An intermediate throw event of an error, escalation, signal or message: it waits in STARTED for this feature."""

    def _run_hook(self, my_task):
        if not isinstance(self.event_definition, HELD):
            return spiff.run_hook_of(HeldThrowEvent, self, my_task)
        spiff.run_hook_of(ThrowingEvent, self, my_task)
        return None


HELD_TAGS = ("errorEventDefinition", "escalationEventDefinition", "signalEventDefinition", "messageEventDefinition")


# Serialized and shown under SpiffWorkflow's names (its serializer knows spec classes by name): a spec stays readable
# by a core without this feature, and audit events and active elements say EndEvent and IntermediateThrowEvent.
HeldEndEvent.__name__ = EndEvent.__name__
HeldThrowEvent.__name__ = IntermediateThrowEvent.__name__


def _with_implementation(parser_class: type, base: type, held: type, end_event: bool) -> type:
    class ThrowEventParser(parser_class):
        """Keeps a message throw event's implementation (Camunda 7 puts it on the message event definition) and
        its input mapping; reads signal end events (SpiffWorkflow parses them as none end events). Only the events
        this feature throws get its spec class: the others stay SpiffWorkflow's."""

        def create_task(self):
            throws = any(self.node.find(f"{_b}{tag}") is not None for tag in HELD_TAGS)
            self.spec_class = held if throws else base
            if not end_event or self.node.find(f"{_b}signalEventDefinition") is None:
                return super().create_task()
            task = spiff.create_event_task(self, self.get_event_definition([SIGNAL_EVENT_XPATH]))
            task.connect(self.spec.end)
            return task

        def parse_extensions(self, node=None) -> dict:
            extensions = super().parse_extensions(node)
            node = self.node if node is None else node
            definition = node.find(f"{_b}messageEventDefinition")
            if definition is not None:
                for attribute in ("type", "topic", *IMPLEMENTATIONS):
                    value = definition.get(f"{{{CAMUNDA_MODEL_NS}}}{attribute}")
                    if value:
                        extensions[attribute] = value
            signal = node.find(f"{_b}signalEventDefinition")
            if signal is not None:  # Camunda 7: what a thrown signal carries, `camunda:in` as on call activities
                passed = [
                    {a: entry.get(a) for a in ("source", "sourceExpression", "target", "variables") if entry.get(a)}
                    for entry in signal.iterfind(f"./{_b}extensionElements/{{{CAMUNDA_MODEL_NS}}}in")
                ]
                if passed:
                    extensions["signalIn"] = passed
            task_definition = node.find(f"./{_b}extensionElements/{{{ZEEBE_NS}}}taskDefinition")
            if task_definition is not None and task_definition.get("type"):
                extensions["topic"] = task_definition.get("type")
                if task_definition.get("retries"):
                    extensions["retries"] = task_definition.get("retries")
            extensions.update(io_mappings(node))
            return extensions

    return ThrowEventParser


def implementation_topic(extensions: Mapping[str, Any]) -> str | None:
    """The job topic of a message throw event a worker implements, or None when orderflow delivers the message."""
    return extensions.get("topic") or next(
        (extensions[a].strip() for a in IMPLEMENTATIONS if (extensions.get(a) or "").strip()), None
    )


# -- throwing ----------------------------------------------------------------------------------------------------


def _boundary_catcher(step: Step, activity, event: BpmnEvent):
    """The boundary event on `activity` that catches the event, or None. An instance of a multi-instance activity
    is one task under the activity's own: the boundary events are on that one."""
    activities = [activity]
    while activities[-1].parent is not None and spiff.element_id(activities[-1].parent) == spiff.element_id(activity):
        activities.append(activities[-1].parent)
    for waiting in spiff.tasks_in(step.workflow, TaskState.WAITING):
        for each in activities:
            if waiting.parent is not each.parent or waiting is each:
                continue
            catches = getattr(waiting.task_spec, "catches", None)
            if catches is not None and catches(waiting, event):
                return waiting
    return None


def propagate(step: Step, task, kind: str, code: str | None, message: str = "", *, own_boundaries: bool,
              act: bool = True, payload: dict | None = None) -> tuple[str, bool] | None:  # fmt: skip
    """Throw an error or escalation at `task`, from the innermost scope outwards (see the module's docstring). The
    element that caught it and whether it interrupts, or None. With `act` False, only find it."""
    definition = (ErrorEventDefinition if kind == "error" else EscalationEventDefinition)(code, code=code)
    # A boundary event takes the payload into its variables: the thrower's variables (as SpiffWorkflow throws them),
    # or for a job's error its code and message.
    event = BpmnEvent(definition, {"code": code, "message": message} if payload is None else payload)
    level, boundaries = task, own_boundaries
    while level is not None:
        if boundaries:
            catcher = _boundary_catcher(step, level, event)
            if catcher is not None:
                if act:
                    signals.rearm(catcher)
                    extensions = getattr(catcher.task_spec, "extensions", None) or {}
                    if extensions.get("errorCodeVariable"):
                        catcher.data[extensions["errorCodeVariable"]] = code
                    if extensions.get("errorMessageVariable"):
                        catcher.data[extensions["errorMessageVariable"]] = message
                    catcher.task_spec.catch(catcher, event)
                    spiff.update(catcher)
                return catcher.task_spec.bpmn_id, getattr(catcher.task_spec, "cancel_activity", True) is not False
        scope = level.workflow
        found = event_subprocesses.catching(scope, kind, code)
        if found is not None:
            esp_name, start = found
            if act:
                names = start.event_definition.variables
                variables = {}
                if names.get("errorCodeVariable") or names.get("escalationCodeVariable"):
                    variables[names.get("errorCodeVariable") or names["escalationCodeVariable"]] = code
                if names.get("errorMessageVariable"):
                    variables[names["errorMessageVariable"]] = message
                why = {kind: code, "message": message, "thrownAt": spiff.element_id(task)}
                event_subprocesses.start_triggered(step, scope, esp_name, start, why, variables)
            return start.bpmn_id, (start.extensions or {}).get(event_subprocesses.INTERRUPTING, True)
        parent_id = getattr(scope, "parent_task_id", None)
        level = spiff.find_task(step.workflow, str(parent_id)) if parent_id is not None else None
        boundaries = True
    return None


def _throw(step: Step, task) -> bool:
    """Throw what a held throw event throws. True when the engine should run again."""
    spec = task.task_spec
    definition = spec.event_definition
    task.internal_data[THROWN] = True
    if isinstance(definition, ErrorEventDefinition):
        caught = propagate(
            step,
            task,
            "error",
            definition.code,
            definition.name or "",
            own_boundaries=False,
            payload=deepcopy(task.data),
        )
        by = caught[0] if caught else None
        step.record("bpmn_error", task, {"code": definition.code, "caught": caught is not None, "by": by})
        if caught is None:
            # Thrown again when the incident is retried (the engine runs again: nothing catches it unless the
            # instance was changed meanwhile).
            del task.internal_data[THROWN]
            step.open_incident(
                "uncaught_error",
                f"{definition.code or definition.name}: thrown by {spec.bpmn_id} and not caught (no event subprocess "
                "or boundary event catches it)",
                task=task,
            )
            return False
    elif isinstance(definition, EscalationEventDefinition):
        caught = propagate(step, task, "escalation", definition.code, own_boundaries=False, payload=deepcopy(task.data))
        by = caught[0] if caught else None
        step.record("escalation_thrown", task, {"code": definition.code, "caught": caught is not None, "by": by})
    elif isinstance(definition, SignalEventDefinition):
        variables = _payload(step, task)
        if variables is None:
            return False
        signals.catch(step, definition.name, variables, source=step.instance.id)
        _publish(step, task, SIGNAL_TOPIC, {"name": definition.name, "variables": variables})
        step.record("signal_thrown", task, {"signal": definition.name, "variables": variables})
    elif isinstance(definition, MessageEventDefinition):
        topic = implementation_topic(spec.extensions or {})
        if topic is not None:  # a worker sends it: the event completes when its job does
            job = service_job(step, task, topic)
            task.internal_data[JOB_KEY] = job.id if job is not None else None
            if job is not None:
                step.record("job_created", task, {"jobId": job.id, "topic": topic})
            return False
        message = _message(step, task, definition.name)
        if message is None:
            return False
        _publish(step, task, MESSAGE_TOPIC, message)
        step.record("message_thrown", task, message)
    if task.state == TaskState.STARTED:  # nothing interrupted the throw event's scope: the flow goes on
        task.complete()
        step.record("element_completed", task, spiff.data_changed(task) or None)
    return True


def _payload(step: Step, task) -> dict[str, Any] | None:
    """The variables a throw event sends: its input mapping's and (signals, Camunda 7) its `camunda:in` entries:
    `variables="all"`, `source`/`sourceExpression` to `target`. None (with an incident) when one fails."""
    extensions = task.task_spec.extensions or {}
    try:
        payload = {}
        for entry in extensions.get("signalIn") or []:
            if entry.get("variables") == "all":
                payload.update(deepcopy(task.data))
            elif entry.get("target") and entry.get("sourceExpression"):
                payload[entry["target"]] = expressions.evaluate(entry["sourceExpression"], task.data)
            elif entry.get("target") and entry.get("source") in task.data:
                payload[entry["target"]] = deepcopy(task.data[entry["source"]])
        payload.update(mappings.inputs(extensions, task.data))
        return payload
    except expressions.ExpressionError as exc:
        step.open_incident("mapping_error", f"input mapping of {task.task_spec.bpmn_id}: {exc}", task=task)
        return None


def _message(step: Step, task, name: str) -> dict[str, Any] | None:
    variables = _payload(step, task)
    if variables is None:
        return None
    business_key = variables.pop("businessKey", None)
    correlation_key = variables.pop("correlationKey", None)
    key_expression = (task.task_spec.extensions or {}).get("correlationKey")
    if correlation_key is None and key_expression:
        try:
            correlation_key = expressions.evaluate(key_expression, task.data)
        except expressions.ExpressionError as exc:
            step.open_incident("mapping_error", f"correlation key of message '{name}': {exc}", task=task)
            return None
    if business_key is None and correlation_key is None:
        business_key = step.instance.business_key
    return {
        "name": name,
        "businessKey": None if business_key is None else str(business_key),
        "correlationKey": None if correlation_key is None else str(correlation_key),
        "variables": variables,
    }


def _publish(step: Step, task, topic: str, payload: dict[str, Any]) -> None:
    """The outbox: a job that delivers after this step committed."""
    job = JobRecord.new(
        id=new_id(),
        instance_id=step.instance.id,
        kind=PUBLISH,
        topic=topic,
        element_id=task.task_spec.bpmn_id,
        task_id=str(task.id),
        due_at=utcnow(),
        max_attempts=PUBLISH_ATTEMPTS,
        variables=payload,
    )
    step.records.append(job)
    step.new_jobs.append(job)


def _throws(workflow) -> bool:
    def compute() -> bool:
        specs = [workflow.spec, *workflow.subprocess_specs.values()]
        return any(isinstance(t, (HeldEndEvent, HeldThrowEvent)) for s in specs for t in s.task_specs.values())

    return spiff.spec_fact(workflow.spec, "throws events", compute)


def settle(step: Step) -> bool:
    """Within a step: throw what the held throw events the engine reached throw."""
    if not _throws(step.workflow):  # most processes have none: no scan of their tasks
        return False
    progressed = False
    for task in spiff.tasks_in(step.workflow, TaskState.STARTED):
        if not isinstance(task.task_spec, (HeldEndEvent, HeldThrowEvent)) or THROWN in task.internal_data:
            continue
        if task.state != TaskState.STARTED:  # an earlier throw of this round ended its scope
            continue
        if not isinstance(task.task_spec.event_definition, HELD):
            continue
        progressed = _throw(step, task) or progressed
        if step.incident is not None:
            break
    return progressed


# -- delivering after the commit -----------------------------------------------------------------------------------


def deliver(engine: Engine, job: ClaimedJob) -> None:
    """Run a publish job: deliver the message or broadcast the signal, then mark the job done in a step of the
    sender. A message nobody waits for yet is tried again; after the last try the sender gets an incident."""
    from processes.errors import OrderflowError
    from processes.features.messages import correlate
    from processes.jobs.service import JobService

    payload = job.variables or {}
    try:
        if job.topic == SIGNAL_TOPIC:
            outcome = signals.broadcast(
                engine, payload["name"], payload.get("variables"), actor="signal", sender=job.instance_id
            )
        else:
            outcome = correlate(
                engine,
                payload["name"],
                business_key=payload.get("businessKey"),
                correlation_key=payload.get("correlationKey"),
                variables=payload.get("variables"),
                actor="message",
            )
    except OrderflowError as exc:
        what = f"message '{payload.get('name')}'" if job.topic == MESSAGE_TOPIC else f"signal '{payload.get('name')}'"
        JobService(engine).fail(job.id, job.lease_token, f"{what}: {exc}", instance_id=job.instance_id)
        return

    def done(step: Step) -> None:
        row = next((j for j in step.active_jobs() if j.id == job.id), None)
        if row is None or row.status != JOB_LOCKED or row.lease_token != job.lease_token:
            return  # another worker took it over meanwhile: what it delivered counts once more, harmlessly
        row.status, row.updated_at, row.lock_expires_at = JOB_DONE, utcnow(), None
        kind = "message_delivered" if job.topic == MESSAGE_TOPIC else "signal_delivered"
        step.record(kind, data={**payload, **outcome}, element_id=job.element_id)

    engine.step(job.instance_id, done, actor="worker")


# -- link events -----------------------------------------------------------------------------------------------------


def _links(container: etree._Element, tag: str) -> dict[str, list[etree._Element]]:
    found: dict[str, list[etree._Element]] = {}
    for event in container.findall(f"{_b}{tag}"):
        link = event.find(f"{_b}linkEventDefinition")
        if link is not None:
            found.setdefault(link.get("name") or event.get("name") or "", []).append(event)
    return found


def _containers(root: etree._Element) -> list[etree._Element]:
    return [*root.iter(f"{_b}process"), *root.iter(f"{_b}subProcess"), *root.iter(f"{_b}transaction")]


def connect_links(root: etree._Element) -> None:
    """The parse copy: a sequence flow from each link throw event to the link catch event of its name."""
    for container in _containers(root):
        catches = _links(container, "intermediateCatchEvent")
        for name, throws in _links(container, "intermediateThrowEvent").items():
            targets = catches.get(name) or []
            if len(targets) != 1:
                continue
            for throw in throws:
                throw.remove(throw.find(f"{_b}linkEventDefinition"))
                flow = etree.SubElement(container, f"{_b}sequenceFlow", id=f"{throw.get('id')}__link")
                flow.set("sourceRef", throw.get("id"))
                flow.set("targetRef", targets[0].get("id"))
        for targets in catches.values():
            for target in targets:
                definition = target.find(f"{_b}linkEventDefinition")
                if definition is not None:
                    target.remove(definition)


def lint_links(loaded: LoadedFile) -> list[Problem]:
    """A link throw event needs exactly one link catch event of its name in the same (sub)process."""
    problems = []
    for container in _containers(loaded.root):
        catches = _links(container, "intermediateCatchEvent")
        for name, throws in _links(container, "intermediateThrowEvent").items():
            found = len(catches.get(name) or [])
            if found != 1:
                for throw in throws:
                    why = "no link catch event" if not found else f"{found} link catch events"
                    problems.append(
                        _problem(loaded, throw, f"link '{name}' has {why} of that name in the same process")
                    )
    return problems


def lint_multiple(loaded: LoadedFile) -> list[Problem]:
    """A throw event, or the start of an event subprocess, with several event definitions (BPMN's "multiple"):
    orderflow throws and catches one kind at a time, so it is refused, naming the event."""
    problems = []
    for event in loaded.root.iter(f"{_b}intermediateThrowEvent", f"{_b}endEvent", f"{_b}startEvent"):
        if event.tag == f"{_b}startEvent" and event.getparent().get("triggeredByEvent") != "true":
            continue
        children = [etree.QName(c).localname for c in event if isinstance(c.tag, str)]
        kinds = [kind for kind in children if kind.endswith("EventDefinition")]
        if len(kinds) > 1:
            message = f"several event definitions ({', '.join(kinds)}) on one event are not run; draw one event each"
            problems.append(_problem(loaded, event, message))
    return problems


class ThrownEvents(Feature):
    """Error, escalation, signal and message throw events, and link events (see the module's docstring)."""

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        classes = dict(classes)
        for tag, spec_class in (("endEvent", HeldEndEvent), ("intermediateThrowEvent", HeldThrowEvent)):
            parser_class, base = classes.get(full_tag(tag), defaults[full_tag(tag)])
            parser = _with_implementation(parser_class, base, spec_class, tag == "endEvent")
            classes[full_tag(tag)] = (parser, spec_class)
        return classes

    def converters(self) -> dict:
        return {HeldEndEvent: CAMUNDA_CONFIG[EndEvent], HeldThrowEvent: CAMUNDA_CONFIG[IntermediateThrowEvent]}

    def prepare_xml(self, root: etree._Element) -> None:
        connect_links(root)

    def lint(self, loaded: LoadedFile) -> list[Problem]:
        return lint_links(loaded) + lint_multiple(loaded)

    def prepare_specs(self, specs: list, roots) -> None:
        keys: dict[str, str] = {}
        for root in roots:
            keys.update(correlation_keys(root))
        for spec in specs:  # a message throw event routes by its message's correlation key
            for task_spec in spec.task_specs.values():
                definition = getattr(task_spec, "event_definition", None)
                if isinstance(task_spec, (HeldEndEvent, HeldThrowEvent)) and isinstance(
                    definition, MessageEventDefinition
                ):
                    if definition.name in keys:
                        task_spec.extensions = {**(task_spec.extensions or {}), "correlationKey": keys[definition.name]}

    def settle(self, step: Step) -> bool:
        return settle(step)

    def uncaught_error(self, step: Step, task, code: str, message: str, *, check: bool = False) -> bool:
        return propagate(step, task, "error", code, message, own_boundaries=False, act=not check) is not None

    def run_job(self, engine: Engine, job: ClaimedJob) -> bool:
        if job.kind != PUBLISH:
            return False
        deliver(engine, job)
        return True
