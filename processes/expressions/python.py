"""Safe evaluation of the Python expressions and small scripts found in BPMN diagrams.

Diagrams are untrusted input: a gateway condition, timer value or script task must never be
able to run arbitrary Python.  Every source text is

1. parsed with :mod:`ast` (length and nesting depth limited),
2. validated against a whitelist of node types, names and attributes,
3. rewritten so that operators which can explode in size (``**``, ``*``, ``<<``, ``+``) and all
   loops go through private guard functions, and
4. compiled once (cached) and run with a tiny fixed set of builtins.

User code cannot refer to any name or attribute starting with ``_``, so the guard functions
(injected into the globals as ``_of_*``) and every dunder (``__class__``, ``__builtins__``, ...)
are out of reach.  Attributes that lead to interpreter internals without an underscore
(``gi_frame``, ``f_globals``, ...) and ``str.format``/``format_map`` (whose format strings can
walk attributes) are rejected as well.

Work and memory are bounded (processes/limits.py): every loop iteration and every item a builtin
walks (``sum``, ``map``, ``sorted``, ``min`` ...) counts against the evaluation's step budget, which
also watches its deadline; every call goes through a guard that refuses, before they are built,
results over the size limits (``'a'.ljust(10**9)``, ``' '.join(big)``, ``str.replace``), and
f-string and ``%`` format specs with huge widths; ``*`` refuses repetition whose result would hold
too much data (``['a'*10**6]*50``).
"""

from __future__ import annotations

import ast
import copy
import functools
import math
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import CodeType, TracebackType
from typing import Any

from processes import limits
from processes.errors import InternalError, OrderflowError

__all__ = ["SandboxError", "check", "evaluate", "execute"]

MAX_SOURCE_LENGTH = 20_000
MAX_DEPTH = 100
MAX_EXPONENT = 10_000
MAX_INT_DIGITS = 4_000
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_RANGE_LENGTH = 100_000
MAX_DATA = 10_000_000  # characters/elements a repetition's result may hold, counted one level deep

_FILENAME = "<diagram>"
_MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
_SEQUENCE_TYPES = (str, bytes, bytearray, list, tuple)
_SIZED_TYPES = (*_SEQUENCE_TYPES, dict, set)
_MAX_MESSAGE = 300


class SandboxError(OrderflowError):
    """An expression or script from a diagram was rejected or failed in the Python sandbox.

    ``expression`` is the offending source text, ``lineno`` the line (if known) and
    ``str(err)`` a one-line message meant for a BPMN analyst, e.g. ``forbidden name
    '__import__'`` or ``syntax error at line 2: invalid syntax``.  Runtime failures keep the
    original exception as ``__cause__``.
    """

    status = 422
    title = "Python expression failed"

    def __init__(
        self, message: str, expression: str = "", lineno: int | None = None, budget: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.lineno = lineno
        self.budget = budget  # which budget of processes/limits.py it went over, if that is what failed

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.expression, self.lineno, self.budget))


class _LimitError(InternalError):
    """Raised by the guards inside user code; turned into SandboxError by the runner (its size budget)."""


# --------------------------------------------------------------------------- whitelist

FORBIDDEN_NAMES = frozenset(
    {
        "eval", "exec", "compile", "open", "input", "globals", "locals", "vars", "getattr",
        "setattr", "delattr", "hasattr", "type", "object", "super", "breakpoint", "memoryview",
        "help", "dir", "id", "exit", "quit", "classmethod", "staticmethod", "property",
    }
)  # fmt: skip

# Attribute names that are rejected even though they do not start with "_".
_FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map"})
# Generator/frame/code/traceback internals: gi_frame.f_back.f_globals reaches real builtins.
_FORBIDDEN_ATTRIBUTE_PREFIXES = ("gi_", "cr_", "ag_", "f_", "tb_", "co_")

_OPERATOR_NODES = {
    ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
    ast.And, ast.Or, ast.Not, ast.Invert, ast.UAdd, ast.USub,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
}  # fmt: skip

