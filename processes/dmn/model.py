"""The compiled decision model: boxed expressions (decision tables, literal expressions, contexts, invocations,
lists, relations, function definitions), decisions, input data and business knowledge models.

Every FEEL text is compiled once, when the file is parsed (``reader.py``); evaluating only runs the compiled
closures of ``processes.feel`` against ``Scope`` frames:

    base scope      the caller's variables (only the names the decision graph mentions, converted to FEEL once)
    decision scope  required decisions' results (by name and by id) and required knowledge models (functions)
    column scope    ``?`` (and Camunda's input variable, ``cellInput`` by default) bound to one input value
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..errors import InternalError, NotFound, Problem
from ..feel import FeelError
from ..feel.evaluator import iteration_domain
from ..feel.functions import EvalContext, Scope, UserFunction, invoke
from ..feel.ops import eq
from ..feel.unary import range_contains
from ..feel.values import CTX, Range
from .errors import DmnDecisionError
from .types import TypeMismatch, TypeSpec, describe

HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
LIST_POLICIES = ("COLLECT", "RULE ORDER", "OUTPUT ORDER")
_UNSET = object()


class Cell:
    """One FEEL text of the model, compiled. ``run`` is None for empty text (null, or "matches anything")."""

    __slots__ = ("text", "run", "names", "element_id")

    def __init__(self, text: str, run: Callable | None, names: frozenset[str], element_id: str | None) -> None:
        self.text = text
        self.run = run
        self.names = names
        self.element_id = element_id


class Owner:
    """What is being evaluated (a decision or a business knowledge model), for error messages."""

    __slots__ = ("id", "name", "label")

    def __init__(self, kind: str, id_: str, name: str) -> None:
        self.id = id_
        self.name = name
        self.label = f"{kind} '{name}' ({id_})" if name and name != id_ else f"{kind} '{id_}'"


def fail(owner: Owner, message: str, element_id: str | None = None, rule_ids: list[str] | None = None):
    return DmnDecisionError(f"{owner.label}: {message}", decision_id=owner.id, element_id=element_id, rule_ids=rule_ids)


def run_cell(cell: Cell, scope: Scope, owner: Owner, what: str) -> Any:
    run = cell.run
    if run is None:
        return None
    try:
        return run(scope)
    except DmnDecisionError:
        raise
    except FeelError as exc:
        raise fail(owner, f"{what} {cell.text!r}: {exc}", cell.element_id) from exc
    except RecursionError as exc:
        raise fail(owner, f"{what} {cell.text!r}: evaluation nested too deeply", cell.element_id) from exc
    except Exception as exc:  # noqa: BLE001 - a bug in FEEL evaluation, reported with its place
        raise fail(owner, f"{what} {cell.text!r} failed: {type(exc).__name__}: {exc}", cell.element_id) from exc


def run_test(run: Callable, value: Any, scope: Scope, owner: Owner, what: str, text: str, element_id: str | None):
    try:
        return run(value, scope)
    except DmnDecisionError:
        raise
    except FeelError as exc:
        raise fail(owner, f"{what} {text!r}: {exc}", element_id) from exc
    except Exception as exc:  # noqa: BLE001
        raise fail(owner, f"{what} {text!r} failed: {type(exc).__name__}: {exc}", element_id) from exc


def conform(spec: TypeSpec | None, value: Any, owner: Owner, what: str, element_id: str | None, coerce: bool) -> Any:
    if spec is None or value is None:
        return value
    try:
        simple = spec.simple
        if simple is not None:
            return simple(spec.unwrap(value) if type(value) is list else value, coerce)
        return spec.conform(value, coerce)
    except TypeMismatch as exc:
        raise fail(owner, f"{what} ({spec.name}): {exc}", element_id) from None


# ---------------------------------------------------------------- boxed expressions


class Expression(ABC):
    """A boxed expression: ``evaluate(scope, owner)`` gives a FEEL value."""

    __slots__ = ()

    @abstractmethod
    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        """The expression's value in `scope`."""


class Literal(Expression):
    __slots__ = ("cell", "type")

    def __init__(self, cell: Cell, type_: TypeSpec | None) -> None:
        self.cell, self.type = cell, type_

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        value = run_cell(self.cell, scope, owner, "expression")
        return conform(self.type, value, owner, "expression result", self.cell.element_id, False)


