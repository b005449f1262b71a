"""Unary tests (DMN input entries) -> closures ``test(input_value, scope) -> True/False/None``.

How a positive unary test that is an expression ``e`` matches the input value (DMN 1.3 §10.3.2.9, Camunda 8):
* ``e`` mentions ``?`` and gives a boolean: that boolean (``? > 5 and ? < 10``, ``count(?) > 2``);
* ``e`` gives a boolean, the input is not a boolean and not null: that boolean (``amount > 100`` in any column);
* ``e`` gives a list: the input is in the list (or equals it);
* ``e`` gives a range (``[1..10]``): the input is in the range;
* otherwise: input = value (FEEL equality: ``"gold"``, ``null``, ``date("2024-01-01")``, ``true``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import nodes as n
from .functions import Scope
from .ops import COMPARATORS, compare, eq
from .values import Range

Test = Callable[[Any, Scope], bool | None]
# Compiles a FEEL expression node (evaluator.compile_expr, passed in: the evaluator compiles unary tests too, for
# `x in (...)`, so neither module imports the other both ways).
CompileExpr = Callable[[n.Node], Callable[[Scope], Any]]


def range_contains(r: Range, value: Any) -> bool | None:
    if value is None:
        return None
    if r.start is not None:
        c = compare(value, r.start)
        if c is None:
            return None
        if c < 0 or (c == 0 and not r.start_included):
            return False
    if r.end is not None:
        c = compare(value, r.end)
        if c is None:
            return None
        if c > 0 or (c == 0 and not r.end_included):
            return False
    return True


def list_contains(items: list, value: Any) -> bool | None:
    saw_null = False
    for item in items:
        r = eq(value, item)
        if r is True:
            return True
        if r is None:
            saw_null = True
    return None if saw_null else False


def matches(value: Any, result: Any, uses_input: bool) -> bool | None:
    t = type(result)
    if t is bool:
        if uses_input or (value is not None and type(value) is not bool):
            return result
        return value is result
    if result is None and uses_input:
        return None
    if t is list:
        if type(value) is list and eq(value, result) is True:
            return True
        return list_contains(result, value)
    if t is Range:
        return range_contains(result, value)
    return eq(value, result)


def compile_test(node: n.Node, compile_expr: CompileExpr) -> Test:
    if isinstance(node, n.UnaryCompare):
        op, endpoint = COMPARATORS[node.op], compile_expr(node.endpoint)
        return lambda x, s: op(x, endpoint(s))
    expr = node.expr
    if isinstance(expr, n.Lit):
        constant = expr.value
        return lambda x, s: matches(x, constant, False)
    f = compile_expr(expr)
    uses_input = n.uses_input(expr)
    return lambda x, s: matches(x, f(s), uses_input)


def compile_positive_tests(tests: list[n.Node], compile_expr: CompileExpr) -> Test:
    compiled = [compile_test(t, compile_expr) for t in tests]
    if len(compiled) == 1:
        return compiled[0]

    def any_of(x: Any, s: Scope) -> bool | None:
        result: bool | None = False
        for test in compiled:
            r = test(x, s)
            if r is True:
                return True
            if r is not False:
                result = None
        return result

    return any_of


def compile_unary_tests(node: n.UnaryTests, compile_expr: CompileExpr) -> Test:
    if node.tests is None:
        return lambda x, s: True
    test = compile_positive_tests(node.tests, compile_expr)
    if not node.negated:
        return test

    def negated(x: Any, s: Scope) -> bool | None:
        r = test(x, s)
        return None if r is None else not r

    return negated