_EXPRESSION_NODES = frozenset(
    {
        ast.Expression, ast.Constant, ast.JoinedStr, ast.FormattedValue, ast.Name, ast.Attribute,
        ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.BinOp, ast.BoolOp,
        ast.Compare, ast.UnaryOp, ast.IfExp, ast.Call, ast.keyword, ast.Starred, ast.ListComp,
        ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Load, ast.Store,
    }
    | _OPERATOR_NODES
)  # fmt: skip

_SCRIPT_NODES = _EXPRESSION_NODES | {
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.If, ast.Pass, ast.Break,
    ast.Continue, ast.Delete, ast.Del,
}  # fmt: skip

_REJECTED_MESSAGES: dict[type, str] = {
    ast.Import: "import statements are not allowed",
    ast.ImportFrom: "import statements are not allowed",
    ast.FunctionDef: "function definitions (def) are not allowed",
    ast.AsyncFunctionDef: "function definitions (async def) are not allowed",
    ast.ClassDef: "class definitions are not allowed",
    ast.Lambda: "lambda expressions are not allowed",
    ast.While: "while loops are not allowed (use a for loop)",
    ast.With: "with statements are not allowed",
    ast.AsyncWith: "with statements are not allowed",
    ast.AsyncFor: "async for loops are not allowed",
    ast.Try: "try/except is not allowed",
    ast.TryStar: "try/except is not allowed",
    ast.Raise: "raise is not allowed",
    ast.Global: "global declarations are not allowed",
    ast.Nonlocal: "nonlocal declarations are not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Await: "await is not allowed",
    ast.Assert: "assert is not allowed",
    ast.NamedExpr: "the walrus operator (:=) is not allowed",
    ast.AnnAssign: "annotated assignments are not allowed",
    ast.Match: "match statements are not allowed",
    ast.Return: "return is not allowed",
}


def _location(lineno: int | None, multiline: bool) -> str:
    return f" at line {lineno}" if multiline and lineno else ""


