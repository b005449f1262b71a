"""The variables a process knows, read from its diagram and its history: what the condition builder offers to pick
and what a sample test order fills in. Found in form fields, output mappings, result variables, script
assignments, conditions, the inputs of the decisions it calls and the start variables of earlier orders.

These are suggestions for people, not a type system: a name found by reading an expression may be a bean, and a
type is only known where a form, a decision or a comparison says it."""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree
from sqlalchemy import select

from processes import expressions
from processes.core.engine import Engine
from processes.core.models import AuditEvent, ProcessInstance
from processes.deployment.parser import BPMN_NS, ZEEBE_NS, load_xml

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
EARLIER_ORDERS = 20  # how many recent orders' start variables are looked at
FORM_TYPES = {"long": "number", "double": "number", "boolean": "boolean", "date": "date", "enum": "string"}
FORM_JS_TYPES = {"number": "number", "checkbox": "boolean", "datetime": "date"}
DMN_TYPES = {
    "number": "number",
    "integer": "number",
    "long": "number",
    "double": "number",
    "boolean": "boolean",
    "string": "string",
    "date": "date",
    "dateTime": "date",
}
_KEYWORDS = {
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "div",
    "mod",
    "empty",
    "true",
    "false",
    "null",
    "instanceof",
    "execution",
    "between",
    "in",
    "instance",
    "of",
    "if",
    "then",
    "else",
    "for",
    "some",
    "every",
    "satisfies",
    "return",
    "function",
    "now",
    "dateTime",
    "date",
    "time",
    "duration",
    "string",
    "number",
}
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_PATH = re.compile(r"(?<![\w.$#])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\s*\()?")
_COMPARISON = re.compile(
    r"([A-Za-z_][\w.]*)\s*(?:==|!=|>=|<=|>|<|=|\beq\b|\bne\b|\bgt\b|\blt\b|\bge\b|\ble\b)\s*"
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|True|False)"
)