class ContextExpr(Expression):
    """Context entries evaluated in order, each seeing the ones before; a last entry without a name is the result."""

    __slots__ = ("entries",)

    def __init__(self, entries: list[tuple[str | None, TypeSpec | None, Expression]]) -> None:
        self.entries = entries

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        values: dict[str, Any] = {}
        inner = Scope(values, scope, scope.ctx)
        for name, spec, expr in self.entries:
            value = expr.evaluate(inner, owner)
            if name is None:
                return value
            values[name] = conform(spec, value, owner, f"context entry {name!r}", None, False)
        return dict(values)


class ListExpr(Expression):
    __slots__ = ("items",)

    def __init__(self, items: list[Expression]) -> None:
        self.items = items

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        return [item.evaluate(scope, owner) for item in self.items]


class Relation(Expression):
    """A boxed relation: a list of contexts, one per row."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: list[str], rows: list[list[Expression]]) -> None:
        self.columns, self.rows = columns, rows

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        return [
            {name: cell.evaluate(scope, owner) for name, cell in zip(self.columns, row, strict=True)}
            for row in self.rows
        ]


class FunctionDef(Expression):
    """A boxed function definition: a FEEL function value closing over the scope it is evaluated in."""

    __slots__ = ("params", "body")

    def __init__(self, params: list[tuple[str, TypeSpec | None]], body: Expression) -> None:
        self.params, self.body = params, body

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        params, body = self.params, self.body

        def run(s: Scope) -> Any:
            for name, spec in params:
                if spec is not None:
                    s.values[name] = conform(spec, s.values.get(name), owner, f"parameter {name!r}", None, False)
            return body.evaluate(s, owner)

        return UserFunction([p for p, _ in params], run, scope, False)


class Invocation(Expression):
    """A boxed invocation: a function (usually a business knowledge model) called with named bindings."""

    __slots__ = ("function", "bindings")

    def __init__(self, function: Cell, bindings: list[tuple[str, Expression | None]]) -> None:
        self.function, self.bindings = function, bindings

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        fn = run_cell(self.function, scope, owner, "invoked function")
        args = [expr.evaluate(scope, owner) if expr is not None else None for _, expr in self.bindings]
        names = [name for name, _ in self.bindings]
        try:
            return invoke(fn, args, names, scope.ctx)
        except DmnDecisionError:
            raise
        except FeelError as exc:
            raise fail(owner, f"invoking {self.function.text!r}: {exc}", self.function.element_id) from exc


def _boolean(value: Any, owner: Owner, what: str) -> bool | None:
    """A boxed expression's condition must be a boolean (or null): anything else is a modelling error."""
    if value is not None and type(value) is not bool:
        raise fail(owner, f"{what} must give a boolean, not {describe(value)}")
    return value


class Conditional(Expression):
    """A boxed conditional: ``then`` when ``if`` is true, else ``else`` (as FEEL's if: null or not a boolean is
    false)."""

    __slots__ = ("cond", "then", "other")

    def __init__(self, cond: Expression, then: Expression, other: Expression) -> None:
        self.cond, self.then, self.other = cond, then, other

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        cond = _boolean(self.cond.evaluate(scope, owner), owner, "conditional: 'if'")
        chosen = self.then if cond is True else self.other
        return chosen.evaluate(scope, owner)


class Filter(Expression):
    """A boxed filter: the items of ``in`` for which ``match`` (seeing ``item`` and a context item's entries) is
    true."""

    __slots__ = ("source", "match")

    def __init__(self, source: Expression, match: Expression) -> None:
        self.source, self.match = source, match

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        value = self.source.evaluate(scope, owner)
        if value is None:
            return None
        out = []
        for item in value if type(value) is list else [value]:
            scope.ctx.tick()
            inner = Scope({"item": item}, scope, scope.ctx)
            if type(item) is dict:
                inner = Scope(item, inner, scope.ctx)
            if _boolean(self.match.evaluate(inner, owner), owner, "filter: 'match'") is True:
                out.append(item)
        return out