def _check_depth(tree: ast.AST, source: str, multiline: bool) -> None:
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            lineno = getattr(node, "lineno", None)
            raise SandboxError(
                f"expression is nested too deeply (more than {MAX_DEPTH} levels)" + _location(lineno, multiline),
                source,
                lineno,
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def is_variable_name(name: str) -> bool:
    """Whether a name may be a process variable seen by expressions: Camunda allows a leading underscore
    (`_approved`), but dunder names and the sandbox's own guards (`_of_…`) stay out of reach."""
    return name.isidentifier() and not name.startswith(("__", "_of_")) and name != "_"


def _check_attribute(attr: str) -> str | None:
    if attr.startswith("_"):
        return f"forbidden attribute '{attr}' (names starting with '_' are not allowed)"
    if attr in _FORBIDDEN_ATTRIBUTES:
        return f"forbidden attribute '{attr}' (format strings can reach internal attributes)"
    if attr.startswith(_FORBIDDEN_ATTRIBUTE_PREFIXES):
        return f"forbidden attribute '{attr}'"
    return None


def _validate(tree: ast.AST, mode: str, source: str, multiline: bool) -> None:
    """Raise SandboxError for the first node that is not allowed (depth already checked)."""
    allowed = _EXPRESSION_NODES if mode == "eval" else _SCRIPT_NODES

    def fail(problem: str, lineno: int | None) -> None:
        raise SandboxError(problem + _location(lineno, multiline), source, lineno)

    def visit(node: ast.AST, lineno: int | None) -> None:
        lineno = getattr(node, "lineno", lineno)
        kind = type(node)
        if kind not in allowed:
            fail(_REJECTED_MESSAGES.get(kind, f"'{kind.__name__}' is not allowed"), lineno)
        # Children first, so that the problem reported is the first one in reading order
        # ("().__class__.__mro__" complains about __class__, not __mro__).
        for child in ast.iter_child_nodes(node):
            visit(child, lineno)
        problem: str | None = None
        if isinstance(node, ast.Name):
            if not is_variable_name(node.id):
                problem = f"forbidden name '{node.id}' (names starting with '__' or '_of_' are not allowed)"
            elif node.id in FORBIDDEN_NAMES:
                problem = f"forbidden name '{node.id}'"
        elif isinstance(node, ast.Attribute):
            problem = _check_attribute(node.attr)
            if problem is None and not isinstance(node.ctx, ast.Load):
                problem = "assigning to or deleting attributes is not allowed"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            problem = "bytes literals are not allowed"
        elif isinstance(node, ast.comprehension) and node.is_async:
            problem = "async comprehensions are not allowed"
        if problem is not None:
            fail(problem, lineno)

    visit(tree, None)


# --------------------------------------------------------------------------- guards


def _check_pow(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int):
        if abs(exponent) > MAX_EXPONENT:
            raise _LimitError(f"exponent of ** is too large (limit {MAX_EXPONENT})")
        if exponent > 1 and abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_INT_DIGITS:
            raise _LimitError(f"result of ** would have more than {MAX_INT_DIGITS} digits")


def _check_mul(left: Any, right: Any) -> None:
    if isinstance(left, int):
        if isinstance(right, int):
            if (
                left.bit_length() + right.bit_length() > _MAX_INT_BITS
                and left
                and right
                and math.log10(abs(left)) + math.log10(abs(right)) > MAX_INT_DIGITS
            ):
                raise _LimitError(f"result of * would have more than {MAX_INT_DIGITS} digits")
            return
        count, sequence = left, right
    elif isinstance(right, int):
        count, sequence = right, left
    else:
        return
    if isinstance(sequence, _SEQUENCE_TYPES) and len(sequence) * count > MAX_SEQUENCE_LENGTH:
        raise _LimitError(f"result of * would be too long (more than {MAX_SEQUENCE_LENGTH:,} elements)")
    if count > 1 and isinstance(sequence, list | tuple) and _weight(sequence) * count > MAX_DATA:
        raise _LimitError(f"result of * would hold too much data (more than {MAX_DATA:,} characters or elements)")


def _weight(value: Any) -> int:
    """Characters and elements in a sequence and its direct items (what repeating it copies by reference)."""
    return len(value) + sum(len(item) for item in value if isinstance(item, _SIZED_TYPES))


def _check_add(left: Any, right: Any) -> None:
    if (
        isinstance(left, _SEQUENCE_TYPES)
        and isinstance(right, _SEQUENCE_TYPES)
        and len(left) + len(right) > MAX_SEQUENCE_LENGTH
    ):
        raise _LimitError(f"result of + would be too long (more than {MAX_SEQUENCE_LENGTH:,} elements)")


def _check_lshift(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left
        and right > 0
        and left.bit_length() + right > _MAX_INT_BITS
    ):
        raise _LimitError(f"result of << would have more than {MAX_INT_DIGITS} digits")


def _of_pow(left: Any, right: Any) -> Any:
    _check_pow(left, right)
    return left**right


def _of_ipow(left: Any, right: Any) -> Any:
    _check_pow(left, right)
    left **= right
    return left


def _of_mul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    return left * right


def _of_imul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    left *= right
    return left


def _of_add(left: Any, right: Any) -> Any:
    _check_add(left, right)
    return left + right


def _of_iadd(left: Any, right: Any) -> Any:
    _check_add(left, right)
    left += right
    return left


def _of_lshift(left: Any, right: Any) -> Any:
    _check_lshift(left, right)
    return left << right


def _of_ilshift(left: Any, right: Any) -> Any:
    _check_lshift(left, right)
    left <<= right
    return left


def _safe_range(*args: int) -> range:
    result = range(*args)
    try:
        too_long = len(result) > MAX_RANGE_LENGTH
    except OverflowError:
        too_long = True
    if too_long:
        raise _LimitError(f"range() is too long (limit {MAX_RANGE_LENGTH:,} items)")
    return result


def _safe_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    if isinstance(start, _SEQUENCE_TYPES):
        raise _LimitError("sum() can only add numbers; use a comprehension to join lists")
    return sum(_counted(iterable), start)


# -- work inside builtins and methods ---------------------------------------------------------------------


def _counted(value: Any) -> Any:
    """An iterable whose items count against the evaluation's step budget (mappings pass as they are: their
    size was counted when they were built, and dict() needs the mapping itself)."""
    if isinstance(value, Mapping) or not hasattr(type(value), "__iter__"):
        return value
    return limits.current().iterate(value)


def _guarded_callable(value: Any) -> Any:
    """A function handed to a builtin (map, sorted's key ...) is called through the call guard too."""
    if callable(value) and (not isinstance(value, type) or id(value) in _ITERATING):  # map(list, ...) too
        return functools.partial(_of_call, value)
    return value


# Builtins that walk their iterable arguments in C, or call their function arguments from C: the items they walk
# are counted and the functions they call go through the call guard (so map(sum, ...) counts what sum walks).
_ITERATING = frozenset(
    id(f) for f in (all, any, dict, enumerate, filter, list, map, max, min, set, sorted, tuple, zip, frozenset)
)


def _too_long(what: str) -> _LimitError:
    return _LimitError(f"{what} would be too long (more than {MAX_SEQUENCE_LENGTH:,} characters or elements)")


def _int_arg(args: tuple[Any, ...], index: int) -> int:
    value = args[index] if len(args) > index else 0
    return value if isinstance(value, int) else 0


def _check_str_method(text: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse, before it is built, a str method result over the size limit; returns the args to call with."""
    if name in ("ljust", "rjust", "center", "zfill"):
        if _int_arg(args, 0) > MAX_SEQUENCE_LENGTH:
            raise _too_long(f"result of {name}()")
    elif name == "expandtabs":
        if text.count("\t") * max(_int_arg(args, 0), 8) + len(text) > MAX_SEQUENCE_LENGTH:
            raise _too_long("result of expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = text.count(args[0]) if args[0] else len(text) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        if len(text) + count * (len(args[1]) - len(args[0])) > MAX_SEQUENCE_LENGTH:
            raise _too_long("result of replace()")
    elif name == "join" and args:
        items = list(_counted(args[0]))
        size = sum(len(item) for item in items if isinstance(item, str)) + len(text) * max(len(items) - 1, 0)
        if size > MAX_SEQUENCE_LENGTH:
            raise _too_long("result of join()")
        return (items, *args[1:])
    elif name == "translate":
        table = args[0] if args else None
        if isinstance(table, Mapping):
            longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
            if len(text) * longest > MAX_SEQUENCE_LENGTH:
                raise _too_long("result of translate()")
    return args


def _of_call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Every call in user code: a step of work; str methods that could build a huge result are checked first;
    a result over the size limit is refused (before it reaches a variable)."""
    limits.current().tick()
    if id(function) in _ITERATING:
        args = tuple(_counted(_guarded_callable(a)) for a in args)
        if kwargs:
            kwargs = {k: _guarded_callable(v) for k, v in kwargs.items()}
    owner = getattr(function, "__self__", None)
    if isinstance(owner, str):
        args = _check_str_method(owner, getattr(function, "__name__", ""), args)
    elif getattr(function, "__objclass__", None) is str and args and isinstance(args[0], str):  # str.ljust(s, n)
        args = (args[0], *_check_str_method(args[0], function.__name__, args[1:]))
    elif isinstance(owner, list) and getattr(function, "__name__", "") == "extend" and args:
        items = args[0] if isinstance(args[0], _SEQUENCE_TYPES) else list(_counted(args[0]))
        if len(owner) + len(items) > MAX_SEQUENCE_LENGTH:
            raise _too_long("result of extend()")
        args = (items,)
    result = function(*args, **kwargs)
    if isinstance(result, _SIZED_TYPES) and len(result) > MAX_SEQUENCE_LENGTH:
        raise _too_long("result of a call")
    return result


_FORMAT_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_format_spec(spec: str) -> None:
    if any(len(n) > 7 or int(n) > MAX_SEQUENCE_LENGTH for n in _FORMAT_NUMBER.findall(spec)):
        raise _too_long("formatted value")


def _of_format(value: Any, conversion: int, spec: str) -> str:
    """An f-string placeholder: its width and precision are checked before the text is built."""
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    _check_format_spec(spec)
    return format(value, spec)


def _of_fstring(*parts: str) -> str:
    if sum(len(part) for part in parts) > MAX_SEQUENCE_LENGTH:
        raise _too_long("f-string")
    return "".join(parts)


def _of_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        for width, precision in _PERCENT_SPEC.findall(left):
            for number in (width, precision):
                if number == "*" or (number and (len(number) > 7 or int(number) > MAX_SEQUENCE_LENGTH)):
                    raise _too_long("result of %")
    result = left % right
    if isinstance(result, str) and len(result) > MAX_SEQUENCE_LENGTH:
        raise _too_long("result of %")
    return result


def _of_imod(left: Any, right: Any) -> Any:
    return _of_mod(left, right)


_GUARDS: dict[str, Any] = {
    "_of_pow": _of_pow,
    "_of_ipow": _of_ipow,
    "_of_mul": _of_mul,
    "_of_imul": _of_imul,
    "_of_add": _of_add,
    "_of_iadd": _of_iadd,
    "_of_lshift": _of_lshift,
    "_of_ilshift": _of_ilshift,
    "_of_mod": _of_mod,
    "_of_imod": _of_imod,
    "_of_call": _of_call,
    "_of_format": _of_format,
    "_of_fstring": _of_fstring,
}

_SAFE_BUILTINS: dict[str, Any] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": dict,
    "enumerate": enumerate,
    "filter": filter,
    "float": float,
    "int": int,
    "len": len,
    "list": list,
    "map": map,
    "max": max,
    "min": min,
    "range": _safe_range,
    "reversed": reversed,
    "round": round,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": _safe_sum,
    "tuple": tuple,
    "zip": zip,
}

# Globals for code that needs no guards and has no nested scopes: variables are passed as locals.
_PLAIN_GLOBALS: dict[str, Any] = {"__builtins__": _SAFE_BUILTINS}


# --------------------------------------------------------------------------- rewriting

_BINOP_GUARDS: dict[type, str] = {
    ast.Pow: "_of_pow",
    ast.Mult: "_of_mul",
    ast.Add: "_of_add",
    ast.LShift: "_of_lshift",
    ast.Mod: "_of_mod",
}
_AUGASSIGN_GUARDS: dict[type, str] = {
    ast.Pow: "_of_ipow",
    ast.Mult: "_of_imul",
    ast.Add: "_of_iadd",
    ast.LShift: "_of_ilshift",
    ast.Mod: "_of_imod",
}


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=function, ctx=ast.Load()), args=list(args), keywords=[])


