"""Function values and invocation: user-defined functions, the built-in registry, positional and named arguments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from .. import limits
from .errors import FeelError, NullResult
from .values import MAX_LIST, MAX_STRING, FeelFunction

MAX_STEPS = 1_000_000  # per evaluation: loop iterations, calls, built-in work (about a second of CPU)
MAX_ALLOC = 10_000_000  # per evaluation: characters of new strings + elements of new lists/contexts
MAX_CALL_DEPTH = 50


class EvalContext:
    """Per-evaluation state: the work and allocation budgets, the current call depth, and the deadline of the
    evaluation under way (processes/limits.py: a DMN decision's cells share their decision's)."""

    __slots__ = ("steps", "alloc", "depth", "deadline", "next_check", "max_steps")

    def __init__(self) -> None:
        self.steps = 0
        self.alloc = 0
        self.depth = 0
        self.deadline: float | None = None  # the evaluation's, asked for at the first check (limits.Budget)
        self.next_check = limits.CHECK_EVERY
        self.max_steps = min(MAX_STEPS, limits.LIMITS.steps)  # ORDERFLOW_EXPRESSION_STEPS, as every dialect

    def charge(self, size: int) -> None:
        self.alloc += size
        if self.alloc > MAX_ALLOC:
            raise _over(f"evaluation built more than {MAX_ALLOC} characters/elements of data; too costly", "size")

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise _over(
                f"evaluation did more than {self.max_steps:,} steps (loops, filters, calls), its step budget "
                "(ORDERFLOW_EXPRESSION_STEPS)",
                "steps",
            )
        if self.steps >= self.next_check:
            self.next_check = self.steps + limits.CHECK_EVERY
            if self.deadline is None:
                self.deadline = limits.deadline()
            try:
                limits.check_deadline(self.deadline)
            except limits.OverBudget as exc:
                raise _over(f"evaluation {exc}", "time") from exc


def _over(message: str, budget: str) -> FeelError:
    error = FeelError(message)
    error.budget = budget
    return error


class Scope:
    """A frame of names -> FEEL values, chained to the enclosing frame; ``ctx`` is the evaluation's budget."""

    __slots__ = ("values", "parent", "ctx")

    def __init__(self, values: dict[str, Any], parent: Scope | None, ctx: EvalContext) -> None:
        self.values = values
        self.parent = parent
        self.ctx = ctx


MISSING = object()


def lookup(scope: Scope | None, name: str) -> Any:
    while scope is not None:
        values = scope.values
        if name in values:
            return values[name]
        scope = scope.parent
    return MISSING


class UserFunction(FeelFunction):
    """``function(a, b) body``: body is a compiled closure, evaluated in a scope chained to the defining scope."""

    __slots__ = ("params", "body", "scope", "external")

    def __init__(self, params: Sequence[str], body: Callable[[Scope], Any], scope: Scope, external: bool) -> None:
        self.params = tuple(params)
        self.body = body
        self.scope = scope
        self.external = external

    @property
    def name(self) -> str:
        return "(" + ", ".join(self.params) + ")"

    def call(self, args: list[Any], names: Sequence[str] | None, ctx: EvalContext) -> Any:
        if self.external:
            raise FeelError("external functions (Java/PMML) are not supported")
        if names is None:
            if len(args) != len(self.params):
                raise FeelError(f"function{self.name} takes {len(self.params)} arguments, {len(args)} given")
            bound = dict(zip(self.params, args, strict=True))
        else:
            unknown = [n for n in names if n not in self.params]
            if unknown:
                raise FeelError(f"function{self.name} has no parameter {unknown[0]!r}")
            bound = dict.fromkeys(self.params)
            bound.update(zip(names, args, strict=True))
        ctx.tick()
        ctx.depth += 1
        if ctx.depth > MAX_CALL_DEPTH:
            raise FeelError(f"function calls nested deeper than {MAX_CALL_DEPTH} (runaway recursion?)")
        try:
            return self.body(Scope(bound, self.scope, ctx))
        finally:
            ctx.depth -= 1


