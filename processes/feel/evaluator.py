"""Syntax tree -> Python closures ``f(scope) -> FEEL value``. No eval/exec: every node becomes a small function."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..errors import InternalError
from . import nodes as n
from .errors import FeelError
from .functions import BUILTINS, MISSING, EvalContext, FeelFunction, Scope, UserFunction, invoke, lookup
from .lib_text import REGEX_ARGUMENTS, check_pattern
from .ops import ARITHMETIC, COMPARATORS, ge, gt, le, negate
from .unary import compile_positive_tests
from .values import MAX_LIST, Range, is_integer, kind

Compiled = Callable[[Scope], Any]
_COMPILERS: dict[type, Callable[[Any], Compiled]] = {}


def compiles(cls: type):
    def register(fn):
        _COMPILERS[cls] = fn
        return fn

    return register


def compile_expr(node: n.Node) -> Compiled:
    return _COMPILERS[type(node)](node)


@compiles(n.Lit)
def _lit(node: n.Lit) -> Compiled:
    value = node.value
    return lambda s: value


@compiles(n.Name)
def _name(node: n.Name) -> Compiled:
    name = node.name
    fallback = BUILTINS.get(name)
    if "." in name and fallback is None:
        return _dotted_name(name)

    def run(s: Scope) -> Any:
        while s is not None:
            values = s.values
            if name in values:
                return values[name]
            s = s.parent
        return fallback

    return run


def _dotted_name(name: str) -> Compiled:
    """A known name with dots (``Person.Gender``, a parameter somewhere in the file) is that variable where it is
    one, and otherwise the path it spells (the entry Gender of Person), as FEEL resolves names by scope."""
    parts = name.split(".")
    splits = [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]

    def run(s: Scope) -> Any:
        found = lookup(s, name)
        if found is not MISSING:
            return found
        for head, rest in splits:
            value = lookup(s, head.strip())
            if value is not MISSING:
                for key in rest:
                    value = get_path(value, key.strip(), s.ctx)
                return value
        return None

    return run


@compiles(n.Neg)
def _neg(node: n.Neg) -> Compiled:
    f = compile_expr(node.operand)
    return lambda s: negate(f(s))


@compiles(n.Chain)
def _chain(node: n.Chain) -> Compiled:
    first = compile_expr(node.first)
    rest = [(ARITHMETIC[op], compile_expr(x)) for op, x in node.rest]
    if len(rest) == 1 and node.rest[0][0] != "+":
        op, second = rest[0]
        return lambda s: op(first(s), second(s))

    def run(s: Scope) -> Any:
        value = first(s)
        for op, f in rest:
            value = op(value, f(s))
            if type(value) is str:
                s.ctx.charge(len(value))  # new strings count against the allocation budget
        return value

    return run


@compiles(n.Compare)
def _compare(node: n.Compare) -> Compiled:
    op = COMPARATORS[node.op]
    left, right = compile_expr(node.left), compile_expr(node.right)
    return lambda s: op(left(s), right(s))


def and3(a: Any, b: Any) -> bool | None:
    if a is False or b is False:
        return False
    if a is True and b is True:
        return True
    return None


@compiles(n.Between)
def _between(node: n.Between) -> Compiled:
    value, low, high = compile_expr(node.value), compile_expr(node.low), compile_expr(node.high)

    def run(s: Scope) -> Any:
        v = value(s)
        return and3(ge(v, low(s)), le(v, high(s)))

    return run


@compiles(n.In)
def _in(node: n.In) -> Compiled:
    value = compile_expr(node.value)
    test = compile_positive_tests(node.tests, compile_expr)
    needs_input = any(n.uses_input(t) for t in node.tests)

    def run(s: Scope) -> Any:
        v = value(s)
        return test(v, Scope({"?": v}, s, s.ctx) if needs_input else s)

    return run


def instance_of(value: Any, type_: n.TypeRef, scope: Scope | None = None) -> bool:
    name = type_.name
    if name == "Any":
        return value is not None
    if name == "Null":
        return value is None
    if name not in n.TYPE_NAMES:  # a type the host defines (a DMN item definition)
        check = lookup(scope, n.TYPE_KEY + name)
        if check is MISSING:
            raise FeelError(f"unknown type {name!r}")
        return value is not None and check(value)
    k = kind(value)
    if k != name:
        return False
    params = type_.params
    if params and k == "list":
        return all(instance_of(item, params[0], scope) for item in value)
    if params and k == "context":
        return all(
            f.field in value and (value[f.field] is None or instance_of(value[f.field], f, scope)) for f in params
        )
    if params and k == "function" and isinstance(value, UserFunction):
        return len(value.params) == len(params) - 1
    if params and k == "range":
        return all(instance_of(end, params[0], scope) for end in (value.start, value.end) if end is not None)
    return True


@compiles(n.InstanceOf)
def _instance_of(node: n.InstanceOf) -> Compiled:
    value, type_ = compile_expr(node.value), node.type
    return lambda s: instance_of(value(s), type_, s)


@compiles(n.Logic)
def _logic(node: n.Logic) -> Compiled:
    items = [compile_expr(x) for x in node.items]
    stop = node.op == "or"  # or: stops at true; and: stops at false

    def run(s: Scope) -> Any:
        result: bool | None = not stop
        for f in items:
            v = f(s)
            if v is stop:
                return stop
            if v is not (not stop):
                result = None
        return result

    return run


@compiles(n.If)
def _if(node: n.If) -> Compiled:
    cond, then, other = compile_expr(node.cond), compile_expr(node.then), compile_expr(node.other)
    return lambda s: then(s) if cond(s) is True else other(s)


class _NullDomain(InternalError):  # noqa: N818
    pass


def _integer_range(start: Any, end: Any, start_included: bool = True, end_included: bool = True):
    if type(start) is dt.date and type(end) is dt.date:  # day by day (DMN 1.5)
        days = _integer_range(Decimal(start.toordinal()), Decimal(end.toordinal()), start_included, end_included)
        return (dt.date.fromordinal(int(d)) for d in days)
    if not (is_integer(start) and is_integer(end)):
        raise _NullDomain
    a, b = int(start), int(end)
    step = 1 if b >= a else -1
    if not start_included:
        a += step
    if not end_included:
        b -= step
    if (b - a) * step + 1 > MAX_LIST:
        raise FeelError(f"iteration over {abs(b - a) + 1} numbers; the limit is {MAX_LIST}")
    return (Decimal(i) for i in range(a, b + step, step))


def iteration_domain(value: Any, end: Any = MISSING):
    if end is not MISSING:
        return _integer_range(value, end)
    if type(value) is list:
        return value
    if value is None:
        raise _NullDomain
    if type(value) is Range:
        if value.start is None or value.end is None or gt(value.start, value.end) is not False:
            raise _NullDomain  # open, descending ([2..1]) or not comparable: no domain
        return _integer_range(value.start, value.end, value.start_included, value.end_included)
    return [value]


@compiles(n.For)
def _for(node: n.For) -> Compiled:
    its = [(name, compile_expr(d), compile_expr(e) if e is not None else None) for name, d, e in node.iterations]
    body = compile_expr(node.body)
    last = len(its) - 1

    def run(s: Scope) -> Any:
        ctx = s.ctx
        results: list[Any] = []

        def loop(level: int, frame: dict[str, Any]) -> None:
            name, domain, end = its[level]
            here = Scope(frame, s, ctx)
            seq = iteration_domain(domain(here), end(here) if end is not None else MISSING)
            for v in seq:
                ctx.tick()
                inner = dict(frame)
                inner[name] = v
                if level == last:
                    results.append(body(Scope(inner, s, ctx)))
                    ctx.charge(1)
                    if len(results) > MAX_LIST:
                        raise FeelError(f"'for' produced more than {MAX_LIST} elements")
                else:
                    loop(level + 1, inner)

        try:
            loop(0, {"partial": results})
        except _NullDomain:
            return None
        return results

    return run


@compiles(n.Quantified)
def _quantified(node: n.Quantified) -> Compiled:
    its = [(name, compile_expr(d)) for name, d in node.iterations]
    cond = compile_expr(node.cond)
    stop = not node.every  # some: stops at true; every: stops at false
    last = len(its) - 1

    def run(s: Scope) -> Any:
        ctx = s.ctx
        state = {"null": False}

        def loop(level: int, frame: dict[str, Any]) -> bool:
            name, domain = its[level]
            for v in iteration_domain(domain(Scope(frame, s, ctx))):
                ctx.tick()
                inner = dict(frame)
                inner[name] = v
                if level == last:
                    r = cond(Scope(inner, s, ctx))
                    if r is stop:
                        return True
                    if r is not (not stop):
                        state["null"] = True
                elif loop(level + 1, inner):
                    return True
            return False

        try:
            if loop(0, {}):
                return stop
        except _NullDomain:
            return None
        return None if state["null"] else not stop

    return run


@compiles(n.FunctionDef)
def _function_def(node: n.FunctionDef) -> Compiled:
    params, body, external = node.params, compile_expr(node.body), node.external
    typed = [(name, t) for name, t in zip(params, node.types, strict=True) if t is not None]
    if typed:
        untyped_body = body

        def body(s: Scope) -> Any:
            # Arguments must conform to the declared types (a one-element list counts as its element); a call
            # that does not conform is null (DMN 1.4, 10.3.2.9.4).
            for name, type_ in typed:
                value = s.values.get(name)
                if value is None or instance_of(value, type_, s):
                    continue
                if type(value) is list and len(value) == 1 and instance_of(value[0], type_, s):
                    s.values[name] = value[0]
                    continue
                return None
            return untyped_body(s)

    return lambda s: UserFunction(params, body, s, external)


_PROPERTIES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "date": {
        "year": lambda v: Decimal(v.year),
        "month": lambda v: Decimal(v.month),
        "day": lambda v: Decimal(v.day),
        "weekday": lambda v: Decimal(v.isoweekday()),
    },
    "time": {
        "hour": lambda v: Decimal(v.hour),
        "minute": lambda v: Decimal(v.minute),
        "second": lambda v: Decimal(v.second) + Decimal(v.microsecond).scaleb(-6),
        "time offset": lambda v: v.utcoffset() if not getattr(v.tzinfo, "key", None) else None,
        "timezone": lambda v: getattr(v.tzinfo, "key", None),
    },
    "days and time duration": {
        "days": lambda v: Decimal(abs(v).days * (1 if v >= dt.timedelta(0) else -1)),
        "hours": lambda v: Decimal(_sign(v) * (abs(v).seconds // 3600)),
        "minutes": lambda v: Decimal(_sign(v) * (abs(v).seconds // 60 % 60)),
        "seconds": lambda v: Decimal(_sign(v) * (abs(v).seconds % 60)),
    },
    "years and months duration": {
        "years": lambda v: Decimal(v.years),
        "months": lambda v: Decimal(v.months - 12 * v.years),
    },
    "range": {
        "start": lambda v: v.start,
        "end": lambda v: v.end,
        "start included": lambda v: v.start_included,
        "end included": lambda v: v.end_included,
    },
}
_PROPERTIES["date and time"] = {**_PROPERTIES["date"], **_PROPERTIES["time"]}


def _sign(v: dt.timedelta) -> int:
    return -1 if v < dt.timedelta(0) else 1


def get_path(value: Any, name: str, ctx: EvalContext | None = None) -> Any:
    t = type(value)
    if t is dict:
        return value.get(name)
    if t is list:
        if ctx is not None:
            ctx.charge(len(value))
        return [get_path(item, name, ctx) for item in value]
    if value is None:
        return None
    getter = _PROPERTIES.get(kind(value), {}).get(name)
    return getter(value) if getter is not None else None


@compiles(n.Path)
def _path(node: n.Path) -> Compiled:
    target, name = compile_expr(node.target), node.name
    return lambda s: get_path(target(s), name, s.ctx)


def list_index(items: list, index: Any) -> Any:
    if not is_integer(index):
        return None
    i = int(index)
    if i > 0 and i <= len(items):
        return items[i - 1]
    if i < 0 and -i <= len(items):
        return items[i]
    return None


@compiles(n.Filter)
def _filter(node: n.Filter) -> Compiled:
    target, cond = compile_expr(node.target), compile_expr(node.cond)

    def run(s: Scope) -> Any:
        value = target(s)
        if value is None:
            return None
        items = value if type(value) is list else [value]
        ctx = s.ctx
        if not items:
            r = cond(Scope({"item": None}, s, ctx))
            return None if type(r) is Decimal else []
        out = []
        for i, item in enumerate(items):
            ctx.tick()
            scope = Scope({"item": item}, s, ctx)
            if type(item) is dict:
                scope = Scope(item, scope, ctx)
            r = cond(scope)
            if i == 0 and type(r) is Decimal:
                return list_index(items, r)
            if r is True:
                out.append(item)
        return out

    return run


def _is_defined(arg: n.Node) -> Compiled:
    if isinstance(arg, n.Name):
        name = arg.name
        return lambda s: lookup(s, name) is not MISSING
    if isinstance(arg, n.Path):
        target, key = compile_expr(arg.target), arg.name

        def run(s: Scope) -> bool:
            v = target(s)
            return type(v) is dict and key in v

        return run
    f = compile_expr(arg)

    def evaluate(s: Scope) -> bool:
        f(s)
        return True

    return evaluate


def _check_literal_pattern(node: n.Call, where: tuple[tuple[int | None, str | None], ...]) -> None:
    """A regular expression written as a literal is checked when the expression is compiled (at deploy), so a
    pattern RE2 cannot run is refused naming the element instead of failing when an order gets there."""

    def literal(position: int | None, name: str | None) -> Any:
        if node.names is None:
            arg = node.args[position] if position is not None and position < len(node.args) else None
        else:
            arg = node.args[node.names.index(name)] if name in node.names else None
        return arg.value if isinstance(arg, n.Lit) and isinstance(arg.value, str) else None

    (pattern_at, pattern_name), (flags_at, flags_name) = where
    pattern = literal(pattern_at, pattern_name)
    if pattern is not None:
        check_pattern(pattern, literal(flags_at, flags_name) or "")


@compiles(n.Call)
def _call(node: n.Call) -> Compiled:
    target, names = node.target, node.names
    if isinstance(target, n.Name) and target.name == "is defined" and len(node.args) == 1:
        return _is_defined(node.args[0])
    args = [compile_expr(a) for a in node.args]
    if isinstance(target, n.Name) and target.name in REGEX_ARGUMENTS:
        _check_literal_pattern(node, REGEX_ARGUMENTS[target.name])
    if isinstance(target, n.Name):
        name = target.name
        fallback = BUILTINS.get(name)

        def run(s: Scope) -> Any:
            fn = lookup(s, name)
            if not isinstance(fn, FeelFunction):
                if fallback is None:
                    raise FeelError(f"no function named {name!r}")
                fn = fallback
            return invoke(fn, [a(s) for a in args], names, s.ctx)

        return run
    get_fn = compile_expr(target)

    def call_value(s: Scope) -> Any:
        fn = get_fn(s)
        if not isinstance(fn, FeelFunction):
            raise FeelError(f"cannot call a {kind(fn)} value as a function")
        return invoke(fn, [a(s) for a in args], names, s.ctx)

    return call_value


@compiles(n.ListLit)
def _list(node: n.ListLit) -> Compiled:
    items = [compile_expr(x) for x in node.items]
    return lambda s: [f(s) for f in items]


@compiles(n.ContextLit)
def _context(node: n.ContextLit) -> Compiled:
    entries = [(key, compile_expr(x)) for key, x in node.entries]

    def run(s: Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        inner = Scope(out, s, s.ctx)  # later entries (and functions defined here) see earlier entries
        for key, f in entries:
            out[key] = f(inner)
        return out

    return run


@compiles(n.Interval)
def _interval(node: n.Interval) -> Compiled:
    start, end = compile_expr(node.start), compile_expr(node.end)
    si, ei = node.start_included, node.end_included
    return lambda s: Range(start(s), end(s), si, ei)


__all__ = ["compile_expr", "get_path", "instance_of", "list_index"]