class _Guarder(ast.NodeTransformer):
    """Route size-exploding operators and all iteration through the guard functions."""

    def __init__(self) -> None:
        self.guarded = False
        self.loops = False
        self._temporaries = 0

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        self.guarded = True
        return ast.copy_location(_call(guard, node.left, node.right), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        self.guarded = True
        call = ast.Call(func=ast.Name(id="_of_call", ctx=ast.Load()), args=[node.func, *node.args],
                        keywords=node.keywords)  # fmt: skip
        return ast.copy_location(call, node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        self.generic_visit(node)
        self.guarded = True
        return ast.copy_location(_call("_of_fstring", *node.values), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        self.generic_visit(node)
        self.guarded = True
        spec = node.format_spec if node.format_spec is not None else ast.Constant(value="")
        return ast.copy_location(_call("_of_format", node.value, ast.Constant(value=node.conversion), spec), node)

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        self.loops = True
        node.iter = ast.copy_location(_call("_of_iter", node.iter), node.iter)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        self.generic_visit(node)
        self.loops = True
        node.iter = ast.copy_location(_call("_of_iter", node.iter), node.iter)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt | list[ast.stmt]:
        self.generic_visit(node)
        guard = _AUGASSIGN_GUARDS.get(type(node.op))
        if guard is None:
            return node
        self.guarded = True
        target = node.target
        if isinstance(target, ast.Name):
            load = ast.Name(id=target.id, ctx=ast.Load())
            assign = ast.Assign(targets=[ast.Name(id=target.id, ctx=ast.Store())],
                                value=_call(guard, load, node.value))  # fmt: skip
            return ast.copy_location(assign, node)
        if not isinstance(target, ast.Subscript):  # validation only lets names/subscripts through
            raise SandboxError("unsupported target of augmented assignment")
        # a[k] op= v  ->  t0 = a; t1 = k; t0[t1] = guard(t0[t1], v)  (a and k evaluated once)
        statements: list[ast.stmt] = []
        container = self._stash(target.value, statements)
        key = self._stash_key(target.slice, statements)
        load = ast.Subscript(value=container, slice=key, ctx=ast.Load())
        store = ast.Subscript(value=copy.deepcopy(container), slice=copy.deepcopy(key), ctx=ast.Store())
        statements.append(ast.Assign(targets=[store], value=_call(guard, load, node.value)))
        for statement in statements:
            ast.copy_location(statement, node)
        return statements

    def _stash(self, expr: ast.expr, statements: list[ast.stmt]) -> ast.expr:
        if isinstance(expr, ast.Constant):
            return expr
        name = f"_of_t{self._temporaries}"
        self._temporaries += 1
        statements.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=expr))
        return ast.Name(id=name, ctx=ast.Load())

    def _stash_key(self, key: ast.expr, statements: list[ast.stmt]) -> ast.expr:
        if isinstance(key, ast.Slice):
            parts = [None if part is None else self._stash(part, statements)
                     for part in (key.lower, key.upper, key.step)]  # fmt: skip
            return ast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(key, ast.Tuple) and any(isinstance(e, ast.Slice) for e in key.elts):
            if any(isinstance(e, ast.Starred) for e in key.elts):
                raise SandboxError("unsupported subscript in augmented assignment")
            return ast.Tuple(elts=[self._stash_key(e, statements) for e in key.elts], ctx=ast.Load())
        return self._stash(key, statements)


def _bound_names(tree: ast.Module) -> tuple[frozenset[str], frozenset[str]]:
    """Names a script binds / deletes at top level (comprehension scopes excluded)."""
    assigned: set[str] = set()
    deleted: set[str] = set()
    scoped = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, scoped):
            continue
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
            elif isinstance(node.ctx, ast.Del):
                deleted.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(assigned), frozenset(deleted)