class Overload:
    __slots__ = ("params", "required", "fn", "variadic", "needs_ctx")

    def __init__(self, params: tuple[str, ...], fn: Callable, variadic: str | None, needs_ctx: bool) -> None:
        self.params = tuple(p.rstrip("?") for p in params)
        self.required = sum(1 for p in params if not p.endswith("?"))
        self.fn = fn
        self.variadic = variadic
        self.needs_ctx = needs_ctx

    def accepts(self, count: int, names: Sequence[str] | None) -> bool:
        if names is not None:
            return set(names) <= set(self.params) and set(self.params[: self.required]) <= set(names)
        if self.variadic:
            return count >= 1 or self.variadic == "items" and count >= 0
        return self.required <= count <= len(self.params)

    def positional(self, args: list[Any], names: Sequence[str] | None) -> list[Any]:
        if names is not None:
            given = dict(zip(names, args, strict=True))
            return [given.get(p) for p in self.params]
        if self.variadic == "items":  # min(1, 2, 3) or min([1, 2, 3])
            if len(args) == 1 and (isinstance(args[0], list) or args[0] is None):
                return [args[0]]
            return [list(args)]
        if self.variadic == "rest":  # append(list, item...) / concatenate(list...)
            fixed = len(self.params) - 1
            return [*args[:fixed], list(args[fixed:])]
        return list(args) + [None] * (len(self.params) - len(args))


class Builtin(FeelFunction):
    __slots__ = ("name", "overloads")

    def __init__(self, name: str) -> None:
        self.name = name
        self.overloads: list[Overload] = []

    def call(self, args: list[Any], names: Sequence[str] | None, ctx: EvalContext) -> Any:
        for overload in self.overloads:
            if overload.accepts(len(args), names):
                break
        else:
            given = f"named arguments {', '.join(names)}" if names is not None else f"{len(args)} arguments"
            forms = " or ".join(f"{self.name}({', '.join(o.params)})" for o in self.overloads)
            raise FeelError(f"{self.name}() cannot be called with {given}; expected {forms}")
        if overload.variadic == "items" and not args:
            return None  # min(), mode(), ...: neither a list nor any item
        values = overload.positional(args, names)
        ctx.tick(1 + _work(values))
        try:
            result = overload.fn(ctx, *values) if overload.needs_ctx else overload.fn(*values)
        except NullResult:
            return None
        except (ArithmeticError, ValueError, OverflowError):
            return None
        t = type(result)
        if t is str or t is list or t is dict:
            ctx.charge(len(result))
        return result


def _work(values: list[Any]) -> int:
    """Steps a built-in's arguments are worth: list elements are handled in Python, characters in C."""
    work = 0
    for v in values:
        t = type(v)
        if t is list:
            work += len(v) >> 2
        elif t is str:
            work += len(v) >> 10
    return work


BUILTINS: dict[str, Builtin] = {}


def builtin(name: str, *params: str, variadic: str | None = None, ctx: bool = False):
    """Register a built-in overload. Parameter names ending in '?' are optional (passed as None when missing).

    variadic="items": ``f(list)`` also callable as ``f(a, b, c)``; variadic="rest": the last parameter collects the
    remaining positional arguments into a list.
    """

    def register(fn: Callable) -> Callable:
        BUILTINS.setdefault(name, Builtin(name)).overloads.append(Overload(params, fn, variadic, ctx))
        return fn

    return register


def invoke(fn: Any, args: list[Any], names: Sequence[str] | None, ctx: EvalContext) -> Any:
    if isinstance(fn, UserFunction | Builtin):
        return fn.call(args, names, ctx)
    raise FeelError(f"{type(fn).__name__} value is not a function")


def call_function(ctx: EvalContext, fn: Any, *args: Any) -> Any:
    """For built-ins that take a FEEL function (sort's ``precedes``)."""
    if not isinstance(fn, UserFunction | Builtin):
        raise NullResult
    return fn.call(list(args), None, ctx)


# ---------------------------------------------------------------- argument helpers for built-ins


def need(value: Any, *types: type) -> Any:
    if type(value) in types:
        return value
    raise NullResult


def _single(value: Any) -> Any:
    """A one-element list passed where one value is expected is that value (DMN 1.4, 10.3.2.9.4)."""
    return value[0] if type(value) is list and len(value) == 1 else value


def need_str(value: Any) -> str:
    if type(value) is str:
        return value
    value = _single(value)
    if type(value) is str:
        return value
    raise NullResult


def need_num(value: Any) -> Decimal:
    if type(value) is Decimal:
        return value
    value = _single(value)
    if type(value) is Decimal:
        return value
    raise NullResult


def need_int(value: Any, low: int = -(10**9), high: int = 10**9) -> int:
    value = _single(value)
    if type(value) is Decimal and value == value.to_integral_value() and low <= value <= high:
        return int(value)
    raise NullResult


def need_list(value: Any) -> list:
    """A list argument; a single non-null value counts as a one-element list (FEEL singleton coercion)."""
    if type(value) is list:
        return value
    if value is None:
        raise NullResult
    return [value]


def check_list(items: list) -> list:
    if len(items) > MAX_LIST:
        raise FeelError(f"list longer than {MAX_LIST} elements")
    return items


def check_str(text: str) -> str:
    if len(text) > MAX_STRING:
        raise FeelError(f"string longer than {MAX_STRING} characters")
    return text