class Iterator(Expression):
    """A boxed for / some / every over the items of ``in`` (a list, a single value or an integer range), the
    iterator variable bound to each."""

    __slots__ = ("kind", "variable", "source", "body")

    def __init__(self, kind: str, variable: str, source: Expression, body: Expression) -> None:
        self.kind, self.variable, self.source, self.body = kind, variable, source, body

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        try:
            domain = list(iteration_domain(self.source.evaluate(scope, owner)))
        except InternalError:  # a null domain
            return None
        except FeelError as exc:
            raise fail(owner, f"{self.kind}: {exc}") from exc
        results = []
        for item in domain:
            scope.ctx.tick()
            results.append(self.body.evaluate(Scope({self.variable: item}, scope, scope.ctx), owner))
        if self.kind == "for":
            return results
        for r in results:
            _boolean(r, owner, f"{self.kind}: 'satisfies'")
        stop = self.kind == "some"  # some: true when one is true; every: false when one is false
        if any(r is stop for r in results):
            return stop
        return None if any(r is not (not stop) for r in results) else not stop


# ---------------------------------------------------------------- decision tables


class Input:
    __slots__ = ("id", "label", "expr", "type", "values", "values_text", "variable")

    def __init__(self, id_, label, expr, type_, values, values_text, variable) -> None:
        self.id: str | None = id_
        self.label: str = label
        self.expr: Cell = expr
        self.type: TypeSpec | None = type_
        self.values: Callable | None = values  # compiled unary tests of <inputValues>
        self.values_text: str = values_text
        self.variable: str = variable


class Output:
    __slots__ = ("id", "name", "type", "values", "values_text", "priorities", "default")

    def __init__(self, id_, name, type_, values, values_text, priorities, default) -> None:
        self.id: str | None = id_
        self.name: str = name
        self.type: TypeSpec | None = type_
        self.values: Callable | None = values  # compiled unary tests of <outputValues>
        self.values_text: str = values_text
        self.priorities: list | None = priorities  # the output values as a list, for PRIORITY / OUTPUT ORDER
        self.default: Cell | None = default


class Rule:
    __slots__ = ("id", "row", "tests", "outputs")

    def __init__(self, id_: str, row: int, tests: tuple[int, ...], outputs: tuple[Cell, ...]) -> None:
        self.id = id_
        self.row = row
        self.tests = tests  # indexes into DecisionTable.tests; "-" and empty entries are left out
        self.outputs = outputs