# --------------------------------------------------------------------------- compilation


@dataclass(frozen=True, slots=True)
class _Compiled:
    code: CodeType
    plain: bool  # no guards, no nested scopes: variables can be passed as eval() locals
    loops: bool  # needs a fresh iteration budget
    touched: frozenset[str]  # exec: names assigned or deleted at top level
    multiline: bool


def _syntax_error(error: SyntaxError, source: str, line_offset: int) -> SandboxError:
    lineno = (error.lineno or 1) + line_offset
    return SandboxError(f"syntax error at line {lineno}: {error.msg}", source, lineno)


@functools.lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> _Compiled:
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        raise TypeError(f"expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise SandboxError(
            f"expression is too long ({len(source):,} characters, limit {MAX_SOURCE_LENGTH:,})",
            source,
        )
    multiline = "\n" in source.strip()
    line_offset = 0
    if mode == "eval":
        text = source.strip()
        if not text:
            raise SandboxError("empty expression", source)
        line_offset = source[: source.index(text)].count("\n")
    else:
        text = textwrap.dedent(source)  # scripts are often indented inside the BPMN XML
    try:
        tree = ast.parse(text, filename=_FILENAME, mode=mode)
    except SyntaxError as error:
        raise _syntax_error(error, source, line_offset) from error
    except (MemoryError, RecursionError):
        raise SandboxError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", source) from None
    except ValueError as error:
        raise SandboxError(f"syntax error: {error}", source) from None
    if line_offset:
        ast.increment_lineno(tree, line_offset)

    _check_depth(tree, source, multiline)
    _validate(tree, mode, source, multiline)
    touched: frozenset[str] = frozenset()
    if isinstance(tree, ast.Module):
        assigned, deleted = _bound_names(tree)
        touched = assigned | deleted

    guarder = _Guarder()
    try:
        tree = ast.fix_missing_locations(guarder.visit(tree))
    except SandboxError as error:
        raise SandboxError(error.message, source) from None
    try:
        code = compile(tree, _FILENAME, mode, dont_inherit=True)
    except SyntaxError as error:  # e.g. 'break' outside loop
        raise _syntax_error(error, source, 0) from error
    nested = any(isinstance(const, CodeType) for const in code.co_consts)
    return _Compiled(
        code=code,
        plain=mode == "eval" and not (nested or guarder.guarded or guarder.loops),
        loops=guarder.loops,
        touched=touched,
        multiline=multiline,
    )


