"""Which of an order's variables are internal, read off its diagram: the working variables of script tasks, the
engine's loop bookkeeping, `_private` names. Pages keep them from approvers (README: "The order as an order")."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Any

from lxml import etree
from sqlalchemy import select

from processes.core.models import DecisionDefinition, ProcessDefinition

from ..services import services
from .naming import EXPRESSION

# Kept by the engine for a multi-instance loop: they describe one pass of the loop, not the order.
LOOP_BOOKKEEPING = frozenset({"loopCounter", "nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances"})
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STRING = re.compile(r"\"[^\"]*\"|'[^']*'")
SKIPPED_ATTRIBUTES = {"id", "sourceRef", "targetRef", "attachedToRef", "processRef", "bpmnElement", "default"}
SKIPPED_TAGS = {"documentation", "textAnnotation", "text", "incoming", "outgoing"}
# Deployed diagrams were parsed like this already; the same care here (no entities, no network, no DTD).
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _assigned_by(script: str) -> set[str]:
    """The names a Python script task assigns (plain assignments and loop variables at any depth)."""
    try:
        tree = ast.parse(script)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


class _FreeNames(ast.NodeVisitor):
    """The names a script reads before it assigns them itself, visiting in the order Python evaluates (the value
    of an assignment before its target, a loop's iterable before its variable)."""

    def __init__(self) -> None:
        self.assigned: set[str] = set()
        self.free: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.assigned.add(node.id)
        elif node.id not in self.assigned:
            self.free.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name) and node.target.id not in self.assigned:
            self.free.add(node.target.id)
        self.visit(node.target)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

    def _comprehension(self, node: Any, *parts: ast.AST) -> None:
        for generator in node.generators:
            self.visit(generator.iter)
            self.visit(generator.target)
            for condition in generator.ifs:
                self.visit(condition)
        for part in parts:
            self.visit(part)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, node.elt)

    visit_SetComp = visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, node.key, node.value)


def _read_by_script(script: str) -> set[str]:
    try:
        tree = ast.parse(script)
    except SyntaxError:
        return set(IDENTIFIER.findall(script))
    names = _FreeNames()
    names.visit(tree)
    return names.free


def _read_by_expression(text: str) -> set[str]:
    """Identifiers of an expression, condition or decision cell; string literals ('eu', "gold") are no reading."""
    return set(IDENTIFIER.findall(STRING.sub(" ", text)))


def working_variables(process_xml: str, decision_xmls: list[str]) -> set[str]:
    """The variables of this process that are internal:

    - a script task's working variables: names its script assigns that nothing else reads: no other script, no
      expression, condition, input or output mapping of the diagram and no decision it calls (a look-up table, a
      loop variable, a part of an address taken apart for a check);
    - the engine's multi-instance bookkeeping (`loopCounter`, `nrOf…`) and each loop's element variable;
    - names that start with an underscore, the usual mark of "private".
    """
    root = etree.fromstring(process_xml.encode(), PARSER)
    scripts: list[str] = []
    reads: list[set[str]] = []  # names read anywhere: a script's free names, an expression's identifiers
    internal: set[str] = set(LOOP_BOOKKEEPING)
    for element in root.iter():
        tag = _local(element.tag) if isinstance(element.tag, str) else ""
        if not tag or tag in SKIPPED_TAGS or element.tag.startswith("{http://www.omg.org/spec/BPMN/20100524/DI}"):
            continue
        for attribute, value in element.attrib.items():
            name = _local(attribute)
            if name == "elementVariable":
                internal.add(value)
            elif name not in SKIPPED_ATTRIBUTES and (name != "name" or EXPRESSION.search(value)):
                reads.append(_read_by_expression(value))
        if tag == "script" and element.text:
            scripts.append(element.text)
            reads.append(_read_by_script(element.text))
        elif element.text and element.text.strip():
            reads.append(_read_by_expression(element.text))
    for xml in decision_xmls:
        for element in etree.fromstring(xml.encode(), PARSER).iter():
            if isinstance(element.tag, str) and _local(element.tag) in ("text", "inputExpression") and element.text:
                reads.append(_read_by_expression(element.text))
    read = set().union(*reads)
    for text in scripts:
        internal |= _assigned_by(text) - read
    return internal


@lru_cache(maxsize=64)
def _cached_working_variables(process_xml: str, decision_xmls: tuple[str, ...]) -> frozenset[str]:
    try:
        return frozenset(working_variables(process_xml, list(decision_xmls)))
    except etree.XMLSyntaxError:
        return frozenset()


def _working_variables_of(definition_id: str) -> frozenset[str]:
    """Of one deployed version, with the decisions it calls (every deployed version of their keys)."""
    with services().engine.read_session() as session:
        xml = session.scalar(select(ProcessDefinition.xml).where(ProcessDefinition.id == definition_id))
        if xml is None:
            return frozenset()
        refs = set(re.findall(r'decisionRef="([^"$#{}]+)"', xml))
        decisions = session.scalars(
            select(DecisionDefinition.xml).where(DecisionDefinition.key.in_(refs)).order_by(DecisionDefinition.id)
        ).all()
    return _cached_working_variables(xml, tuple(decisions))


def internal_names(instance: dict[str, Any]) -> set[str]:
    """The internal variables of an instance: its diagram's working variables, and private `_names`."""
    names = set(_working_variables_of(instance["definitionId"]))
    return names | {name for name in instance.get("variables") or {} if name.startswith("_")}