class DecisionTable(Expression):
    """A decision table. Distinct input entries of a column are compiled and, per evaluation, tested once."""

    __slots__ = ("id", "hit_policy", "aggregation", "inputs", "outputs", "rules", "tests", "ranked", "has_default")

    def __init__(
        self,
        id_: str | None,
        hit_policy: str,
        aggregation: str | None,
        inputs: list[Input],
        outputs: list[Output],
        rules: list[Rule],
        tests: list[tuple[int, Callable, str, str | None]],
    ) -> None:
        self.id = id_
        self.hit_policy = hit_policy
        self.aggregation = aggregation
        self.inputs = inputs
        self.outputs = outputs
        self.rules = rules
        self.tests = tests  # (input column, compiled unary tests, text, element id of its first cell)
        self.ranked = [(j, o.priorities) for j, o in enumerate(outputs) if o.priorities is not None]
        self.has_default = any(o.default is not None for o in outputs)

    @property
    def returns_list(self) -> bool:
        return self.hit_policy in LIST_POLICIES and self.aggregation is None

    def evaluate(self, scope: Scope, owner: Owner) -> Any:
        return self.decide(scope, owner)[0]

    def decide(self, scope: Scope, owner: Owner) -> tuple[Any, list[Rule], list[list[Any]]]:
        """(result, rules that make up the result, their output values)."""
        ctx = scope.ctx
        values: list[Any] = []
        scopes: list[Scope] = []
        for inp in self.inputs:
            value = run_cell(inp.expr, scope, owner, f"input {inp.label!r}")
            if value is not None:
                if inp.type is not None:
                    value = conform(inp.type, value, owner, f"input {inp.label!r}", inp.id, True)
                if inp.values is not None:
                    column = Scope({"?": value}, scope, ctx)
                    ok = run_test(
                        inp.values, value, column, owner, f"input values of {inp.label!r}", inp.values_text, inp.id
                    )
                    if ok is not True:
                        allowed = f"is not one of the input values ({inp.values_text})"
                        raise fail(owner, f"input {inp.label!r}: {describe(value)} {allowed}", inp.id)
            values.append(value)
            scopes.append(Scope({"?": value, inp.variable: value}, scope, ctx))

        tests = self.tests
        cache = [_UNSET] * len(tests)
        first = self.hit_policy == "FIRST"
        matched: list[Rule] = []
        rule = index = None
        try:
            for rule in self.rules:
                for index in rule.tests:
                    hit = cache[index]
                    if hit is _UNSET:
                        column, run = tests[index][:2]
                        hit = cache[index] = run(values[column], scopes[column])
                    if hit is not True:
                        break
                else:
                    matched.append(rule)
                    if first:
                        break
        except DmnDecisionError:
            raise
        except Exception as exc:  # noqa: BLE001 - FeelError, or a bug in FEEL evaluation: named with its cell
            column, _, text, _ = tests[index]
            detail = str(exc) if isinstance(exc, FeelError) else f"failed: {type(exc).__name__}: {exc}"
            where = f"rule {rule.id} (row {rule.row}), input {self.inputs[column].label!r}: {text!r}: {detail}"
            raise fail(owner, where, rule.id) from exc

        if not matched:
            return self._no_match(scope, owner), [], []
        policy = self.hit_policy
        if policy == "UNIQUE" and len(matched) > 1:
            ids = [r.id for r in matched]
            raise fail(
                owner,
                f"hit policy UNIQUE violated: {len(matched)} rules match: "
                + ", ".join(f"{r.id} (row {r.row})" for r in matched)
                + f"; inputs {self._describe_inputs(values)}",
                ids[0],
                ids,
            )
        if policy in ("UNIQUE", "FIRST"):
            outs = [self._outputs(matched[0], scope, owner)]
            return self._shape(outs[0]), matched, outs
        outs = [self._outputs(rule, scope, owner) for rule in matched]
        if policy == "ANY":
            for rule, out in zip(matched[1:], outs[1:], strict=True):
                if out != outs[0]:
                    ids = [r.id for r in matched]
                    raise fail(
                        owner,
                        f"hit policy ANY violated: rules {matched[0].id} (row {matched[0].row}) and {rule.id} "
                        f"(row {rule.row}) match with different outputs {self._describe_outputs(outs[0])} and "
                        f"{self._describe_outputs(out)}; inputs {self._describe_inputs(values)}",
                        rule.id,
                        ids,
                    )
            return self._shape(outs[0]), matched, outs
        if policy == "PRIORITY":
            ranks = [self._rank(out) for out in outs]
            best = min(range(len(outs)), key=ranks.__getitem__)  # the first of equal priority: rule order
            return self._shape(outs[best]), [matched[best]], [outs[best]]
        if policy == "OUTPUT ORDER":
            ranks = [self._rank(out) for out in outs]
            order = sorted(range(len(outs)), key=ranks.__getitem__)  # stable: rule order among equals
            matched = [matched[i] for i in order]
            outs = [outs[i] for i in order]
        if self.aggregation is not None:
            return self._aggregate([out[0] for out in outs], owner), matched, outs
        return [self._shape(out) for out in outs], matched, outs

    # -- helpers

    def _outputs(self, rule: Rule, scope: Scope, owner: Owner) -> list[Any]:
        out = []
        for spec, cell in zip(self.outputs, rule.outputs, strict=True):
            value = run_cell(cell, scope, owner, f"rule {rule.id} (row {rule.row}), output {spec.name!r}:")
            out.append(self._check_output(spec, value, owner, f"rule {rule.id} (row {rule.row}), output", rule.id))
        return out

    def _check_output(self, spec: Output, value: Any, owner: Owner, where: str, element_id: str | None) -> Any:
        if value is None:
            return None
        value = conform(spec.type, value, owner, f"{where} {spec.name!r}", element_id, False)
        if spec.values is not None:
            ok = run_test(
                spec.values,
                value,
                Scope({"?": value}, None, EvalContext()),
                owner,
                f"output values of {spec.name!r}",
                spec.values_text,
                spec.id,
            )
            if ok is not True:
                raise fail(
                    owner,
                    f"{where} {spec.name!r}: {describe(value)} is not one of the output values ({spec.values_text})",
                    element_id,
                )
        return value

    def _shape(self, out: list[Any]) -> Any:
        if len(out) == 1:
            return out[0]
        return {spec.name: value for spec, value in zip(self.outputs, out, strict=True)}

    def _rank(self, out: list[Any]) -> tuple[int, ...]:
        key = []
        for column, priorities in self.ranked:
            value = out[column]
            for i, allowed in enumerate(priorities):
                if (range_contains(allowed, value) if type(allowed) is Range else eq(value, allowed)) is True:
                    key.append(i)
                    break
            else:
                key.append(len(priorities))
        return tuple(key)

    def _no_match(self, scope: Scope, owner: Owner) -> Any:
        if self.has_default:
            out = []
            for spec in self.outputs:
                value = None
                if spec.default is not None:
                    value = run_cell(spec.default, scope, owner, f"default of output {spec.name!r}")
                out.append(self._check_output(spec, value, owner, "default of output", spec.id))
            shaped = self._shape(out)
            return [shaped] if self.returns_list else shaped
        if self.aggregation == "COUNT":
            return Decimal(0)
        return None

    def _aggregate(self, values: list[Any], owner: Owner) -> Any:
        aggregation = self.aggregation
        if aggregation == "COUNT":
            return Decimal(len(values))
        present = [v for v in values if v is not None]  # null outputs take no part, as in SQL
        if not present:
            return None
        if aggregation == "SUM":
            total = Decimal(0)
            for value in present:
                if type(value) is not Decimal:
                    raise fail(owner, f"COLLECT SUM needs numbers, got {describe(value)}", self.id)
                total = CTX.add(total, value)
            return total
        try:
            return min(present) if aggregation == "MIN" else max(present)
        except TypeError:
            kinds = ", ".join(sorted({describe(v).split(" ")[0] for v in present}))
            raise fail(owner, f"COLLECT {aggregation} cannot compare the outputs ({kinds})", self.id) from None

    def _describe_inputs(self, values: Sequence[Any]) -> str:
        return ", ".join(f"{inp.label}={describe(v)}" for inp, v in zip(self.inputs, values, strict=True)) or "none"

    def _describe_outputs(self, out: list[Any]) -> str:
        return "{" + ", ".join(f"{spec.name}: {describe(v)}" for spec, v in zip(self.outputs, out, strict=True)) + "}"


