"""What a scenario report needs to know of a diagram, read from its XML: the drawn elements and sequence flows (what
coverage counts), which flow leaves which gateway (to explain a wrong turn), and the rules of each decision table."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from processes.deployment.parser import BPMN_NS as BPMN
from processes.deployment.parser import DMN_NAMESPACES, load_xml

# Drawn things that are not steps of an order: coverage does not count them.
NOT_ELEMENTS = {
    "process", "sequenceFlow", "association", "textAnnotation", "dataObject", "dataObjectReference",
    "dataStoreReference", "laneSet", "lane", "documentation", "extensionElements", "incoming", "outgoing",
    "conditionExpression", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "group",
    "ioSpecification", "dataInputAssociation", "dataOutputAssociation", "property", "script",
}  # fmt: skip


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str
    name: str
    condition: str | None

    def label(self) -> str:
        said = f" ({self.name})" if self.name else ""
        return f"{self.id}{said}"


@dataclass
class Diagram:
    """One `.bpmn` file: its processes, elements and flows."""

    file: Path
    processes: list[str] = field(default_factory=list)
    elements: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type, name)
    flows: dict[str, Flow] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)  # subprocess -> its start events
    boundaries: dict[str, list[str]] = field(default_factory=dict)  # activity -> its boundary events
    compensations: dict[str, str] = field(default_factory=dict)  # compensation boundary event -> its handler
    xml: str = ""  # as drawn, for the coverage report

    def name_of(self, element: str) -> str:
        kind, name = self.elements.get(element, ("", ""))
        return f"{element} ({name})" if name else element

    def flows_between(self, source: str, target: str) -> list[Flow]:
        return [f for f in self.flows.values() if f.source == source and f.target == target]

    def outgoing(self, element: str) -> list[Flow]:
        return [f for f in self.flows.values() if f.source == element]

    def reaches(self, start: str, goal: str) -> bool:
        """Whether `goal` can follow `start` along flows (into subprocesses and boundary events too)."""
        seen, queue = {start}, deque([start])
        while queue:
            here = queue.popleft()
            if here == goal:
                return True
            nexts = [f.target for f in self.outgoing(here)]
            nexts += self.children.get(here, []) + self.boundaries.get(here, [])
            for nxt in nexts:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return False


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def read_bpmn(file: Path, data: bytes | None = None) -> Diagram:
    data = data if data is not None else file.read_bytes()
    root = load_xml(file.name, data).root  # parsed as a deploy parses it: no DTD, no entities, bounded size
    diagram = Diagram(file=file, xml=data.decode(root.getroottree().docinfo.encoding or "utf-8"))
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("isExecutable", "true") != "false":
            diagram.processes.append(process.get("id"))
        for node in process.iter():
            kind = _local(node.tag)
            if node is process or kind in NOT_ELEMENTS or node.get("id") is None:
                continue
            if node.getparent() is not None and _local(node.getparent().tag) in ("extensionElements", "documentation"):
                continue
            if etree.QName(node.tag).namespace != BPMN or kind.endswith("EventDefinition"):
                continue
            diagram.elements[node.get("id")] = (kind, node.get("name") or "")
            if kind == "boundaryEvent" and node.get("attachedToRef"):
                diagram.boundaries.setdefault(node.get("attachedToRef"), []).append(node.get("id"))
            if kind == "startEvent" and _local(node.getparent().tag) in ("subProcess", "transaction"):
                diagram.children.setdefault(node.getparent().get("id"), []).append(node.get("id"))
        for association in process.iter(f"{{{BPMN}}}association"):
            source = association.get("sourceRef")
            if diagram.elements.get(source, ("",))[0] == "boundaryEvent":
                diagram.compensations[source] = association.get("targetRef")
        for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
            condition = flow.find(f"{{{BPMN}}}conditionExpression")
            diagram.flows[flow.get("id")] = Flow(
                id=flow.get("id"),
                source=flow.get("sourceRef"),
                target=flow.get("targetRef"),
                name=flow.get("name") or "",
                condition=(condition.text or "").strip() if condition is not None else None,
            )
    return diagram


@dataclass
class DecisionTable:
    key: str
    name: str
    rules: list[str]  # rule ids, in table order


def read_dmn(file: Path, data: bytes | None = None) -> list[DecisionTable]:
    root = load_xml(file.name, data if data is not None else file.read_bytes()).root
    tables = []
    for decision in root.iter():
        if _local(decision.tag) != "decision" or etree.QName(decision.tag).namespace not in DMN_NAMESPACES:
            continue
        table = next((c for c in decision if _local(c.tag) == "decisionTable"), None)
        if table is None:
            continue
        rules = [r.get("id") or f"rule {i}" for i, r in enumerate(c for c in table if _local(c.tag) == "rule")]
        tables.append(DecisionTable(key=decision.get("id"), name=decision.get("name") or "", rules=rules))
    return tables
