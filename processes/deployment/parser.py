"""Reading diagrams: hostile-XML-safe loading, orderflow's SpiffWorkflow parser, and deploy-time lint."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser as SpiffReceiveTaskParser
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    ExclusiveGateway,
    InclusiveGateway,
    ReceiveTask,
    ScriptTask,
    ServiceTask,
)
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaBoundaryEventParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser
from SpiffWorkflow.camunda.parser.task_spec import ScriptTaskParser as CamundaScriptTaskParser
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser as CamundaUserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask as CamundaUserTask

from processes import expressions
from processes.core.feature import Feature
from processes.core.spiff import NoOpTask
from processes.errors import InvalidInput, Problem, TooLarge

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = {
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20151101/dmn11.xsd",  # DMN 1.1 as Camunda Modeler 1.x wrote it
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
    "https://www.omg.org/spec/DMN/20240513/MODEL/",
}
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
# Camunda 7 still reads diagrams written for Activiti, its ancestor, with the same extensions in this namespace.
_ACTIVITI_DECLARATION = re.compile(rb"""(xmlns(?::[\w.-]+)?\s*=\s*)(["'])http://activiti\.org/bpmn\2""")
MAX_FILE_BYTES = 2 * 1024 * 1024

# Flow elements SpiffWorkflow cannot execute; named at deploy time instead of failing at run time.
UNSUPPORTED_ELEMENTS = {
    "complexGateway": "complex gateways are not supported; use an inclusive or exclusive gateway instead",
    "choreographyTask": "choreographies cannot be executed; model each participant's own process instead",
    "subChoreography": "choreographies cannot be executed; model each participant's own process instead",
    "implicitThrowEvent": "implicit throw events are not supported; use an intermediate throw event instead",
}
DATA_STORE_IGNORED = "data store is ignored; the process keeps its data in variables"
LISTENERS_NOT_RUN = "listeners are not run; model the work as a service or script task"

# Timer values as modelers write them (PT5M, R3/PT10S, 2026-12-01T10:00:00Z). SpiffWorkflow evaluates timer
# text as an expression, so a bare literal is quoted before parsing; the stored XML stays as drawn.
_ISO_TIMER = re.compile(
    r"^(R\d*/)?(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
    r"|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)"
    r"(/P.*)?$"
)


@dataclass
class LoadedFile:
    name: str
    kind: str  # "bpmn" or "dmn"
    text: str
    root: etree._Element


def load_xml(name: str, data: bytes) -> LoadedFile:
    """Parse one uploaded file safely: no DTDs, no entities, no network, bounded size."""
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(f"{name}: {len(data)} bytes is over the limit of {MAX_FILE_BYTES} bytes per file")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
    )
    try:
        # Everything orderflow (and SpiffWorkflow) reads of Camunda 7 is in the camunda namespace: an Activiti
        # diagram is read as Camunda reads it, with its namespace declared as camunda's. Only the declaration
        # changes, so line numbers stay; the stored text stays as drawn.
        camunda = rb"\1\2" + CAMUNDA_MODEL_NS.encode() + rb"\2"
        root = etree.fromstring(_ACTIVITI_DECLARATION.sub(camunda, data), parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"{name}: not well-formed XML: {exc}") from exc
    if root is None:
        raise InvalidInput(f"{name}: empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # BPMN and DMN never need a DTD; refusing it outright closes XXE and entity-expansion bombs.
        raise InvalidInput(f"{name}: DOCTYPE declarations are not allowed in BPMN or DMN files")
    namespace = etree.QName(root).namespace
    if namespace == BPMN_NS:
        kind = "bpmn"
    elif namespace in DMN_NAMESPACES:
        kind = "dmn"
    else:
        raise InvalidInput(f"{name}: not a BPMN or DMN document (root element {root.tag})")
    return LoadedFile(name=name, kind=kind, text=_decoded(data, root), root=root)


_DECLARED_ENCODING = re.compile(r"""^(<\?xml[^>]*?\bencoding\s*=\s*)(["'])[^"']*\2""")


def _decoded(data: bytes, root: etree._Element) -> str:
    """The file as text, read in the encoding it declares (UTF-16 and Latin-1 diagrams are common on Windows). The
    text is kept, compared and served as UTF-8 from here on, so its declaration is made to say UTF-8."""
    encoding = root.getroottree().docinfo.encoding or "utf-8"
    try:
        text = data.decode(encoding).lstrip("\ufeff")
    except (LookupError, UnicodeDecodeError):  # a name Python does not know: lxml read it, so ask lxml for the text
        return etree.tostring(root.getroottree(), encoding="unicode")
    return _DECLARED_ENCODING.sub(r"\1\2UTF-8\2", text, count=1)


# SpiffWorkflow names tasks of its own in every process Start, End, Root and <process>.EndJoin: an element with one of
# these ids would take its place and no order could start. They are refused rather than renamed, so that the id an
# analyst drew stays the id in the audit trail, the API and Camunda Modeler.
RESERVED_IDS = frozenset({"Start", "End", "Root"})
RESERVED_ID = "the id '{}' is reserved by the engine (Start, End, Root and *.EndJoin are): rename the element"


def lint_bpmn(loaded: LoadedFile) -> list[Problem]:
    """What the XML alone shows, each pointing at its element: errors (elements orderflow cannot run) and warnings
    (elements Camunda tolerates and orderflow ignores: data stores, listeners)."""
    problems: list[Problem] = []
    referenced_stores = set()
    seen_ids: set[str] = set()
    for element in loaded.root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        # The ids of the model's elements (the definitions element's own id names no element that runs).
        element_id = element.get("id") if qname.namespace == BPMN_NS and element is not loaded.root else None
        if element_id is not None:
            if element_id in seen_ids:
                problems.append(_problem(loaded, element, f"the id '{element_id}' is used twice: ids must be unique"))
            elif element_id in RESERVED_IDS or element_id.endswith(".EndJoin"):
                problems.append(_problem(loaded, element, RESERVED_ID.format(element_id)))
            seen_ids.add(element_id)
        if qname.namespace == BPMN_NS and qname.localname in UNSUPPORTED_ELEMENTS:
            owner = element if element.get("id") else element.getparent()
            problems.append(
                _problem(loaded, owner, f"{qname.localname}: {UNSUPPORTED_ELEMENTS[qname.localname]}", element)
            )
        elif qname.namespace == BPMN_NS and qname.localname == "dataStoreReference":
            referenced_stores.add(element.get("dataStoreRef"))
            problems.append(_problem(loaded, element, DATA_STORE_IGNORED, severity="warning"))
        elif (qname.namespace, qname.localname) in _LISTENERS:
            owner = _extension_owner(element)
            kind = _LISTENERS[(qname.namespace, qname.localname)]
            message = f"{kind} {_listener_description(element)} is skipped: {LISTENERS_NOT_RUN}"
            problems.append(_problem(loaded, owner, message, element, severity="warning"))
    problems.extend(_script_problems(loaded))
    for store in loaded.root.iter(f"{{{BPMN_NS}}}dataStore"):
        if store.get("id") not in referenced_stores:
            problems.append(_problem(loaded, store, DATA_STORE_IGNORED, severity="warning"))
    return problems


def _script_problems(loaded: LoadedFile) -> list[Problem]:
    """Scripts orderflow cannot run, named with their element: a script task or parameter script loaded from a
    resource (a file of the Java deployment, which orderflow never sees), a parameter script in a language other
    than Python, JUEL or FEEL, and a Python parameter script the sandbox refuses."""
    problems = []
    for task in loaded.root.iter(f"{{{BPMN_NS}}}scriptTask"):
        resource = task.get(f"{{{CAMUNDA_MODEL_NS}}}resource")
        if resource and not (task.findtext(f"{{{BPMN_NS}}}script") or "").strip():
            message = (
                f"script task loads its script from a resource (camunda:resource '{resource}'), which orderflow "
                "cannot read: write the script into the task (Python, or a Camunda 8 zeebe:script FEEL expression)"
            )
            problems.append(_problem(loaded, task, message))
    for script in loaded.root.iter(f"{{{CAMUNDA_MODEL_NS}}}script"):
        parameter = script.getparent()
        while parameter is not None and not etree.QName(parameter).localname.endswith("Parameter"):
            parameter = parameter.getparent()
        if parameter is None:
            continue  # a listener's script: listeners are skipped with a warning
        owner = _extension_owner(parameter)
        where = f"{etree.QName(parameter).localname[:-9]} parameter '{parameter.get('name')}'"
        language = (script.get("scriptFormat") or "").lower()
        if script.get("resource"):
            message = (
                f"{where}: its script is loaded from a resource ('{script.get('resource')}'), which orderflow "
                "cannot read: write the script into the parameter"
            )
        elif language not in SCRIPT_FORMATS:
            message = (
                f"{where}: a {language or 'script without a scriptFormat'} script cannot run in orderflow: write it "
                'in Python (scriptFormat="python"; its last line is the value), or as an expression (${…}, =…)'
            )
        else:
            source = (script.text or "").strip()
            try:
                if language != "python":
                    expressions.check(script_expression(source, language))
                elif source:
                    expressions.check(source, "exec")
                continue
            except expressions.ExpressionError as exc:
                message = f"{where}: {exc}"
        problems.append(_problem(loaded, owner, message, script))
    return problems


def script_expression(source: str, language: str) -> str:
    """A JUEL or FEEL parameter script as the expression orderflow evaluates."""
    if language == "feel" and not source.startswith("="):
        return "=" + source
    if language == "juel" and expressions.dialect_of(source) != expressions.JUEL:
        return "${" + source + "}"
    return source


# The start events of an event subprocess that orderflow runs (processes/features/event_subprocesses.py).
EVENT_SUBPROCESS_STARTS = (
    "messageEventDefinition",
    "conditionalEventDefinition",
    "errorEventDefinition",
    "escalationEventDefinition",
    "signalEventDefinition",
    "timerEventDefinition",
)


def event_subprocess_starts(loaded: LoadedFile) -> list[Problem]:
    """An event subprocess that starts on anything else would never start: refuse it, naming its start event."""
    problems = []
    for subprocess in loaded.root.iter(f"{{{BPMN_NS}}}subProcess"):
        if subprocess.get("triggeredByEvent") != "true":
            continue
        for start in subprocess.iterfind(f"{{{BPMN_NS}}}startEvent"):
            kinds = [etree.QName(child).localname for child in start if etree.QName(child).localname.endswith(
                "EventDefinition")]  # fmt: skip
            # Compensation starts are the compensation feature's to refuse (processes/features/compensation.py).
            unsupported = [k for k in kinds if k not in EVENT_SUBPROCESS_STARTS and k != "compensateEventDefinition"]
            if unsupported:
                kind = unsupported[0].removesuffix("EventDefinition")
                message = (
                    f"an event subprocess that starts on a {kind} event is not run by orderflow yet (message, "
                    "conditional, error, escalation, signal and timer starts are)"
                )
                problems.append(_problem(loaded, start, message))
    return problems


# Listener elements, with how a warning names them. Camunda 8 groups its listeners in a container element.
_LISTENERS = {
    (CAMUNDA_MODEL_NS, "executionListener"): "execution listener",
    (CAMUNDA_MODEL_NS, "taskListener"): "task listener",
    (ZEEBE_NS, "executionListener"): "execution listener",
    (ZEEBE_NS, "taskListener"): "task listener",
}


def _extension_owner(element: etree._Element) -> etree._Element:
    """The BPMN element whose extensionElements hold `element` (a listener may sit in a container)."""
    owner = element.getparent()
    while owner is not None and not (etree.QName(owner).namespace == BPMN_NS and owner.get("id")):
        owner = owner.getparent()
    return owner if owner is not None else element


def _listener_description(listener: etree._Element) -> str:
    """How the analyst wrote the listener: its event and its class, expression, script or (Camunda 8) job type."""
    parts = []
    event = listener.get("event") or listener.get("eventType")
    if event:
        parts.append(f"on '{event}'")
    for attribute in ("class", "expression", "delegateExpression", "type"):
        if listener.get(attribute):
            parts.append(f"{attribute} '{listener.get(attribute)}'")
    script = listener.find(f"{{{CAMUNDA_MODEL_NS}}}script")
    if script is not None:
        language = script.get("scriptFormat") or "script"
        source = script.get("resource") or " ".join((script.text or "").split())
        parts.append(f"{language} script '{source[:60]}{'…' if len(source) > 60 else ''}'")
    return "(" + ", ".join(parts) + ")" if parts else "(no implementation)"


def _problem(
    loaded: LoadedFile,
    owner: etree._Element | None,
    message: str,
    at: etree._Element | None = None,
    severity: str = "error",
) -> Problem:
    at = owner if at is None else at
    return Problem(
        message=message,
        element_id=owner.get("id") if owner is not None else None,
        element_type=element_type_of(owner) if owner is not None else None,
        file=loaded.name,
        line=at.sourceline if at is not None else None,
        severity=severity,
    )


def element_type_of(element: etree._Element) -> str:
    qname = etree.QName(element)
    prefix = {BPMN_NS: "bpmn", CAMUNDA_MODEL_NS: "camunda", ZEEBE_NS: "zeebe"}.get(qname.namespace)
    prefix = "dmn" if qname.namespace in DMN_NAMESPACES else prefix
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def strip_data_stores(root: etree._Element) -> None:
    """Remove data stores and the associations that read or write them, so SpiffWorkflow parses the diagram (it
    refuses a data store without a registered implementation). Only for the copy given to the parser: the stored
    XML stays as drawn."""
    stores = {e.get("id") for e in root.iter(f"{{{BPMN_NS}}}dataStore", f"{{{BPMN_NS}}}dataStoreReference")}
    stores.discard(None)
    for association, end in (("dataInputAssociation", "sourceRef"), ("dataOutputAssociation", "targetRef")):
        for element in list(root.iter(f"{{{BPMN_NS}}}{association}")):
            if any((ref.text or "").strip() in stores for ref in element.findall(f"{{{BPMN_NS}}}{end}")):
                element.getparent().remove(element)
    for element in list(root.iter(f"{{{BPMN_NS}}}dataStore", f"{{{BPMN_NS}}}dataStoreReference")):
        element.getparent().remove(element)


def called_element(call_activity) -> str | None:
    """The process a call activity calls: Camunda 7's calledElement attribute or Camunda 8's zeebe:calledElement."""
    called = call_activity.get("calledElement")
    if not called:
        zeebe = call_activity.find(f"./{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}calledElement")
        called = zeebe.get("processId") if zeebe is not None else None
    return called or None


def apply_called_elements(root: etree._Element) -> None:
    """SpiffWorkflow reads only the calledElement attribute: give Camunda 8 call activities one (parse copy only)."""
    for call in root.iter(f"{{{BPMN_NS}}}callActivity"):
        called = called_element(call)
        if called and not call.get("calledElement"):
            call.set("calledElement", called)


# Camunda 7's legacy form properties (`camunda:formProperty`, how every Activiti diagram declares its forms)
# and the form field type each becomes.
_FORM_PROPERTY_TYPES = {"string": "string", "long": "long", "boolean": "boolean", "date": "date", "enum": "enum"}


def apply_form_properties(root: etree._Element) -> None:
    """Give a user task that declares its form as legacy form properties the equivalent `camunda:formData`, which
    the parser and the inbox read (parse copy only): id, name as label, type, default, enum values, and
    required / not writable as constraints. A task with formData keeps it, as Camunda does."""
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        extension = task.find(f"{{{BPMN_NS}}}extensionElements")
        properties = extension.findall(camunda + "formProperty") if extension is not None else []
        if not properties or extension.find(camunda + "formData") is not None:
            continue
        data = etree.SubElement(extension, camunda + "formData")
        for prop in properties:
            kind = _FORM_PROPERTY_TYPES.get((prop.get("type") or "string").lower(), "string")
            field = etree.SubElement(data, camunda + "formField", id=prop.get("id") or "", type=kind)
            field.set("label", prop.get("name") or prop.get("id") or "")
            if prop.get("default"):
                field.set("defaultValue", prop.get("default"))
            for value in prop.findall(camunda + "value"):
                etree.SubElement(field, camunda + "value", id=value.get("id") or "", name=value.get("name") or "")
            constraints = [n for n, on in (("required", prop.get("required") == "true"),
                                           ("readonly", prop.get("writable") == "false")) if on]  # fmt: skip
            if constraints:
                validation = etree.SubElement(field, camunda + "validation")
                for name in constraints:
                    etree.SubElement(validation, camunda + "constraint", name=name)


def quote_timer_literals(root: etree._Element) -> None:
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for element in root.iter(f"{{{BPMN_NS}}}{tag}"):
            value = (element.text or "").strip()
            if value and _ISO_TIMER.match(value):
                element.text = repr(value)


# SpiffWorkflow's validation messages, with the fix an analyst needs (pattern, replacement).
_VALIDATION_HINTS = [
    (
        re.compile(r"^Cannot resolve (data(?:In|Out)putAssociation) <Element \S+ at 0x[0-9a-f]+>$"),
        r"cannot resolve a \1: it names neither a data object reference nor a data store; connect it to a data "
        "object reference of this process or remove it",
    ),
    (
        re.compile(r"^(Exactly one start event is required in a SubWorkflow Task; found \d+\.?)$"),
        r"\1 Give the subprocess exactly one none start event",
    ),
    (
        re.compile(r"^(Non-default exclusive outgoing sequence flow without condition)$"),
        r"\1: give the flow a condition, or make it the gateway's default flow",
    ),
    (
        re.compile(r"^(A loopMaximum or loopCondition must be specified for Loop Tasks)$"),
        r"\1: set a loop condition or a loop maximum on the loop marker, or remove the marker",
    ),
    (
        re.compile(r"^(Unsupported Catch Event: boundary compensate)$"),
        r"\1: compensation is not supported yet; model the undo work explicitly",
    ),
]


def problem_from_validation(exc: ValidationException, file: str | None = None) -> Problem:
    message = str(exc.args[0]) if exc.args else str(exc)
    for pattern, replacement in _VALIDATION_HINTS:
        message = pattern.sub(replacement, message)
    return Problem(
        message=message,
        element_id=getattr(exc, "id", None) or None,
        element_type=getattr(exc, "tag", None) or None,
        file=getattr(exc, "file_name", None) or file,
        line=getattr(exc, "line_number", None) or None,
    )


def io_mappings(node) -> dict[str, list[dict[str, object]]]:
    """Input and output mappings of a task, Camunda 7 (`camunda:inputOutput`) or 8 (`zeebe:ioMapping`), as
    {"inputs": [{"target", "source"}], "outputs": [...]}. A source is an expression (`${…}`, `=…`), literal text, or
    a list or map of those (Camunda 7); it is evaluated when the task starts (inputs) or completes (outputs)."""
    mappings: dict[str, list[dict[str, object]]] = {}
    zeebe = node.find(f"./{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}ioMapping")
    if zeebe is not None:
        for kind in ("input", "output"):
            for mapping in zeebe.findall(f"{{{ZEEBE_NS}}}{kind}"):
                if mapping.get("target"):
                    mappings.setdefault(f"{kind}s", []).append(
                        {"target": mapping.get("target"), "source": mapping.get("source") or ""}
                    )
    camunda = node.find(f"./{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_MODEL_NS}}}inputOutput")
    if camunda is not None:
        for kind in ("input", "output"):
            for parameter in camunda.findall(f"{{{CAMUNDA_MODEL_NS}}}{kind}Parameter"):
                if parameter.get("name"):
                    mappings.setdefault(f"{kind}s", []).append(
                        {"target": parameter.get("name"), "source": _parameter_value(parameter)}
                    )
    return mappings


# The key of a `camunda:script` inside an input/output parameter, as `io_mappings` keeps it.
SCRIPT = "orderflow.script"
# Script languages orderflow runs in parameters: Python in the sandbox; JUEL and FEEL as expressions.
SCRIPT_FORMATS = ("python", "juel", "feel")


def _parameter_value(parameter) -> object:
    """A parameter's (or a map entry's) value: its text, or the list, map or script it holds."""
    children = [c for c in parameter if isinstance(c.tag, str)]
    return _definition_value(children[0]) if children else (parameter.text or "").strip()


def _definition_value(definition) -> object:
    """A `camunda:list`, `camunda:map`, `camunda:script` or `camunda:value`, also as an item of a list."""
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    if definition.tag == camunda + "list":
        return [_definition_value(item) for item in definition if isinstance(item.tag, str)]
    if definition.tag == camunda + "map":
        return {entry.get("key"): _parameter_value(entry) for entry in definition if isinstance(entry.tag, str)}
    if definition.tag == camunda + "script":  # run when the mapping is (expressions/mappings.py); lint checked it
        return {SCRIPT: (definition.text or "").strip(), "scriptFormat": (definition.get("scriptFormat") or "").lower()}
    return (definition.text or "").strip()


class ServiceTaskParser(CamundaTaskParser):
    """Keeps what binds a service task to a connector or an external worker (SpiffWorkflow drops it)."""

    def parse_extensions(self, node=None) -> dict:
        extensions = super().parse_extensions(node)
        node = self.node if node is None else node
        camunda = f"{{{CAMUNDA_MODEL_NS}}}"
        for attribute in ("type", "topic", "class", "expression", "delegateExpression", "resultVariable"):
            value = node.get(camunda + attribute)
            if value is not None:
                extensions[attribute] = value
        if node.get(camunda + "resultVariableName") and "resultVariable" not in extensions:  # its older spelling
            extensions["resultVariable"] = node.get(camunda + "resultVariableName")
        cycle = node.find(f".//{{{BPMN_NS}}}extensionElements/{camunda}failedJobRetryTimeCycle")
        if cycle is not None and cycle.text:
            extensions["retryCycle"] = cycle.text.strip()
        headers = node.findall(f".//{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}taskHeaders/{{{ZEEBE_NS}}}header")
        if headers:
            extensions["headers"] = {h.get("key"): h.get("value", "") for h in headers if h.get("key")}
        definition = node.find(f".//{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}taskDefinition")
        if definition is not None:
            extensions.setdefault("topic", definition.get("type"))
            if definition.get("retries"):
                extensions["retries"] = definition.get("retries")
        extensions.update(io_mappings(node))
        return extensions


class SendTaskParser(ServiceTaskParser):
    """A send task is a job, like a service task, as Camunda 7 and 8 run it: the worker (or connector) that takes
    its topic sends the message. Without an implementation Camunda refuses it at deploy; so does orderflow."""

    def create_task(self):
        if implementation_topic(self.parse_extensions()) is None:
            self.raise_validation_exception(
                "send task has no implementation: Camunda sends the message from a job, so set camunda:type="
                '"external" and camunda:topic (or camunda:class, camunda:expression, camunda:delegateExpression; '
                "Camunda 8: zeebe:taskDefinition type) for a worker to take, or draw a message throw event instead"
            )
        return super().create_task()


class ReceiveTaskParser(SpiffReceiveTaskParser):
    """A receive task waits for a message (Camunda 7 and 8 alike; it is never a job). One that names no message
    would pass straight through in SpiffWorkflow; Camunda 8 refuses it at deploy, and so does orderflow (Camunda 7
    would wait for a Java API call that orderflow does not have)."""

    def create_task(self):
        if self.node.get("messageRef") is None and not self.xpath("./bpmn:messageEventDefinition"):
            self.raise_validation_exception(
                'receive task names no message: set its message (messageRef, "Global message reference" in '
                "Camunda Modeler) so that POST /api/v1/messages can reach it"
            )
        return super().create_task()


class UserTaskParser(CamundaUserTaskParser):
    """Keeps who may work a user task and when it is due (SpiffWorkflow drops these): Camunda 7 attributes and
    Camunda 8 `zeebe:assignmentDefinition` / `zeebe:taskSchedule` / `zeebe:formDefinition`. Values may be
    expressions; they are evaluated when the task becomes ready."""

    def parse_extensions(self, node=None) -> dict:
        extensions = super().parse_extensions(node)
        node = self.node if node is None else node
        camunda = f"{{{CAMUNDA_MODEL_NS}}}"
        for attribute in ("assignee", "candidateGroups", "candidateUsers", "dueDate", "followUpDate", "priority"):
            value = node.get(camunda + attribute)
            if value:
                extensions[attribute] = value
        zeebe = f"{{{ZEEBE_NS}}}"
        assignment = node.find(f".//{zeebe}assignmentDefinition")
        if assignment is not None:
            for attribute in ("assignee", "candidateGroups", "candidateUsers"):
                if assignment.get(attribute):
                    extensions[attribute] = assignment.get(attribute)
        schedule = node.find(f".//{zeebe}taskSchedule")
        if schedule is not None:
            for attribute in ("dueDate", "followUpDate"):
                if schedule.get(attribute):
                    extensions[attribute] = schedule.get(attribute)
        form = node.find(f".//{zeebe}formDefinition")
        if form is not None and (form.get("formKey") or form.get("formId")):
            extensions["formKey"] = form.get("formKey") or form.get("formId")
            if form.get("formId"):  # a Camunda Form deployed alongside (.form): linked at deploy (forms.link_forms)
                extensions["formId"] = form.get("formId")
        if str(extensions.get("formKey", "")).startswith(EMBEDDED_FORM):
            extensions["formSchema"] = self._embedded_form(extensions["formKey"][len(EMBEDDED_FORM) :])
        extensions.update(io_mappings(node))
        return extensions

    def _embedded_form(self, form_id: str) -> dict:
        """A Camunda 8 form drawn into the diagram: `zeebe:userTaskForm` (form-js JSON) on the process."""
        for candidate in self.process_parser.node.iter(f"{{{ZEEBE_NS}}}userTaskForm"):
            if candidate.get("id") == form_id:
                try:
                    schema = json.loads(candidate.text or "")
                except ValueError as exc:
                    self.raise_validation_exception(f"form {form_id} is not valid JSON: {exc}")
                if not isinstance(schema, dict):
                    self.raise_validation_exception(f"form {form_id} is not a form-js schema (a JSON object)")
                return schema
        self.raise_validation_exception(f"form {form_id} is not in the diagram (zeebe:userTaskForm)")


EMBEDDED_FORM = "camunda-forms:bpmn:"


class BoundaryEventParser(CamundaBoundaryEventParser):
    """Keeps where an error boundary event stores the caught error (Camunda 7 `camunda:errorCodeVariable` and
    `camunda:errorMessageVariable`) and the event's properties, in the spec's extensions."""

    def parse_extensions(self, node=None) -> dict:
        extensions = super().parse_extensions(node)
        node = self.node if node is None else node
        # Properties (`camunda:properties`, Camunda 8 `zeebe:properties`): what an escalation timer changes.
        for namespace in (CAMUNDA_MODEL_NS, ZEEBE_NS):
            path = f"./{{{BPMN_NS}}}extensionElements/{{{namespace}}}properties/{{{namespace}}}property"
            for prop in node.iterfind(path):
                extensions.setdefault(prop.get("name"), prop.get("value"))
        definition = node.find(f"{{{BPMN_NS}}}errorEventDefinition")
        if definition is not None:
            for attribute in ("errorCodeVariable", "errorMessageVariable"):
                value = definition.get(f"{{{CAMUNDA_MODEL_NS}}}{attribute}")
                if value:
                    extensions[attribute] = value
        return extensions


class ScriptTaskParser(CamundaScriptTaskParser):
    """Camunda 8 script tasks carry a FEEL expression and a result variable (`zeebe:script`), not a script."""

    def _zeebe_script(self):
        return self.node.find(f"./{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}script")

    def get_script(self):
        zeebe = self._zeebe_script()
        if zeebe is not None and not self.xpath(".//bpmn:script"):
            return zeebe.get("expression") or ""
        return super().get_script()

    def parse_extensions(self, node=None) -> dict:
        extensions = super().parse_extensions(node)
        zeebe = self._zeebe_script()
        if zeebe is not None and zeebe.get("resultVariable"):
            extensions["resultVariable"] = zeebe.get("resultVariable")
        return extensions


class GatewayParser(ConditionalGatewayParser):
    """Exclusive and inclusive gateways as Camunda 7 runs them (SpiffWorkflow refuses a flow without a condition,
    and tries the flows top to bottom as drawn):

    - a flow without a condition that is not the default counts as a condition that always holds;
    - an exclusive gateway takes the first flow, in the order the XML lists them, whose condition holds (so a flow
      without a condition is taken when no flow listed before it matches), else its default flow;
    - an inclusive gateway takes every flow whose condition holds (every flow without one), else its default flow.

    Camunda 8 refuses such a flow at deploy ("Must have a condition or be default flow"); orderflow runs it."""

    def connect_outgoing(self, outgoing_task, sequence_flow_node, is_default):
        if not is_default and self.parse_condition(sequence_flow_node) is None:
            self.task.connect_outgoing_if(ALWAYS, outgoing_task)
        else:
            super().connect_outgoing(outgoing_task, sequence_flow_node, is_default)

    def parse_node(self):
        parsed = super().parse_node()
        targets = [flow.get("targetRef") for flow in self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)]

        def listed(pair) -> int:
            target = pair[1].removesuffix(".BoundaryEventSplit")
            return targets.index(target) if target in targets else len(targets)

        self.task.cond_task_specs.sort(key=listed)  # stable: flows to one target keep their order
        return parsed