# ---------------------------------------------------------------- DRG elements


class InputData:
    __slots__ = ("id", "name", "type", "line")

    def __init__(self, id_: str, name: str, type_: TypeSpec | None, line: int | None) -> None:
        self.id, self.name, self.type, self.line = id_, name, type_, line


class Bkm:
    """A business knowledge model: a FEEL function value (parameters -> its boxed expression)."""

    __slots__ = ("id", "name", "owner", "params", "logic", "type", "required", "function", "_scope", "refused")

    def __init__(self, id_: str, name: str, params: list[tuple[str, TypeSpec | None]], logic, type_) -> None:
        self.id = id_
        self.name = name
        self.owner = Owner("business knowledge model", id_, name)
        self.params = params
        self.logic: Expression | None = logic
        self.type: TypeSpec | None = type_
        self.required: list[Bkm] = []
        self.refused: str | None = None
        self._scope: dict[str, Any] = {}
        self.function = UserFunction([p for p, _ in params], self._call, Scope(self._scope, None, EvalContext()), False)

    def refuse(self, reason: str) -> None:
        """Not usable (an unsupported construct or a syntax error): calling it fails with ``reason``."""
        self.refused = reason

    def link(self) -> None:
        """Make the required knowledge models visible inside this one (after all are built)."""
        for bkm in self.required:
            self._scope[bkm.name] = bkm.function

    def _call(self, scope: Scope) -> Any:
        owner = self.owner
        if self.refused is not None:
            raise fail(owner, f"cannot be used: {self.refused}")
        if self.logic is None:
            raise fail(owner, "has no encapsulated logic")
        for name, spec in self.params:
            if spec is not None:
                scope.values[name] = conform(spec, scope.values.get(name), owner, f"parameter {name!r}", None, False)
        value = self.logic.evaluate(scope, owner)
        return conform(self.type, value, owner, "result", None, False)


