"""An order's variables as people read an order: who ordered, where it goes, what (quantities, prices), the totals;
everything else folded away, and the scripts' working variables kept from approvers.

Nothing here knows the order story's variable names. Shapes are recognised by their keys (an address has a street
and a city, an item line has a quantity and a price), and what is internal is read off the diagram (see
`working_variables`)."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from xml.etree import ElementTree

from sqlalchemy import select

from processes.core.models import DecisionDefinition, ProcessDefinition

from ..services import services

# Kept by the engine for a multi-instance loop: they describe one pass of the loop, not the order.
LOOP_BOOKKEEPING = frozenset({"loopCounter", "nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances"})

ADDRESS_KEYS = {"street", "street1", "line1", "addressline1", "city", "town", "postalcode", "zip", "zipcode",
                "postcode", "country", "countrycode", "region", "state"}  # fmt: skip
PARTY_KEYS = {"name", "email", "phone", "firstname", "lastname", "company"}
QUANTITY_KEYS = ("quantity", "qty", "count", "units")
PRICE_KEYS = ("unitPrice", "unit_price", "price", "unitprice", "amount")
ITEM_NAME_KEYS = ("name", "title", "description", "sku", "productId", "product", "id")
TOTAL_WORDS = re.compile(r"(total|amount|subtotal|tax|due|shipping|discount)", re.IGNORECASE)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPRESSION = re.compile(r"[$#]\{[^}]*\}")
STRING = re.compile(r"\"[^\"]*\"|'[^']*'")


def plain_name(text: str | None) -> str | None:
    """A label without its unevaluated expressions: "Approve order: ${level.name}" reads "Approve order"."""
    if not text or not EXPRESSION.search(text):
        return text
    return re.sub(r"\s{2,}", " ", EXPRESSION.sub("", text)).strip().rstrip(":,;-–—").strip() or None


def humanise(key: str) -> str:
    """`shippingAddress` reads "Shipping address", `postal_code` "Postal code"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").split()
    return " ".join(words).capitalize() if words else key


def _keys(value: dict) -> set[str]:
    return {k.lower().replace("_", "") for k in value}


def is_address(value: Any) -> bool:
    return isinstance(value, dict) and len(_keys(value) & ADDRESS_KEYS) >= 2


def is_party(value: Any) -> bool:
    return isinstance(value, dict) and not is_address(value) and bool(_keys(value) & PARTY_KEYS)


def _first(value: dict, keys: tuple[str, ...]) -> str | None:
    lower = {k.lower(): k for k in value}
    return next((lower[k.lower()] for k in keys if k.lower() in lower), None)


def is_item_list(value: Any) -> bool:
    lines = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    return bool(lines) and len(lines) == len(value) and all(_first(v, QUANTITY_KEYS) for v in lines)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class ItemTable:
    label: str
    columns: list[str]  # the other keys of the lines, in the order first seen
    lines: list[dict[str, Any]]  # name, quantity, unitPrice, lineTotal, extra {column: value}
    total: float | None


def item_table(label: str, value: list[dict]) -> ItemTable:
    lines, columns, total = [], [], 0.0
    for item in value:
        quantity_key, price_key, name_key = (_first(item, keys) for keys in (QUANTITY_KEYS, PRICE_KEYS, ITEM_NAME_KEYS))
        quantity = item.get(quantity_key) if quantity_key else None
        price = item.get(price_key) if price_key else None
        line_total = None
        if _number(quantity) is not None and _number(price) is not None:
            line_total = round(_number(quantity) * _number(price), 2)
            total = total + line_total if total is not None else None
        else:
            total = None
        extra = {k: v for k, v in item.items() if k not in (quantity_key, price_key, name_key)}
        columns += [k for k in extra if k not in columns]
        lines.append({"name": item.get(name_key) if name_key else None, "quantity": quantity, "unitPrice": price,
                      "lineTotal": line_total, "extra": extra})  # fmt: skip
    return ItemTable(humanise(label), columns, lines, round(total, 2) if total is not None else None)