# The condition of a flow out of a gateway drawn without one (Python: the sandbox evaluates it).
ALWAYS = "True"


class OrderflowParser(CamundaParser):
    """orderflow's parser: the Camunda parser plus what orderflow binds and runs. Features add their classes
    (`parser_for`)."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, ServiceTask),
        full_tag("sendTask"): (SendTaskParser, ServiceTask),
        full_tag("receiveTask"): (ReceiveTaskParser, ReceiveTask),
        full_tag("scriptTask"): (ScriptTaskParser, ScriptTask),
        full_tag("userTask"): (UserTaskParser, CamundaUserTask),
        # Camunda passes straight through a plain task.
        full_tag("task"): (CamundaTaskParser, NoOpTask),
        full_tag("boundaryEvent"): (BoundaryEventParser, BoundaryEvent),
        full_tag("exclusiveGateway"): (GatewayParser, ExclusiveGateway),
        full_tag("inclusiveGateway"): (GatewayParser, InclusiveGateway),
    }


_parser_classes: dict[tuple, type[OrderflowParser]] = {}


def parser_for(features: Sequence[Feature]) -> OrderflowParser:
    """A new parser with every feature's parser classes (call activities, decisions, multi-instance markers,
    conditional events, event subprocesses, ...). The class is made once per list of features."""
    key = tuple(type(f) for f in features)
    cls = _parser_classes.get(key)
    if cls is None:
        classes = dict(OrderflowParser.OVERRIDE_PARSER_CLASSES)
        for feature in features:
            classes = feature.parser_classes(classes, CamundaParser.PARSER_CLASSES)
        cls = _parser_classes[key] = type("FeatureParser", (OrderflowParser,), {"OVERRIDE_PARSER_CLASSES": classes})
    return cls()


# Camunda 7 Java implementations of a service task, in the order a topic is named after them.
IMPLEMENTATIONS = ("delegateExpression", "class", "expression")


def topic_of(task_spec) -> str | None:
    """The job topic a service task is bound to, or None when it has no binding. A Camunda 7 Java implementation
    (`camunda:delegateExpression`, `camunda:class`, `camunda:expression`) names the topic when no topic is set, so an
    external worker or connector can take over what the Java code did. A topic written as an expression
    (`=validateDataType`, `${topic}`) is evaluated for each job (`processes.jobs.service_tasks`)."""
    return implementation_topic(getattr(task_spec, "extensions", None) or {})


def implementation_topic(extensions: dict) -> str | None:
    """`topic_of` for the extensions a task parser read (the topic, or what names it)."""
    return (extensions.get("topic") or "").strip() or next(
        (extensions[a].strip() for a in IMPLEMENTATIONS if (extensions.get(a) or "").strip()), None
    )