class Decision:
    __slots__ = (
        "id",
        "name",
        "owner",
        "logic",
        "type",
        "required_decisions",
        "required_inputs",
        "bkms",
        "needed",
        "line",
        "refused",
        "reads",
    )

    def __init__(self, id_: str, name: str, logic: Expression | None, type_: TypeSpec | None, line: int | None):
        self.id = id_
        self.name = name or id_
        self.owner = Owner("decision", id_, self.name)
        self.logic = logic
        self.type = type_
        self.required_decisions: list[Decision] = []
        self.required_inputs: list[InputData] = []
        self.bkms: list[Bkm] = []
        self.needed: frozenset[str] = frozenset()  # caller variable names the decision graph can read
        self.line = line
        self.refused: str | None = None
        self.reads: frozenset[str] = frozenset()  # the names its own FEEL texts mention

    def refuse(self, reason: str) -> None:
        """Not usable (an unsupported construct or a syntax error): evaluating it fails with ``reason``."""
        self.refused = reason if self.refused is None else f"{self.refused}; {reason}"

    def __repr__(self) -> str:
        return f"Decision({self.id!r}, {self.name!r})"

    @property
    def hit_policy(self) -> str | None:
        return self.logic.hit_policy if isinstance(self.logic, DecisionTable) else None

    @property
    def output_names(self) -> list[str]:
        if isinstance(self.logic, DecisionTable):
            return [o.name for o in self.logic.outputs]
        return [self.name]

    def decide(self, scope: Scope) -> tuple[Any, list[Rule], list[list[Any]]]:
        owner = self.owner
        logic = self.logic
        if self.refused is not None:
            raise fail(owner, f"cannot be evaluated: {self.refused}")
        if logic is None:
            raise fail(owner, "has no decision logic (a decision table or an expression) to evaluate")
        if isinstance(logic, DecisionTable):
            value, rules, outs = logic.decide(scope, owner)
            if self.type is not None and value is not None:
                if logic.returns_list and not self.type.collection:
                    value = [conform(self.type, v, owner, "result", None, False) for v in value]
                else:
                    value = conform(self.type, value, owner, "result", None, False)
            return value, rules, outs
        value = logic.evaluate(scope, owner)
        return conform(self.type, value, owner, "result", None, False), [], []


class DecisionService:
    """A decision service: its output decisions evaluated from its input data and input decisions (the parameters,
    in that order), computing its encapsulated decisions on the way. Callable as a FEEL function (from decisions
    and knowledge models that require it) and on its own (``engine.evaluate`` by its id or name)."""

    def __init__(self, id_: str, name: str, hrefs: dict[str, list[str]], type_: TypeSpec | None) -> None:
        self.id = id_
        self.name = name
        self.owner = Owner("decision service", id_, name)
        self.hrefs = hrefs  # outputDecision, inputDecision, inputData, encapsulatedDecision -> element ids
        self.type = type_
        self.outputs: list[Decision] = []
        self.input_decisions: list[Decision] = []
        self.input_data: list[InputData] = []
        self.refused: str | None = None
        self.types: Scope | None = None  # the item definitions' instance-of checks
        self.function = UserFunction([], self._call, Scope({}, None, EvalContext()), False)

    def refuse(self, reason: str) -> None:
        self.refused = reason

    def link(self, decisions: dict[str, Decision], input_data: dict[str, InputData]) -> list[str]:
        """Resolve the hrefs; the problems (references to elements not in the file)."""
        problems = []
        for kind, target, found in (
            ("outputDecision", self.outputs, decisions),
            ("inputDecision", self.input_decisions, decisions),
            ("inputData", self.input_data, input_data),
        ):
            for href in self.hrefs.get(kind, []):
                if href in found:
                    target.append(found[href])
                else:
                    problems.append(f"{kind} {href!r} is not in this file")
        if not self.outputs and not problems:
            problems.append("has no output decision")
        self.function.params = tuple(d.name for d in [*self.input_data, *self.input_decisions])
        return problems

    def _call(self, scope: Scope) -> Any:
        return self.run(scope.values, scope.ctx)

    def run(self, params: Mapping[str, Any], ctx: EvalContext) -> Any:
        """The output decision's value (several: a context by their names) for these parameter values."""
        outputs = self.outputs_for(params, ctx)
        value = next(iter(outputs.values())) if len(outputs) == 1 else outputs
        return conform(self.type, value, self.owner, "result", None, False)

    def outputs_for(self, params: Mapping[str, Any], ctx: EvalContext) -> dict[str, Any]:
        owner = self.owner
        if self.refused is not None:
            raise fail(owner, f"cannot be used: {self.refused}")
        values: dict[str, Any] = {}
        for data in self.input_data:
            values[data.name] = _coerce_parameter(data.type, params.get(data.name), owner, data.name)
        done: dict[str, Any] = {d.id: params.get(d.name) for d in self.input_decisions}
        base = Scope(values, self.types, ctx)

        def decide(decision: Decision) -> Any:
            if decision.id in done:
                return done[decision.id]
            own: dict[str, Any] = {}
            for required in decision.required_decisions:
                own[required.id] = own[required.name] = decide(required)
            for bkm in decision.bkms:
                own[bkm.name] = bkm.function
            value = decision.decide(Scope(own, base, ctx) if own else base)[0]
            done[decision.id] = value
            return value

        return {decision.name: decide(decision) for decision in self.outputs}