class _Known:
    """Variables by name, each with its type, label, options, where it was found, whether the diagram reads it
    and whether an element sets it."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}

    def add(self, name: str | None, source: str, *, writes: bool = False, reads: bool = False, **facts: Any) -> None:
        name = (name or "").strip()
        if not name or name.split(".")[0] in _KEYWORDS or name.startswith("_"):
            return
        known = self.by_name.setdefault(
            name,
            {
                "name": name,
                "type": None,
                "label": None,
                "options": [],
                "sources": [],
                "reads": False,
                "writes": False,
                "startValue": False,
                "example": None,
            },
        )
        if source not in known["sources"]:
            known["sources"].append(source)
        known["reads"] |= reads
        known["writes"] |= writes
        for fact, value in facts.items():
            if value not in (None, [], "") and known.get(fact) in (None, [], False):
                known[fact] = value

    def result(self) -> list[dict[str, Any]]:
        variables = sorted(self.by_name.values(), key=lambda v: v["name"].lower())
        for v in variables:
            # What a test order must bring: read somewhere and set by nothing, or asked for when the order starts.
            v["startValue"] = v["startValue"] or (v["reads"] and not v["writes"])
        return variables


def _label(element: etree._Element) -> str:
    return element.get("name") or element.get("id") or etree.QName(element).localname


def _local(element: etree._Element, namespace: str, name: str) -> list[etree._Element]:
    return list(element.iter(f"{{{namespace}}}{name}"))


def _forms(process: etree._Element, known: _Known) -> None:
    for element in process.iter(f"{{{BPMN_NS}}}startEvent", f"{{{BPMN_NS}}}userTask"):
        at_start = etree.QName(element).localname == "startEvent"
        where = f"form of '{_label(element)}'"
        for field in _local(element, CAMUNDA_NS, "formField"):
            options = [
                {"id": v.get("id"), "name": v.get("name") or v.get("id")} for v in _local(field, CAMUNDA_NS, "value")
            ]
            known.add(
                field.get("id"),
                where,
                writes=not at_start,
                startValue=at_start,
                type=FORM_TYPES.get(field.get("type") or "string", "string"),
                label=field.get("label"),
                options=options,
                example=field.get("defaultValue"),
            )
    for form in process.getroottree().getroot().iter(f"{{{ZEEBE_NS}}}userTaskForm"):
        try:
            components = json.loads(form.text or "{}").get("components", [])
        except (ValueError, AttributeError):
            continue
        for component in components if isinstance(components, list) else []:
            if isinstance(component, dict) and component.get("key"):
                options = [
                    {"id": o.get("value"), "name": o.get("label")}
                    for o in component.get("values") or []
                    if isinstance(o, dict)
                ]
                known.add(
                    component["key"],
                    "form",
                    writes=True,
                    type=FORM_JS_TYPES.get(component.get("type"), "string"),
                    label=component.get("label"),
                    options=options,
                )


def _outputs(process: etree._Element, known: _Known) -> None:
    for element in process.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS:
            continue
        where = f"'{_label(element)}'"
        for output in element.findall(
            f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}inputOutput/{{{CAMUNDA_NS}}}outputParameter"
        ):
            known.add(output.get("name"), f"output of {where}", writes=True)
        for output in element.findall(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}ioMapping/{{{ZEEBE_NS}}}output"):
            known.add(output.get("target"), f"output of {where}", writes=True)
        result = element.get(f"{{{CAMUNDA_NS}}}resultVariable")
        for zeebe in element.findall(f"{{{BPMN_NS}}}extensionElements/*"):
            result = result or (zeebe.get("resultVariable") if etree.QName(zeebe).namespace == ZEEBE_NS else None)
        known.add(result, f"result of {where}", writes=True)
        element_variable = element.get(f"{{{CAMUNDA_NS}}}elementVariable")
        known.add(element_variable, f"each item in {where}", writes=True)


def _scripts(process: etree._Element, known: _Known) -> None:
    for task in process.iter(f"{{{BPMN_NS}}}scriptTask"):
        script = task.find(f"{{{BPMN_NS}}}script")
        if script is None or not (script.text or "").strip() or (task.get("scriptFormat") or "python") != "python":
            continue
        try:
            tree = ast.parse(script.text)
        except (SyntaxError, ValueError):
            continue
        names = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
        stored = {n.id for n in names if isinstance(n.ctx, ast.Store)}
        for name in stored:
            known.add(name, f"set by script '{_label(task)}'", writes=True)
        for name in {n.id for n in names if isinstance(n.ctx, ast.Load)} - stored - set(dir(builtins)):
            known.add(name, f"read by script '{_label(task)}'", reads=True)


def names_read(source: str) -> list[str]:
    """The variable names (dotted paths such as customer.tier) an expression reads, in any dialect."""
    dialect = expressions.dialect_of(source)
    if dialect == expressions.PYTHON:
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except (SyntaxError, ValueError):
            return []
        ignored = set(dir(builtins))
        return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in ignored))
    text = _STRING.sub('""', source)
    beans: set[str] = set()
    if dialect == expressions.JUEL:
        text = " ".join(re.findall(r"[$#]\{(.*?)\}", text, flags=re.S))
        try:
            beans = {bean for bean, _ in expressions.bean_calls(source)}
        except expressions.ExpressionError:
            pass
    names = []
    for path, call in _PATH.findall(text):
        if call:  # a method call on a value (name.contains(...)) reads the value; a bare function call reads nothing
            path = path.rpartition(".")[0]
        if path and path.split(".")[0] not in _KEYWORDS and path not in beans:
            names.append(path)
    return list(dict.fromkeys(names))


def _literal(text: str) -> tuple[str, Any]:
    if text in ("true", "True", "false", "False"):
        return "boolean", text.lower() == "true"
    if text[0] in "\"'":
        return "string", text[1:-1]
    return "number", float(text) if "." in text else int(text)


def _conditions(process: etree._Element, known: _Known) -> None:
    found = [(c, c.getparent()) for c in process.iter(f"{{{BPMN_NS}}}conditionExpression")]
    found += [(c, c.getparent().getparent()) for c in process.iter(f"{{{BPMN_NS}}}condition")]
    for condition, owner in found:
        source = (condition.text or "").strip()
        where = f"condition of '{_label(owner)}'"
        for name in names_read(source):
            known.add(name, where, reads=True)
        for name, literal in _COMPARISON.findall(source):
            kind, value = _literal(literal)
            if name in known.by_name:
                known.add(name, where, type=kind, example=value)


def _decision_inputs(process: etree._Element, known: _Known, decisions: Mapping[str, Mapping[str, Any]]) -> None:
    for task in process.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        ref = task.get(f"{{{CAMUNDA_NS}}}decisionRef")
        called = task.find(f".//{{{ZEEBE_NS}}}calledDecision")
        ref = ref or (called.get("decisionId") if called is not None else None)
        decision = decisions.get(ref or "")
        if decision is None:
            continue
        for column in decision.get("inputs", []):
            for name in names_read("=" + column["expression"]) if column["expression"] else []:
                known.add(
                    name,
                    f"input of decision '{decision.get('name') or ref}'",
                    reads=True,
                    type=DMN_TYPES.get(column.get("typeRef") or ""),
                    label=column.get("label"),
                )


def _seen_at_start(engine: Engine, key: str, known: _Known) -> None:
    with engine.read_session() as session:
        ids = session.scalars(
            select(ProcessInstance.id)
            .where(ProcessInstance.process_key == key)
            .order_by(ProcessInstance.created_at.desc())
            .limit(EARLIER_ORDERS)
        ).all()
        rows = (
            session.scalars(
                select(AuditEvent.data).where(AuditEvent.instance_id.in_(ids), AuditEvent.type == "instance_started")
            ).all()
            if ids
            else []
        )
    for data in rows:
        for name, value in ((data or {}).get("variables") or {}).items():
            known.add(name, "start variable of earlier orders", startValue=True, type=_type_of(value), example=value)


def _type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, (dict, list)) else None


def known_variables(
    engine: Engine | None, xml: str, decisions: Iterable[Mapping[str, Any]] = (), key: str | None = None
) -> list[dict[str, Any]]:
    """The variables of the executable processes in a BPMN text: name, type, label, options (enum values), the
    places it was found, and startValue (a test order should bring it). `decisions` are deployed decisions with
    their inputs (catalog.decision_catalog); `key` looks up the start variables of earlier orders."""
    root = load_xml("process.bpmn", xml.encode("utf-8")).root
    known = _Known()
    by_key = {d["key"]: d for d in decisions}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        _forms(process, known)
        _outputs(process, known)
        _scripts(process, known)
        _conditions(process, known)
        _decision_inputs(process, known, by_key)
    if engine is not None and key:
        _seen_at_start(engine, key, known)
    return known.result()
