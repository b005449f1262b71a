"""Reading diagrams: hostile-XML-safe loading, orderflow's SpiffWorkflow parser, and deploy-time lint."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser as CamundaUserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask as CamundaUserTask

from .decisions import DecisionTask, DecisionTaskParser
from .errors import InvalidInput, Problem, TooLarge

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = {
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
    "https://www.omg.org/spec/DMN/20240513/MODEL/",
}
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MAX_FILE_BYTES = 2 * 1024 * 1024

# Flow elements SpiffWorkflow cannot execute; named at deploy time instead of failing at run time.
UNSUPPORTED_ELEMENTS = {
    "complexGateway": "complex gateways are not supported; use an inclusive or exclusive gateway",
    "dataStoreReference": "data stores are not supported; keep the data in process variables",
    "compensateEventDefinition": "compensation events are not supported yet",
    "choreographyTask": "choreographies cannot be executed",
    "subChoreography": "choreographies cannot be executed",
    "implicitThrowEvent": "implicit throw events are not supported",
}

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
        root = etree.fromstring(data, parser)
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
    return LoadedFile(name=name, kind=kind, text=data.decode("utf-8", errors="replace"), root=root)


def lint_bpmn(loaded: LoadedFile) -> list[Problem]:
    """Problems an analyst must fix before the diagram can run, each pointing at its element."""
    problems: list[Problem] = []
    for element in loaded.root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        if qname.namespace == BPMN_NS and qname.localname in UNSUPPORTED_ELEMENTS:
            owner = element if element.get("id") else element.getparent()
            problems.append(
                Problem(
                    message=f"{qname.localname}: {UNSUPPORTED_ELEMENTS[qname.localname]}",
                    element_id=owner.get("id") if owner is not None else None,
                    element_type=f"bpmn:{etree.QName(owner).localname}" if owner is not None else None,
                    file=loaded.name,
                    line=element.sourceline,
                )
            )
    return problems


def quote_timer_literals(root: etree._Element) -> None:
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for element in root.iter(f"{{{BPMN_NS}}}{tag}"):
            value = (element.text or "").strip()
            if value and _ISO_TIMER.match(value):
                element.text = repr(value)


def problem_from_validation(exc: ValidationException, file: str | None = None) -> Problem:
    return Problem(
        message=str(exc.args[0]) if exc.args else str(exc),
        element_id=getattr(exc, "id", None) or None,
        element_type=getattr(exc, "tag", None) or None,
        file=getattr(exc, "file_name", None) or file,
        line=getattr(exc, "line_number", None) or None,
    )


class ServiceTaskParser(CamundaTaskParser):
    """Keeps what binds a service task to a connector or an external worker (SpiffWorkflow drops it)."""

    def parse_extensions(self, node=None) -> dict:
        extensions = super().parse_extensions(node)
        node = self.node if node is None else node
        camunda = f"{{{CAMUNDA_MODEL_NS}}}"
        for attribute in ("type", "topic", "class", "expression", "delegateExpression"):
            value = node.get(camunda + attribute)
            if value is not None:
                extensions[attribute] = value
        cycle = node.find(f".//{{{BPMN_NS}}}extensionElements/{camunda}failedJobRetryTimeCycle")
        if cycle is not None and cycle.text:
            extensions["retryCycle"] = cycle.text.strip()
        definition = node.find(f".//{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}taskDefinition")
        if definition is not None:
            extensions.setdefault("topic", definition.get("type"))
            if definition.get("retries"):
                extensions["retries"] = definition.get("retries")
        return extensions


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
        return extensions


class OrderflowParser(CamundaParser):
    """orderflow's parser: the Camunda parser plus what orderflow binds and runs. Later issues extend it."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, ServiceTask),
        full_tag("userTask"): (UserTaskParser, CamundaUserTask),
        # orderflow's DMN engine, not SpiffWorkflow's (one decision per file, most hit policies wrong).
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
    }


def topic_of(task_spec) -> str | None:
    """The job topic a service task is bound to, or None when it has no binding."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return extensions.get("topic") or extensions.get("delegateExpression") or extensions.get("class")