def _coerce_parameter(spec: TypeSpec | None, value: Any, owner: Owner, name: str) -> Any:
    """A decision service's parameter: a one-element list stands for its element, a value that does not conform
    to the input data's type is null (DMN's coercion rules for invocation)."""
    if spec is None or value is None:
        return value
    if type(value) is list and len(value) == 1 and not spec.collection:
        value = value[0]
    try:
        return conform(spec, value, owner, f"parameter {name!r}", None, True)
    except DmnDecisionError:
        return None


class DmnModel:
    """A parsed DMN file: decisions by id (``decisions``), ``decision(id_or_name)``, ``evaluate(...)``."""

    def __init__(
        self,
        name: str,
        namespace: str | None,
        decisions: dict[str, Decision],
        input_data: dict[str, InputData],
        bkms: dict[str, Bkm],
        known: frozenset[str],
        feel_text: str,
        xml: bytes,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.decisions = decisions
        self.input_data = input_data
        self.bkms = bkms
        self.known = known  # names with keywords/punctuation the FEEL texts were compiled with
        self.feel_text = feel_text  # every FEEL text, to see whether a caller's unusual variable name matters
        self.xml = xml
        self._by_name = {}
        for decision in decisions.values():
            self._by_name.setdefault(decision.name, decision)
        self.refusals: list[Problem] = []  # decisions and knowledge models refused, as warnings
        self.services: dict[str, DecisionService] = {}
        self.types = Scope({}, None, EvalContext())  # the item definitions' instance-of checks (a root frame)
        self._variants: dict[frozenset[str], DmnModel] = {}
        self._relevant: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"DmnModel({self.name!r}, decisions={list(self.decisions)})"

    def service(self, id_or_name: str) -> DecisionService | None:
        """The decision service with this id or name (None when there is none)."""
        found = self.services.get(id_or_name)
        return found or next((s for s in self.services.values() if s.name == id_or_name), None)

    def decision(self, id_or_name: str) -> Decision:
        found = self.decisions.get(id_or_name) or self._by_name.get(id_or_name)
        if found is None:
            available = ", ".join(f"{d.id} ({d.name})" for d in self.decisions.values()) or "none"
            raise NotFound(f"no decision {id_or_name!r} in {self.name}; decisions: {available}")
        return found

    # -- caller variables whose names contain keywords or punctuation

    def relevant(self, name: str) -> bool:
        """Is ``name`` a variable name the FEEL texts must be recompiled for (so ``order-total`` is one name)?"""
        found = self._relevant.get(name)
        if found is None:
            found = name not in self.known and needs_known(name) and name in self.feel_text
            if len(self._relevant) < 4096:
                self._relevant[name] = found
        return found


_KEYWORDS = frozenset(
    "for return in if then else satisfies function or and between instance of true false null some every external "
    "not".split()
)


def needs_known(name: str) -> bool:
    """Must the FEEL parser be told about this name? Not for identifiers and plain multi-word names."""
    if name.isidentifier() and name not in _KEYWORDS:
        return False
    parts = name.split(" ")
    return not all(p.isidentifier() and p not in _KEYWORDS for p in parts)
