"""Syntax tree of a FEEL expression / unary tests. Every node knows its nesting depth (bounded at parse time)."""

from __future__ import annotations

from typing import Any

from ..errors import InternalError

MAX_DEPTH = 100


class TooDeep(InternalError):  # noqa: N818 - turned into a FeelSyntaxError by the parser
    pass


class Node:
    __slots__ = ("depth",)

    def _children(self, *nodes: Node | None) -> None:
        depth = 1 + max((n.depth for n in nodes if n is not None), default=0)
        if depth > MAX_DEPTH:
            raise TooDeep
        self.depth = depth


class Lit(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
        self.depth = 1


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name
        self.depth = 1


class Neg(Node):
    __slots__ = ("operand",)

    def __init__(self, operand: Node) -> None:
        self.operand = operand
        self._children(operand)


class Chain(Node):
    """``a + b - c``, ``a * b``, ``a ** b``: left-associative, flat."""

    __slots__ = ("first", "rest")

    def __init__(self, first: Node, rest: list[tuple[str, Node]]) -> None:
        self.first, self.rest = first, rest
        self._children(first, *(n for _, n in rest))


class Compare(Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op: str, left: Node, right: Node) -> None:
        self.op, self.left, self.right = op, left, right
        self._children(left, right)


class Between(Node):
    __slots__ = ("value", "low", "high")

    def __init__(self, value: Node, low: Node, high: Node) -> None:
        self.value, self.low, self.high = value, low, high
        self._children(value, low, high)


class In(Node):
    __slots__ = ("value", "tests")

    def __init__(self, value: Node, tests: list[Node]) -> None:
        self.value, self.tests = value, tests
        self._children(value, *tests)


# FEEL's own type names; any other name in a type (``instance of tPerson``) is a type the host defines (a DMN
# itemDefinition), checked by a function the host puts in scope under ``TYPE_KEY + name``.
TYPE_NAMES = frozenset(
    {
        "number",
        "string",
        "boolean",
        "date",
        "time",
        "date and time",
        "days and time duration",
        "years and months duration",
        "list",
        "context",
        "function",
        "range",
        "Any",
        "Null",
    }
)
TYPE_KEY = "\x00type "


class TypeRef(Node):
    """A type: ``name``, ``list<T>``/``range<T>`` (params), ``context<a: T>`` (params named by ``field``) or
    ``function<T, U> -> R`` (the parameter types, then the result type, whose ``field`` is "->")."""

    __slots__ = ("name", "params", "field", "at")

    def __init__(self, name: str, params: list[TypeRef], field: str | None = None, at: tuple = (1, 1)) -> None:
        self.name, self.params, self.field = name, params, field
        self.at = at  # (line, column) where the name is written
        self._children(*params)


class InstanceOf(Node):
    __slots__ = ("value", "type")

    def __init__(self, value: Node, type_: TypeRef) -> None:
        self.value, self.type = value, type_
        self._children(value, type_)


class Logic(Node):
    """``a and b and c`` / ``a or b``."""

    __slots__ = ("op", "items")

    def __init__(self, op: str, items: list[Node]) -> None:
        self.op, self.items = op, items
        self._children(*items)


class If(Node):
    __slots__ = ("cond", "then", "other")

    def __init__(self, cond: Node, then: Node, other: Node) -> None:
        self.cond, self.then, self.other = cond, then, other
        self._children(cond, then, other)


class For(Node):
    """``for a in x, b in 1..n return body``: iterations are (name, domain, range end or None)."""

    __slots__ = ("iterations", "body")

    def __init__(self, iterations: list[tuple[str, Node, Node | None]], body: Node) -> None:
        self.iterations, self.body = iterations, body
        self._children(body, *(d for _, d, _ in iterations), *(e for _, _, e in iterations))


class Quantified(Node):
    __slots__ = ("every", "iterations", "cond")

    def __init__(self, every: bool, iterations: list[tuple[str, Node]], cond: Node) -> None:
        self.every, self.iterations, self.cond = every, iterations, cond
        self._children(cond, *(d for _, d in iterations))


class FunctionDef(Node):
    __slots__ = ("params", "body", "external", "types")

    def __init__(self, params: list[str], body: Node, external: bool, types: list | None = None) -> None:
        self.params, self.body, self.external = params, body, external
        self.types = types or [None] * len(params)  # each parameter's declared TypeRef, or None
        self._children(body)


class Path(Node):
    __slots__ = ("target", "name")

    def __init__(self, target: Node, name: str) -> None:
        self.target, self.name = target, name
        self._children(target)


class Filter(Node):
    __slots__ = ("target", "cond")

    def __init__(self, target: Node, cond: Node) -> None:
        self.target, self.cond = target, cond
        self._children(target, cond)


class Call(Node):
    """``f(a, b)`` (names is None) or ``f(x: a, y: b)``."""

    __slots__ = ("target", "args", "names")

    def __init__(self, target: Node, args: list[Node], names: list[str] | None) -> None:
        self.target, self.args, self.names = target, args, names
        self._children(target, *args)


class ListLit(Node):
    __slots__ = ("items",)

    def __init__(self, items: list[Node]) -> None:
        self.items = items
        self._children(*items)


class ContextLit(Node):
    __slots__ = ("entries",)

    def __init__(self, entries: list[tuple[str, Node]]) -> None:
        self.entries = entries
        self._children(*(n for _, n in entries))


class Interval(Node):
    __slots__ = ("start_included", "start", "end", "end_included")

    def __init__(self, start_included: bool, start: Node, end: Node, end_included: bool) -> None:
        self.start_included, self.start, self.end, self.end_included = start_included, start, end, end_included
        self._children(start, end)


# ---------------------------------------------------------------- unary tests


class UnaryCompare(Node):
    """``< 5``, ``>= x``: compares the input value with the endpoint."""

    __slots__ = ("op", "endpoint")

    def __init__(self, op: str, endpoint: Node) -> None:
        self.op, self.endpoint = op, endpoint
        self._children(endpoint)


class UnaryExpr(Node):
    """A positive unary test that is an expression: see ``unary.py`` for how it matches the input."""

    __slots__ = ("expr",)

    def __init__(self, expr: Node) -> None:
        self.expr = expr
        self._children(expr)


class UnaryTests(Node):
    """``-`` (tests is None), ``a, b, c`` or ``not(a, b, c)``."""

    __slots__ = ("tests", "negated")

    def __init__(self, tests: list[Node] | None, negated: bool) -> None:
        self.tests, self.negated = tests, negated
        self._children(*(tests or ()))


def walk(node: Any):
    """All nodes below and including ``node`` (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Node):
            yield n
            for slot in _slots(type(n)):
                stack.append(getattr(n, slot))
        elif isinstance(n, list | tuple):
            stack.extend(n)


def _slots(cls: type) -> tuple[str, ...]:
    return tuple(s for c in cls.__mro__ for s in getattr(c, "__slots__", ()) if s != "depth")


def uses_input(node: Node) -> bool:
    """Does the expression refer to ``?`` (the input value of a unary test)?"""
    return any(isinstance(n, Name) and n.name == "?" for n in walk(node))


def free_names(node: Node) -> frozenset[str]:
    """Every name the expression mentions (a superset of the variables it can read)."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Name))


def custom_types(node: Node) -> dict[str, tuple]:
    """The type names the expression uses that are not FEEL's own, each with where it is first written."""
    found: dict[str, tuple] = {}
    for x in walk(node):
        if isinstance(x, TypeRef) and x.name not in TYPE_NAMES:
            found[x.name] = min(found.get(x.name, x.at), x.at)
    return found
