"""Built-ins: ``range(from)`` and the interval functions of DMN 1.4+ (10.3.4.9): before, after, meets, met by,
overlaps, overlaps before, overlaps after, finishes, finished by, includes, during, starts, started by, coincides.

Each takes points and/or ranges; the definitions follow the spec's table, comparing endpoints with FEEL's ``<``
and ``=``. A comparison that is null (values of different kinds) makes the result null.
"""

from __future__ import annotations

from typing import Any

from . import nodes as n
from .errors import FeelError, NullResult
from .evaluator import compile_expr
from .functions import EvalContext, Scope, builtin
from .lexing import KEYWORD_NAMES
from .ops import compare
from .parser import parse
from .values import Range, kind

_BUILTIN_NAMES = tuple(sorted(KEYWORD_NAMES, key=len, reverse=True))
_TEMPORAL_CALLS = frozenset({"date", "time", "date and time", "duration"})


def _cmp(a: Any, b: Any) -> int:
    c = compare(a, b)
    if c is None:
        raise NullResult
    return c


def _range(value: Any) -> Range:
    if type(value) is not Range:
        raise NullResult
    return value


def _point(value: Any) -> Any:
    if value is None or type(value) is Range:
        raise NullResult
    return value


# ---------------------------------------------------------------- point / range forms


def _before(a: Any, b: Any) -> bool:
    ra, rb = type(a) is Range, type(b) is Range
    if not ra and not rb:
        return _cmp(_point(a), _point(b)) < 0
    if not ra:
        c = _cmp(_point(a), b.start)
        return c < 0 or (c == 0 and not b.start_included)
    if not rb:
        c = _cmp(a.end, _point(b))
        return c < 0 or (c == 0 and not a.end_included)
    c = _cmp(a.end, b.start)
    return c < 0 or (c == 0 and (not a.end_included or not b.start_included))


def _meets(a: Range, b: Range) -> bool:
    return a.end_included and b.start_included and _cmp(a.end, b.start) == 0


def _overlaps(a: Range, b: Range) -> bool:
    c1, c2 = _cmp(a.end, b.start), _cmp(a.start, b.end)
    left = c1 > 0 or (c1 == 0 and a.end_included and b.start_included)
    right = c2 < 0 or (c2 == 0 and a.start_included and b.end_included)
    return left and right


def _overlaps_before(a: Range, b: Range) -> bool:
    c1, c2, c3 = _cmp(a.start, b.start), _cmp(a.end, b.start), _cmp(a.end, b.end)
    return (
        (c1 < 0 or (c1 == 0 and a.start_included and not b.start_included))
        and (c2 > 0 or (c2 == 0 and a.end_included and b.start_included))
        and (c3 < 0 or (c3 == 0 and (not a.end_included or b.end_included)))
    )


def _finishes(a: Any, b: Range) -> bool:
    if type(a) is not Range:
        return b.end_included and _cmp(_point(a), b.end) == 0
    c = _cmp(a.start, b.start)
    return (
        a.end_included == b.end_included
        and _cmp(a.end, b.end) == 0
        and (c > 0 or (c == 0 and (not a.start_included or b.start_included)))
    )


def _includes(a: Range, b: Any) -> bool:
    if type(b) is not Range:
        p = _point(b)
        c1, c2 = _cmp(a.start, p), _cmp(a.end, p)
        return (c1 < 0 and c2 > 0) or (c1 == 0 and a.start_included) or (c2 == 0 and a.end_included)
    c1, c2 = _cmp(a.start, b.start), _cmp(a.end, b.end)
    return (c1 < 0 or (c1 == 0 and (a.start_included or not b.start_included))) and (
        c2 > 0 or (c2 == 0 and (a.end_included or not b.end_included))
    )


def _starts(a: Any, b: Range) -> bool:
    if type(a) is not Range:
        return b.start_included and _cmp(_point(a), b.start) == 0
    c = _cmp(a.end, b.end)
    return (
        _cmp(a.start, b.start) == 0
        and a.start_included == b.start_included
        and (c < 0 or (c == 0 and (not a.end_included or b.end_included)))
    )


def _coincides(a: Any, b: Any) -> bool:
    if type(a) is not Range and type(b) is not Range:
        return _cmp(_point(a), _point(b)) == 0
    a, b = _range(a), _range(b)
    return (
        _cmp(a.start, b.start) == 0
        and a.start_included == b.start_included
        and _cmp(a.end, b.end) == 0
        and a.end_included == b.end_included
    )


def _register(name: str, forms: tuple[tuple[str, str], ...], fn) -> None:
    """One overload per parameter-name form of the spec; the arguments' kinds (point or range) pick the rule, so a
    positional call works whichever form it means."""
    allowed = {(first.startswith("range"), second.startswith("range")) for first, second in forms}

    def run(x: Any, y: Any) -> bool:
        if x is None or y is None or (type(x) is Range, type(y) is Range) not in allowed:
            raise NullResult
        return fn(x, y)

    for first, second in forms:
        builtin(name, first, second)(run)


_ALL = (("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2"))
_RANGES = (("range1", "range2"),)
_register("before", _ALL, _before)
_register("after", _ALL, lambda a, b: _before(b, a))
_register("meets", _RANGES, _meets)
_register("met by", _RANGES, lambda a, b: _meets(b, a))
_register("overlaps", _RANGES, _overlaps)
_register("overlaps before", _RANGES, _overlaps_before)
_register("overlaps after", _RANGES, lambda a, b: _overlaps_before(b, a))
_register("finishes", (("point", "range"), ("range1", "range2")), _finishes)
_register("finished by", (("range", "point"), ("range1", "range2")), lambda a, b: _finishes(b, a))
_register("includes", (("range", "point"), ("range1", "range2")), _includes)
_register("during", (("point", "range"), ("range1", "range2")), lambda a, b: _includes(b, a))
_register("starts", (("point", "range"), ("range1", "range2")), _starts)
_register("started by", (("range", "point"), ("range1", "range2")), lambda a, b: _starts(b, a))
_register("coincides", (("point1", "point2"), ("range1", "range2")), _coincides)


# ---------------------------------------------------------------- range(from)


def _literal_endpoint(node: n.Node) -> bool:
    """A range()'s endpoint must be a literal: a number, a string, ``@"..."``, or date/time/duration of a string."""
    if isinstance(node, n.Neg):
        node = node.operand
    if isinstance(node, n.Lit):
        return node.value is not None
    if isinstance(node, n.Call) and isinstance(node.target, n.Name) and node.target.name in _TEMPORAL_CALLS:
        return len(node.args) == 1 and isinstance(node.args[0], n.Lit) and type(node.args[0].value) is str
    return False


@builtin("range", "from", ctx=True)
def range_(ctx: EvalContext, text: Any) -> Range:
    if type(text) is not str or not text.strip():
        raise NullResult
    try:
        tree = parse(text.strip(), False, _BUILTIN_NAMES)
    except FeelError:
        raise NullResult from None
    if not isinstance(tree, n.Interval) or not (_literal_endpoint(tree.start) and _literal_endpoint(tree.end)):
        raise NullResult
    value = compile_expr(tree)(Scope({}, None, ctx))
    if type(value) is not Range or kind(value.start) != kind(value.end) or _cmp(value.start, value.end) > 0:
        raise NullResult
    return value