# --------------------------------------------------------------------------- running


def _error_line(traceback: TracebackType | None) -> int | None:
    lineno = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _FILENAME:
            lineno = traceback.tb_lineno
        traceback = traceback.tb_next
    return lineno


def _runtime_error(error: Exception, source: str, compiled: _Compiled) -> SandboxError:
    if isinstance(error, limits.OverBudget):
        lineno = _error_line(error.__traceback__)
        return SandboxError(str(error) + _location(lineno, compiled.multiline), source, lineno, error.budget)
    if isinstance(error, _LimitError):
        lineno = _error_line(error.__traceback__)
        return SandboxError(str(error) + _location(lineno, compiled.multiline), source, lineno, "size")
    if isinstance(error, NameError):
        message = str(error)
    elif isinstance(error, ZeroDivisionError):
        message = "division by zero"
    elif isinstance(error, KeyError):
        message = f"key {error.args[0]!r} not found" if error.args else "key not found"
    elif isinstance(error, MemoryError):
        message = "out of memory"
    elif isinstance(error, RecursionError):
        message = "data is nested too deeply"
    else:
        message = f"{type(error).__name__}: {error}"
    message = " ".join(message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    lineno = _error_line(error.__traceback__)
    return SandboxError(message + _location(lineno, compiled.multiline), source, lineno)


def _globals_for(compiled: _Compiled, variables: Mapping[str, Any]) -> dict[str, Any]:
    namespace = dict(variables)
    namespace.update(_GUARDS)
    namespace["__builtins__"] = _SAFE_BUILTINS
    if compiled.loops:
        namespace["_of_iter"] = limits.current().iterate
    return namespace


def check(source: str, mode: str = "eval") -> None:
    """Validate an expression (``mode="eval"``) or script (``mode="exec"``) without running it.

    Raises SandboxError for syntax errors and forbidden constructs; meant for linting
    diagrams at deploy time.
    """
    _compile(source, mode)


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` against ``variables`` (which it cannot rebind) and return the value."""
    compiled = _compile(expression, "eval")
    try:
        if compiled.plain:
            return eval(compiled.code, _PLAIN_GLOBALS, variables)  # validated code, safe builtins
        with limits.evaluation():
            return eval(compiled.code, _globals_for(compiled, variables))
    except Exception as error:
        raise _runtime_error(error, expression, compiled) from error


def execute(script: str, variables: dict[str, Any]) -> None:
    """Run ``script`` with ``variables`` as its namespace.

    Names the script assigns at top level are written back into ``variables`` and names it
    deletes (``del x``) are removed -- only if the whole script succeeds.  Values it mutates in
    place (``items.append(x)``) are of course changed either way.
    """
    compiled = _compile(script, "exec")
    try:
        with limits.evaluation():
            namespace = _globals_for(compiled, variables)
            exec(compiled.code, namespace)  # validated code, safe builtins
    except Exception as error:
        raise _runtime_error(error, script, compiled) from error
    for name in compiled.touched:
        if name in namespace:
            variables[name] = namespace[name]
        else:
            variables.pop(name, None)
