"""Reading DMN 1.1-1.5 XML into a compiled ``DmnModel``, listing every problem at once (``DmnParseError``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lxml import etree

from ..errors import Problem
from ..feel import FeelError, FeelSyntaxError, compile_feel
from ..feel.functions import EvalContext, Scope
from ..feel.nodes import TYPE_KEY
from .errors import DmnParseError
from .model import (
    AGGREGATIONS,
    HIT_POLICIES,
    Bkm,
    Cell,
    Conditional,
    ContextExpr,
    Decision,
    DecisionService,
    DecisionTable,
    DmnModel,
    Expression,
    Filter,
    FunctionDef,
    Input,
    InputData,
    Invocation,
    Iterator,
    ListExpr,
    Literal,
    Output,
    Relation,
    Rule,
    needs_known,
)
from .types import BUILTIN_CHECKS, TypeSpec, builtin_key

DMN_NAMESPACES = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",  # 1.1
        "http://www.omg.org/spec/DMN/20151101/dmn11.xsd",  # 1.1, as Camunda Modeler 1.x wrote it
        "http://www.omg.org/spec/DMN/20180521/MODEL/",  # 1.2 (as some tools write it)
        "https://www.omg.org/spec/DMN/20180521/MODEL/",  # 1.2
        "https://www.omg.org/spec/DMN/20191111/MODEL/",  # 1.3
        "https://www.omg.org/spec/DMN/20211108/MODEL/",  # 1.4
        "https://www.omg.org/spec/DMN/20230324/MODEL/",  # 1.5
        "https://www.omg.org/spec/DMN/20240513/MODEL/",  # 1.6 draft, as Camunda and Trisotech write it
    }
)
CAMUNDA_NS = "http://camunda.org/schema/1.0/dmn"
MAX_BYTES = 5 * 1024 * 1024
EXPRESSION_KINDS = frozenset(
    {
        "literalExpression",
        "decisionTable",
        "context",
        "invocation",
        "list",
        "relation",
        "functionDefinition",
        "conditional",
        "filter",
        "for",
        "every",
        "some",
    }
)


def _anything(value: Any) -> bool:
    return True


def parse(xml: bytes | str, name: str = "decisions.dmn", *, extra_names: frozenset[str] = frozenset()) -> DmnModel:
    """Parse and compile a DMN file. Raises DmnParseError listing every problem (element id, message, line).

    ``extra_names``: caller variable names with keywords or punctuation the FEEL texts must know (used by the
    model itself when a caller passes such variables).
    """
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    return _Reader(data, name, extra_names).read()


def load(data: bytes, name: str) -> etree._Element:
    """Parse XML safely: bounded size, no DOCTYPE (so no entities, no XXE), no network."""
    if len(data) > MAX_BYTES:
        raise DmnParseError(name, [Problem(f"{len(data)} bytes is over the limit of {MAX_BYTES}")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DmnParseError(name, [Problem(f"not well-formed XML: {exc}", line=exc.lineno)]) from None
    if root is None:
        raise DmnParseError(name, [Problem("empty document")])
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DmnParseError(name, [Problem("DOCTYPE declarations are not allowed in DMN files", line=1)])
    qname = etree.QName(root)
    if qname.namespace not in DMN_NAMESPACES or qname.localname != "definitions":
        raise DmnParseError(
            name, [Problem(f"not a DMN 1.1-1.5 document (root element {root.tag})", root.get("id"), line=1)]
        )
    return root


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _child(el, name: str):
    for c in el:
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def _text(el) -> tuple[str, Any]:
    """The <text> of an element (and the element to point problems at)."""
    if el is None:
        return "", None
    t = _child(el, "text")
    if t is None:
        return "", el
    return t.text or "", t


def _is_feel(language: str | None) -> bool:
    return not language or "feel" in language.lower()


class _Reader:
    def __init__(self, data: bytes, name: str, extra_names: frozenset[str]) -> None:
        self.data = data
        self.name = name
        self.extra_names = extra_names
        self.problems: list[Problem] = []
        self.known: frozenset[str] = frozenset()
        self.texts: list[str] = []
        self.names: set[str] = set()  # free names of the FEEL texts of the element being read
        self.types: dict[str, TypeSpec | None] = {}
        self.item_definitions: dict[str, Any] = {}
        self.type_names: frozenset[str] = frozenset()  # item definitions FEEL texts may name as types
        self.resolving: set[str] = set()
        self.language: str | None = None
        self.decision_name = ""  # the decision (or knowledge model) being read: names a single unnamed output

    # -- problems and FEEL

    def problem(self, element_id: str | None, message: str, el=None) -> None:
        line = el.sourceline if el is not None else None
        self.problems.append(Problem(message, element_id, line=line))

    def cell(self, text: str, tests: bool, element_id: str | None, what: str, el, language: str | None = None) -> Cell:
        if not _is_feel(language or self.language):
            self.problem(
                element_id,
                f"{what}: expression language {language or self.language!r} is not supported (orderflow evaluates "
                "DMN with FEEL only)",
                el,
            )
            return Cell(text, None, frozenset(), element_id)
        self.texts.append(text)
        known = frozenset(n for n in self.known if n in text) if self.known else frozenset()
        try:
            compiled = compile_feel(text, tests, known, self.type_names)
        except FeelSyntaxError as exc:
            line = el.sourceline + exc.line - 1 if el is not None and el.sourceline else None
            self.problems.append(Problem(f"{what}: FEEL syntax error in {text!r}: {exc}", element_id, line=line))
            return Cell(text, None, frozenset(), element_id)
        except FeelError as exc:
            self.problem(element_id, f"{what}: {exc}", el)
            return Cell(text, None, frozenset(), element_id)
        self.names |= compiled.names
        return Cell(text, compiled.run, compiled.names, element_id)

    def unary(self, el, element_id: str | None, what: str):
        """Compiled unary tests of an <inputValues>/<outputValues>/<allowedValues> element (None when absent)."""
        text, at = _text(el)
        if not text.strip() or text.strip() == "-":
            return None, ""
        cell = self.cell(text, True, element_id, what, at, el.get("expressionLanguage") if el is not None else None)
        return cell.run, text.strip()

    # -- types

    def type_ref(self, type_ref: str | None, element_id: str | None, el) -> TypeSpec | None:
        if type_ref is None or not type_ref.strip():
            return None
        name = type_ref.strip()
        if name in self.types:
            return self.types[name]
        if name in self.item_definitions or name.rsplit(":", 1)[-1] in self.item_definitions:
            key = name if name in self.item_definitions else name.rsplit(":", 1)[-1]
            if key in self.resolving:
                self.problem(element_id, f"type {name!r} is defined in terms of itself", el)
                return None
            self.resolving.add(key)
            try:
                spec = self.item_definition(self.item_definitions[key])
            finally:
                self.resolving.discard(key)
        else:
            found = BUILTIN_CHECKS.get(builtin_key(name))
            if found is None:
                self.problem(element_id, f"unknown type {name!r} (not a FEEL type or an itemDefinition)", el)
                return None
            label, check = found
            spec = TypeSpec(label, check) if check is not None else None
        self.types[name] = spec
        return spec

    def item_definition(self, el) -> TypeSpec | None:
        """An <itemDefinition> or <itemComponent>."""
        element_id = el.get("id") or el.get("name")
        name = el.get("name") or element_id or "?"
        collection = (el.get("isCollection") or "false").strip().lower() == "true"
        components_el = _children(el, "itemComponent")
        type_el = _child(el, "typeRef")
        allowed_el = _child(el, "allowedValues")
        if allowed_el is None:
            allowed_el = _child(el, "typeConstraint")
        saved, self.names = self.names, set()
        allowed, allowed_text = self.unary(allowed_el, element_id, f"allowed values of type {name!r}")
        self.names = saved
        if components_el:
            components = {c.get("name") or "": self.item_definition(c) for c in components_el}
            return TypeSpec(
                name, None, allowed=allowed, allowed_text=allowed_text, collection=collection, components=components
            )
        base_ref = (type_el.text or "").strip() if type_el is not None else (el.get("typeRef") or "").strip()
        base = self.type_ref(base_ref, element_id, el) if base_ref else None
        if base is None and allowed is None and not collection:
            return None
        if base is not None and base.collection and collection:  # a list of lists: each item is a list
            base_check, components = lambda v, coerce: base.conform(v, coerce), None
        elif base is not None and base.collection and not collection:
            collection, base_check, components = True, base.check, base.components
        else:
            base_check = base.check if base is not None else None
            components = base.components if base is not None else None
        if base is not None and base.allowed is not None and allowed is None:
            allowed, allowed_text = base.allowed, base.allowed_text
        return TypeSpec(
            name, base_check, allowed=allowed, allowed_text=allowed_text, collection=collection, components=components
        )

    # -- boxed expressions

    def expression(self, el, owner_id: str, type_ref: str | None = None) -> Expression | None:
        kind = _local(el)
        element_id = el.get("id") or owner_id
        if kind == "literalExpression":
            text, at = _text(el)
            cell = self.cell(text, False, element_id, "literal expression", at, el.get("expressionLanguage"))
            return Literal(cell, self.type_ref(el.get("typeRef"), element_id, el))
        if kind == "decisionTable":
            return self.table(el, owner_id)
        if kind == "context":
            entries = []
            for entry in _children(el, "contextEntry"):
                variable = _child(entry, "variable")
                body = next((c for c in entry if _local(c) in EXPRESSION_KINDS), None)
                if body is None:
                    self.problem(entry.get("id") or element_id, "context entry without an expression", entry)
                    continue
                expr = self.expression(body, owner_id)
                if expr is None:
                    continue
                if variable is not None:
                    spec = self.type_ref(variable.get("typeRef"), element_id, variable)
                    entries.append((variable.get("name") or "", spec, expr))
                else:
                    entries.append((None, None, expr))
            return ContextExpr(entries)
        if kind == "list":
            items = [self.expression(c, owner_id) for c in el if _local(c) in EXPRESSION_KINDS]
            return ListExpr([i for i in items if i is not None]) if None not in items else None
        if kind == "relation":
            columns = [c.get("name") or "" for c in _children(el, "column")]
            rows = []
            for row in _children(el, "row"):
                cells = [self.expression(c, owner_id) for c in row if _local(c) in EXPRESSION_KINDS]
                if len(cells) != len(columns):
                    self.problem(row.get("id") or element_id, "relation row and columns differ in number", row)
                    return None
                if None in cells:
                    return None
                rows.append(cells)
            return Relation(columns, rows)
        if kind == "functionDefinition":
            if (el.get("kind") or "FEEL").upper() != "FEEL":
                self.problem(element_id, f"{el.get('kind')} functions are not supported (only FEEL)", el)
                return None
            params = [
                (p.get("name") or "", self.type_ref(p.get("typeRef"), element_id, p))
                for p in _children(el, "formalParameter")
            ]
            body_el = next((c for c in el if _local(c) in EXPRESSION_KINDS), None)
            if body_el is None:
                self.problem(element_id, "function definition without a body", el)
                return None
            saved, self.names = self.names, set()
            body = self.expression(body_el, owner_id)
            self.names = saved | (self.names - {p for p, _ in params})
            return FunctionDef(params, body) if body is not None else None
        if kind == "invocation":
            target = next((c for c in el if _local(c) == "literalExpression"), None)
            text, at = _text(target)
            if not text.strip():
                self.problem(element_id, "invocation does not name the function to call", el)
                return None
            function = self.cell(text.strip(), False, element_id, "invoked function", at)
            bindings = []
            for binding in _children(el, "binding"):
                parameter = _child(binding, "parameter")
                body = next((c for c in binding if _local(c) in EXPRESSION_KINDS), None)
                bindings.append(
                    (
                        parameter.get("name") if parameter is not None else "",
                        self.expression(body, owner_id) if body is not None else None,
                    )
                )
            return Invocation(function, bindings)
        if kind in ("conditional", "filter", "for", "some", "every"):
            return self.boxed(el, kind, element_id, owner_id)
        self.problem(element_id, f"<{kind}> decision logic is not supported (use a decision table or FEEL)", el)
        return None

    def boxed(self, el, kind: str, element_id: str, owner_id: str) -> Expression | None:
        """A boxed conditional, filter or iterator (for / some / every): its parts are boxed expressions."""
        roles = {
            "conditional": ("if", "then", "else"),
            "filter": ("in", "match"),
            "for": ("in", "return"),
            "some": ("in", "satisfies"),
            "every": ("in", "satisfies"),
        }[kind]
        parts: list[Expression | None] = []
        for role in roles:
            part = _child(el, role)
            body = next((c for c in part if _local(c) in EXPRESSION_KINDS), None) if part is not None else None
            if body is None:
                self.problem(element_id, f"<{kind}> has no <{role}> expression", el)
                return None
            parts.append(self.expression(body, owner_id))
        if None in parts:
            return None
        if kind == "conditional":
            return Conditional(*parts)
        if kind == "filter":
            self.names.discard("item")
            return Filter(*parts)
        variable = el.get("iteratorVariable") or ""
        if not variable:
            self.problem(element_id, f"<{kind}> has no iteratorVariable", el)
            return None
        self.names.discard(variable)
        return Iterator(kind, variable, *parts)

    def table(self, el, owner_id: str) -> DecisionTable | None:
        table_id = el.get("id")
        where = table_id or owner_id
        problems_before = len(self.problems)
        hit_policy = " ".join((el.get("hitPolicy") or "UNIQUE").split()).upper()
        if hit_policy not in HIT_POLICIES:
            self.problem(where, f"unknown hit policy {el.get('hitPolicy')!r} (one of {', '.join(HIT_POLICIES)})", el)
        aggregation = (el.get("aggregation") or "").strip().upper() or None
        if aggregation is not None:
            if aggregation not in AGGREGATIONS:
                self.problem(where, f"unknown aggregation {aggregation!r} (one of {', '.join(AGGREGATIONS)})", el)
            elif hit_policy != "COLLECT":
                self.problem(where, f"aggregation {aggregation} needs hit policy COLLECT, not {hit_policy}", el)

        inputs: list[Input] = []
        for i, inp in enumerate(_children(el, "input"), 1):
            expr_el = _child(inp, "inputExpression")
            text, at = _text(expr_el)
            input_id = inp.get("id") or f"{where}-input-{i}"
            label = inp.get("label") or text.strip() or input_id
            language = expr_el.get("expressionLanguage") if expr_el is not None else None
            if not text.strip():
                self.problem(input_id, f"input {label!r} has no input expression", inp)
            cell = self.cell(text, False, input_id, f"input {label!r}", at, language)
            type_ = self.type_ref(expr_el.get("typeRef") if expr_el is not None else None, input_id, expr_el)
            values, values_text = self.unary(_child(inp, "inputValues"), input_id, f"input values of {label!r}")
            variable = inp.get(f"{{{CAMUNDA_NS}}}inputVariable") or "cellInput"
            inputs.append(Input(input_id, label, cell, type_, values, values_text, variable))

        outputs: list[Output] = []
        output_els = _children(el, "output")
        if not output_els:
            self.problem(where, "decision table has no output column", el)
        for j, out in enumerate(output_els, 1):
            output_id = out.get("id") or f"{where}-output-{j}"
            name = out.get("name") or ""
            if not name and len(output_els) > 1:
                name = out.get("label") or ""
                if not name:
                    self.problem(output_id, "a decision table with several outputs must name each output", out)
                    name = output_id
            name = name or self.decision_name or output_id
            type_ = self.type_ref(out.get("typeRef"), output_id, out)
            values_el = _child(out, "outputValues")
            values, values_text = self.unary(values_el, output_id, f"output values of {name!r}")
            priorities = None
            if values is not None and hit_policy in ("PRIORITY", "OUTPUT ORDER"):
                priorities = self.priorities(values_text, output_id, name, values_el)
            default_el = _child(out, "defaultOutputEntry")
            default = None
            if default_el is not None:
                text, at = _text(default_el)
                if text.strip():
                    default = self.cell(
                        text, False, output_id, f"default of output {name!r}", at, default_el.get("expressionLanguage")
                    )
            outputs.append(Output(output_id, name, type_, values, values_text, priorities, default))
        names = [o.name for o in outputs]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.problem(where, f"two outputs are named {name!r}", el)
        if aggregation is not None and len(outputs) > 1:
            self.problem(where, f"aggregation {aggregation} needs a single output column, not {len(outputs)}", el)
        if hit_policy in ("PRIORITY", "OUTPUT ORDER") and outputs and all(o.priorities is None for o in outputs):
            self.problem(where, f"hit policy {hit_policy} needs output values (they give the priorities)", el)

        tests: list[tuple[int, Any, str, str | None]] = []
        index: dict[tuple[int, str], int] = {}
        rules: list[Rule] = []
        for row, rule in enumerate(_children(el, "rule"), 1):
            rule_id = rule.get("id") or f"{where}-rule-{row}"
            entries = _children(rule, "inputEntry")
            results = _children(rule, "outputEntry")
            if len(entries) != len(inputs) or len(results) != len(outputs):
                self.problem(
                    rule_id,
                    f"rule {rule_id} (row {row}) has {len(entries)} input and {len(results)} output entries; "
                    f"the table has {len(inputs)} inputs and {len(outputs)} outputs",
                    rule,
                )
                continue
            rule_tests = []
            for column, entry in enumerate(entries):
                text, at = _text(entry)
                what = f"rule {rule_id} (row {row}), input {inputs[column].label!r} [{entry.get('id') or '-'}]"
                cell = self.cell(text, True, rule_id, what, at, entry.get("expressionLanguage"))
                if cell.run is None or text.strip() in ("", "-"):
                    continue
                key = (column, text.strip())
                if key not in index:
                    index[key] = len(tests)
                    tests.append((column, cell.run, text.strip(), rule_id))
                rule_tests.append(index[key])
            cells = []
            for column, entry in enumerate(results):
                text, at = _text(entry)
                what = f"rule {rule_id} (row {row}), output {outputs[column].name!r} [{entry.get('id') or '-'}]"
                cells.append(self.cell(text, False, rule_id, what, at, entry.get("expressionLanguage")))
            rules.append(Rule(rule_id, row, tuple(rule_tests), tuple(cells)))
        if len(self.problems) > problems_before:
            return None
        return DecisionTable(table_id, hit_policy, aggregation, inputs, outputs, rules, tests)

    def priorities(self, text: str, element_id: str, name: str, el) -> list | None:
        """The output values as a list of values (their order is the priority), from ``[<output values>]``."""
        try:
            compiled = compile_feel("[" + text + "]", False)
            values = compiled.run(Scope({}, None, EvalContext())) if compiled.run is not None else None
        except FeelError:
            values = None
        if type(values) is not list:
            self.problem(
                element_id, f"output values of {name!r} must be a list of values to give priorities: {text!r}", el
            )
            return None
        return values

    # -- the file

    def read(self) -> DmnModel:
        root = load(self.data, self.name)
        self.language = root.get("expressionLanguage")
        namespace = root.get("namespace")
        elements = [c for c in root if isinstance(c.tag, str)]
        by_kind: dict[str, list] = {}
        for el in elements:
            by_kind.setdefault(_local(el), []).append(el)
        for el in root.iter():
            if isinstance(el.tag, str) and _local(el) == "import":
                self.problem(el.get("namespace"), "DMN imports are not supported", el)
        for el in by_kind.get("itemDefinition", []):
            if el.get("name"):
                self.item_definitions[el.get("name")] = el
        self.type_names = frozenset(self.item_definitions)
        types_root = Scope({}, None, EvalContext())  # ``instance of tPerson``: the item definitions' checks
        for type_name in self.item_definitions:
            start = len(self.problems)
            spec = self.type_ref(type_name, None, None)
            if len(self.problems) > start:  # reported where the type is used, refusing only what uses it
                del self.problems[start:]
                self.types.pop(type_name, None)
                continue
            types_root.values[TYPE_KEY + type_name] = spec.is_instance if spec is not None else _anything

        ids: dict[str, Any] = {}
        for el in elements:
            if el.get("id"):
                if el.get("id") in ids:
                    self.problem(el.get("id"), f"two elements have the id {el.get('id')!r}", el)
                ids[el.get("id")] = el

        declared = set(self.extra_names)
        for kind in ("inputData", "decision", "businessKnowledgeModel"):
            for el in by_kind.get(kind, []):
                declared.add(el.get("name") or "")
                declared.add(el.get("id") or "")
        for el in root.iter():
            if isinstance(el.tag, str) and _local(el) in (
                "itemComponent",
                "itemDefinition",
                "formalParameter",
                "variable",
                "output",
                "parameter",
                "column",
            ):
                declared.add(el.get("name") or "")
        self.known = frozenset(n for n in declared if n and needs_known(n))

        input_data: dict[str, InputData] = {}
        for el in by_kind.get("inputData", []):
            element_id = el.get("id") or el.get("name") or "inputData"
            name = el.get("name") or element_id
            variable = _child(el, "variable")
            type_ = self.type_ref(variable.get("typeRef") if variable is not None else None, element_id, variable)
            input_data[element_id] = InputData(element_id, name, type_, el.sourceline)

        bkms: dict[str, Bkm] = {}
        refusals: list[Problem] = []
        services: dict[str, DecisionService] = {}
        for el in by_kind.get("decisionService", []):
            element_id = el.get("id") or el.get("name") or "decisionService"
            hrefs: dict[str, list[str]] = {}
            for kind in ("outputDecision", "inputDecision", "inputData", "encapsulatedDecision"):
                for ref in _children(el, kind):
                    href = (ref.get("href") or "").strip()
                    prefix, _, local_id = href.rpartition("#")
                    # a reference into another file is not found when the service is linked: it refuses the service
                    hrefs.setdefault(kind, []).append(href if prefix and prefix != namespace else local_id)
            variable = _child(el, "variable")
            type_ = self.type_ref(variable.get("typeRef") if variable is not None else None, element_id, variable)
            if type_ is not None and type_.check is None and type_.components is None:
                type_ = None  # a function type: nothing to check
            services[element_id] = DecisionService(element_id, el.get("name") or element_id, hrefs, type_)
        callable_models: dict[str, Bkm | DecisionService] = {}
        for el in by_kind.get("businessKnowledgeModel", []):
            element_id = el.get("id") or el.get("name") or "bkm"
            name = el.get("name") or element_id
            start = len(self.problems)
            logic_el = _child(el, "encapsulatedLogic")
            params: list = []
            logic = None
            self.decision_name = name
            if logic_el is not None:
                params = [
                    (p.get("name") or "", self.type_ref(p.get("typeRef"), element_id, p))
                    for p in _children(logic_el, "formalParameter")
                ]
                if (logic_el.get("kind") or "FEEL").upper() != "FEEL":
                    self.problem(element_id, f"{logic_el.get('kind')} knowledge models are not supported", logic_el)
                else:
                    body = next((c for c in logic_el if _local(c) in EXPRESSION_KINDS), None)
                    if body is not None:
                        logic = self.expression(body, element_id)
            variable = _child(el, "variable")
            type_ = self.type_ref(variable.get("typeRef") if variable is not None else None, element_id, variable)
            if type_ is not None and type_.check is None and type_.components is None:
                type_ = None  # a function type: nothing to check
            bkms[element_id] = Bkm(element_id, name, params, logic, type_)
            self.refuse(bkms[element_id], start, refusals)
        callable_models.update(services)
        callable_models.update(bkms)
        for el in by_kind.get("businessKnowledgeModel", []):
            bkm = bkms[el.get("id") or el.get("name") or "bkm"]
            start = len(self.problems)
            for href, at in self.hrefs(el, "knowledgeRequirement", "requiredKnowledge", namespace):
                if href in callable_models:
                    bkm.required.append(callable_models[href])
                else:
                    self.problem(bkm.id, f"requires knowledge model {href!r}, which is not in this file", at)
            self.refuse(bkm, start, refusals)
            bkm.link()

        decisions: dict[str, Decision] = {}
        decision_els = by_kind.get("decision", [])
        if not decision_els:
            self.problem(root.get("id"), "the file has no <decision>", root)
        for el in decision_els:
            element_id = el.get("id") or el.get("name") or ""  # DMN makes the id optional
            if not element_id:
                self.problem(None, "a decision needs an id or a name", el)
                continue
            name = el.get("name") or element_id
            self.decision_name = name
            self.names = set()
            start = len(self.problems)
            logic_el = next((c for c in el if _local(c) in EXPRESSION_KINDS), None)
            logic = self.expression(logic_el, element_id) if logic_el is not None else None
            variable = _child(el, "variable")
            type_ = self.type_ref(variable.get("typeRef") if variable is not None else None, element_id, variable)
            decision = Decision(element_id, name, logic, type_, el.sourceline)
            decision.needed = decision.reads = frozenset(self.names)
            decisions[element_id] = decision
            self.refuse(decision, start, refusals)
        for el in decision_els:
            decision = decisions.get(el.get("id") or el.get("name") or "")
            if decision is None:
                continue
            start = len(self.problems)
            for href, at in self.hrefs(el, "informationRequirement", "requiredDecision", namespace):
                if href in decisions:
                    decision.required_decisions.append(decisions[href])
                else:
                    self.problem(decision.id, f"requires decision {href!r}, which is not in this file", at)
            for href, at in self.hrefs(el, "informationRequirement", "requiredInput", namespace):
                if href in input_data:
                    decision.required_inputs.append(input_data[href])
                else:
                    self.problem(decision.id, f"requires input data {href!r}, which is not in this file", at)
            for href, at in self.hrefs(el, "knowledgeRequirement", "requiredKnowledge", namespace):
                if href in callable_models:
                    decision.bkms.append(callable_models[href])
                else:
                    self.problem(decision.id, f"requires knowledge model {href!r}, which is not in this file", at)
            self.refuse(decision, start, refusals)
        for service in services.values():
            found = service.link(decisions, input_data)
            if found:
                service.refuse("; ".join(found))
                refusals.extend(Problem(f"{service.owner.label}: {p}", service.id, severity="warning") for p in found)
        self.check_cycles(decisions, ids)
        if decisions and all(d.refused for d in decisions.values()):
            self.problems[:0] = refusals  # nothing in the file can be used: refuse the file
        if self.problems:
            raise DmnParseError(self.name, self.problems)
        self.close_needed(decisions)
        model = DmnModel(
            self.name, namespace, decisions, input_data, bkms, self.known, "\n".join(self.texts), self.data
        )
        model.refusals = refusals
        model.services = services
        model.types = types_root
        for bkm in bkms.values():
            bkm.function.scope.parent = types_root
        for service in services.values():
            service.types = types_root
        return model

    def refuse(self, owner: Decision | Bkm, start: int, refusals: list[Problem]) -> None:
        """The problems found since ``start`` belong to one decision or knowledge model: refuse only that one (it
        fails, naming them, when evaluated), not the file."""
        if len(self.problems) == start:
            return
        found = self.problems[start:]
        del self.problems[start:]
        owner.refuse("; ".join(p.message for p in found))
        refusals.extend(replace(p, severity="warning", message=f"{owner.owner.label}: {p.message}") for p in found)

    def hrefs(self, el, requirement: str, kind: str, namespace: str | None):
        for req in _children(el, requirement):
            for ref in _children(req, kind):
                href = (ref.get("href") or "").strip()
                prefix, _, local_id = href.rpartition("#")
                if prefix and prefix != namespace:
                    self.problem(
                        el.get("id"), f"{kind} {href!r} points into another file (imports are not supported)", ref
                    )
                    continue
                yield local_id, ref

    def check_cycles(self, decisions: dict[str, Decision], ids: dict[str, Any]) -> None:
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(decision: Decision, path: list[str]) -> None:
            mark = state.get(decision.id)
            if mark == 2:
                return
            if mark == 1:
                cycle = path[path.index(decision.id) :] + [decision.id]
                message = "required decisions form a cycle: " + " -> ".join(cycle)
                self.problem(decision.id, message, ids.get(decision.id))
                return
            state[decision.id] = 1
            for required in decision.required_decisions:
                visit(required, path + [decision.id])
            state[decision.id] = 2

        for decision in decisions.values():
            visit(decision, [])

    @staticmethod
    def close_needed(decisions: dict[str, Decision]) -> None:
        """Each decision's ``needed``: the names its graph's FEEL texts read, plus the input data it requires."""
        closed: dict[str, frozenset[str]] = {}

        def close(decision: Decision) -> frozenset[str]:
            if decision.id in closed:
                return closed[decision.id]
            names = set(decision.needed) | {d.name for d in decision.required_inputs}
            for required in decision.required_decisions:
                names |= close(required)
            closed[decision.id] = frozenset(names)
            return closed[decision.id]

        for decision in decisions.values():
            decision.needed = close(decision)


def variant(model: DmnModel, extra: frozenset[str]) -> DmnModel:
    """The same model compiled with extra multi-token variable names (cached on the model)."""
    found = model._variants.get(extra)
    if found is None:
        found = parse(model.xml, model.name, extra_names=extra)
        if len(model._variants) >= 32:
            model._variants.clear()
        model._variants[extra] = found
    return found