@dataclass
class OrderView:
    """What a page shows of an order's variables: the recognised parts first, the rest in "All data"."""

    parties: list[tuple[str, dict]] = field(default_factory=list)
    addresses: list[tuple[str, dict]] = field(default_factory=list)
    items: list[ItemTable] = field(default_factory=list)
    totals: list[tuple[str, Any]] = field(default_factory=list)
    facts: list[tuple[str, Any]] = field(default_factory=list)  # the order's own plain values: channel, currency
    rest: dict[str, Any] = field(default_factory=dict)  # everything not internal, for "All data"
    internal: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None

    @property
    def recognised(self) -> bool:
        return bool(self.parties or self.addresses or self.items or self.totals)


def order_view(variables: dict[str, Any], started_with: set[str] | None, internal: set[str]) -> OrderView:
    """Sort an order's variables. Customers, addresses and item lists are looked for among what the order started
    with (`started_with`; every variable when unknown), so copies the process makes later (a list of the items
    that ship now) stay under "All data"; totals are looked for everywhere, because processes compute them."""
    view = OrderView()
    own = started_with if started_with else set(variables)
    for name, value in sorted(variables.items()):
        if name in internal:
            view.internal[name] = value
            continue
        view.rest[name] = value
        if name.lower() == "currency" and isinstance(value, str):
            view.currency = value
        if name in own and is_address(value):
            view.addresses.append((humanise(name), value))
        elif name in own and is_party(value):
            view.parties.append((humanise(name), value))
        elif name in own and is_item_list(value):
            view.items.append(item_table(name, value))
        elif _number(value) is not None and TOTAL_WORDS.search(name):
            view.totals.append((humanise(name), value))
        elif name in own and started_with and isinstance(value, str | int | float | bool):
            view.facts.append((humanise(name), value))
    return view


def address_lines(address: dict) -> list[str]:
    """An address as it is written on a parcel: name, street, postal code and city, region, country."""
    get = {k.lower().replace("_", ""): v for k, v in address.items() if v not in (None, "")}
    lines = [get.get("name"), get.get("company"), get.get("street") or get.get("line1") or get.get("addressline1"),
             get.get("street2") or get.get("line2") or get.get("addressline2")]  # fmt: skip
    postal = get.get("postalcode") or get.get("zip") or get.get("zipcode") or get.get("postcode")
    lines.append(" ".join(str(p) for p in (postal, get.get("city") or get.get("town")) if p))
    lines.append(get.get("region") or get.get("state"))
    lines.append(get.get("country") or get.get("countrycode"))
    return [str(line) for line in lines if line]


# --- which variables are internal: read off the diagram ---------------------------------------------------------

SKIPPED_ATTRIBUTES = {"id", "sourceRef", "targetRef", "attachedToRef", "processRef", "bpmnElement", "default"}
SKIPPED_TAGS = {"documentation", "textAnnotation", "text", "incoming", "outgoing"}


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
    root = ElementTree.fromstring(process_xml.encode())
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
        for element in ElementTree.fromstring(xml.encode()).iter():
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
    except ElementTree.ParseError:
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


def started_with(history: list[dict[str, Any]]) -> set[str] | None:
    """The variables the order was started with (its first audit event records them)."""
    for event in history:
        if event.get("type") == "instance_started":
            variables = (event.get("data") or {}).get("variables")
            return set(variables) if isinstance(variables, dict) else None
    return None


def view_of(instance: dict[str, Any], history: list[dict[str, Any]]) -> OrderView:
    return order_view(instance.get("variables") or {}, started_with(history), internal_names(instance))


def as_text(value: Any, indent: int | None = None) -> str:
    """A value as text, with its real characters ("Zürich", not "Z\\u00fcrich")."""
    if isinstance(value, str) and indent is None:
        return value
    return json.dumps(value, ensure_ascii=False, indent=indent)


def number(value: Any, digits: int | None = None) -> str:
    """1234.5 reads "1,234.50" with two digits; a count reads "40"."""
    if _number(value) is None:
        return "—" if value is None else as_text(value)
    if digits is not None:
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) or not float(value).is_integer() else f"{int(value):,}"


FILTERS = {"humanise": humanise, "as_text": as_text, "number": number, "address_lines": address_lines,
           "plain_name": plain_name}  # fmt: skip


NAME_ATTRIBUTE = re.compile(r'(\sname=")([^"]*[$#]\{[^"]*)(")')


def without_expressions(xml: str) -> str:
    """A diagram for viewing: element names drawn without raw `${…}` (one drawn task stands for every pass)."""
    return NAME_ATTRIBUTE.sub(lambda m: m.group(1) + (plain_name(m.group(2)) or "") + m.group(3), xml)
