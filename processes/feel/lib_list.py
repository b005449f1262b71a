"""Built-ins: list functions. Equality is FEEL equality (1 = 1.0, true != 1); results are capped at MAX_LIST."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from .errors import FeelError, NullResult
from .functions import EvalContext, builtin, call_function, check_list, need, need_int, need_list, need_num
from .ops import compare, eq
from .values import CTX, MAX_LIST, kind

_HASHABLE = {"number", "string", "boolean", "date", "days and time duration"}


def _key(value: Any) -> Any:
    """A hashable key: two FEEL values have equal keys exactly when they are FEEL-equal (= gives true)."""
    if value is None:
        return ("Null",)
    k = kind(value)
    if k in _HASHABLE:
        return (k, value)
    if k in ("time", "date and time"):
        return (k, value, value.utcoffset() is None)
    if k == "years and months duration":
        return (k, value.months)
    if k == "list":
        return (k, tuple(_key(v) for v in value))
    if k == "context":
        return (k, frozenset((name, _key(v)) for name, v in value.items()))
    if k == "range":
        return (k, value.start_included, value.end_included, _key(value.start), _key(value.end))
    return (k, id(value))  # functions: identity


def distinct(items: list) -> list:
    seen: set = set()
    out: list = []
    for item in items:
        key = _key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _contains(items: list, value: Any) -> bool:
    return any(eq(value, item) is True for item in items)


@builtin("list contains", "list", "element")
def list_contains(items: Any, element: Any) -> bool:
    return _contains(need_list(items), element)


@builtin("count", "list", variadic="items")
def count(items: Any) -> Decimal:
    return Decimal(len(need_list(items)))


def _extreme(items: Any, sign: int) -> Any:
    values = need_list(items)
    if not values:
        return None
    best = values[0]
    for v in values[1:]:
        c = compare(v, best)
        if c is None:
            raise NullResult
        if c * sign > 0:
            best = v
    if compare(best, best) is None:
        raise NullResult
    return best


@builtin("min", "list", variadic="items")
def min_(items: Any) -> Any:
    return _extreme(items, -1)


@builtin("max", "list", variadic="items")
def max_(items: Any) -> Any:
    return _extreme(items, 1)


def _numbers(items: Any) -> list[Decimal]:
    values = need_list(items)
    for v in values:
        need_num(v)
    return values


@builtin("sum", "list", variadic="items")
def sum_(items: Any) -> Decimal | None:
    values = _numbers(items)
    if not values:
        return None
    total = Decimal(0)
    for v in values:
        total = CTX.add(total, v)
    return total


@builtin("product", "list", variadic="items")
def product(items: Any) -> Decimal | None:
    values = _numbers(items)
    if not values:
        return None
    total = Decimal(1)
    for v in values:
        total = CTX.multiply(total, v)
    return total


@builtin("mean", "list", variadic="items")
def mean(items: Any) -> Decimal | None:
    values = _numbers(items)
    if not values:
        return None
    return CTX.divide(sum_(values), Decimal(len(values)))


@builtin("median", "list", variadic="items")
def median(items: Any) -> Decimal | None:
    values = sorted(_numbers(items))
    if not values:
        return None
    mid = len(values) // 2
    if len(values) % 2:
        return values[mid]
    return CTX.divide(CTX.add(values[mid - 1], values[mid]), Decimal(2))


@builtin("stddev", "list", variadic="items")
def stddev(items: Any) -> Decimal | None:
    values = _numbers(items)
    if len(values) < 2:
        return None
    avg = mean(values)
    squares = Decimal(0)
    for v in values:
        d = CTX.subtract(v, avg)
        squares = CTX.add(squares, CTX.multiply(d, d))
    return CTX.sqrt(CTX.divide(squares, Decimal(len(values) - 1)))


@builtin("mode", "list", variadic="items")
def mode(items: Any) -> list:
    values = _numbers(items)
    counts: dict[Decimal, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(v for v, c in counts.items() if c == top)


@builtin("all", "list", variadic="items")
def all_(items: Any) -> bool | None:
    result: bool | None = True
    for v in need_list(items):
        if v is False:
            return False
        if v is not True:
            result = None
    return result


@builtin("any", "list", variadic="items")
def any_(items: Any) -> bool | None:
    result: bool | None = False
    for v in need_list(items):
        if v is True:
            return True
        if v is not False:
            result = None
    return result


def _start(items: list, position: Any, allow_end: bool = False) -> int:
    p = need_int(position)
    size = len(items) + (1 if allow_end else 0)
    if p > 0 and p <= size:
        return p - 1
    if p < 0 and -p <= len(items):
        return len(items) + p
    raise NullResult


@builtin("sublist", "list", "start position", "length?")
def sublist(items: Any, start: Any, length: Any) -> list:
    values = need_list(items)
    i = _start(values, start)
    if length is None:
        return values[i:]
    n = need_int(length, 0)
    if i + n > len(values):
        raise NullResult
    return values[i : i + n]


@builtin("append", "list", "items", variadic="rest")
def append(items: Any, extra: list) -> list:
    return check_list(need_list(items) + (extra if type(extra) is list else [extra]))


@builtin("concatenate", "lists", variadic="rest")
def concatenate(lists: list) -> list:
    out: list = []
    for value in lists:
        out.extend(need_list(value))
        check_list(out)
    return out


@builtin("insert before", "list", "position", "newItem")
def insert_before(items: Any, position: Any, new_item: Any) -> list:
    values = need_list(items)
    i = _start(values, position)
    return check_list(values[:i] + [new_item] + values[i:])


@builtin("remove", "list", "position")
def remove(items: Any, position: Any) -> list:
    values = need_list(items)
    i = _start(values, position)
    return values[:i] + values[i + 1 :]


@builtin("list replace", "list", "position", "newItem", ctx=True)
def list_replace(ctx: EvalContext, items: Any, position: Any, new_item: Any) -> list:
    values = list(need_list(items))
    if type(position) is Decimal:
        if not position.is_finite():
            raise NullResult
        values[_start(values, Decimal(int(position)))] = new_item  # 2.5 is position 2
        return values
    for i, item in enumerate(values):
        hit = call_function(ctx, position, item, new_item)
        if hit is not None and type(hit) is not bool:  # a match function must decide
            raise NullResult
        if hit is True:
            values[i] = new_item
    return values


@builtin("list replace", "list", "match", "newItem", ctx=True)
def list_replace_matching(ctx: EvalContext, items: Any, match: Any, new_item: Any) -> list:
    if type(match) is Decimal:
        raise NullResult
    return list_replace(ctx, items, match, new_item)


@builtin("reverse", "list")
def reverse(items: Any) -> list:
    return need_list(items)[::-1]


@builtin("index of", "list", "match")
def index_of(items: Any, match: Any) -> list:
    return [Decimal(i) for i, item in enumerate(need_list(items), 1) if eq(item, match) is True]


@builtin("union", "lists", variadic="rest")
def union(lists: list) -> list:
    return distinct(concatenate(lists))


@builtin("distinct values", "list")
def distinct_values(items: Any) -> list:
    return distinct(need_list(items))


@builtin("flatten", "list")
def flatten(items: Any) -> list:
    out: list = []
    stack = [iter(need_list(items))]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                if len(stack) > 100:
                    raise FeelError("list nested too deeply to flatten")
                stack.append(iter(item))
                break
            out.append(item)
            if len(out) > MAX_LIST:
                check_list(out)
        else:
            stack.pop()
    return out


@builtin("sort", "list", "precedes?", ctx=True)
def sort(ctx: EvalContext, items: Any, precedes: Any) -> list:
    values = list(need_list(items))
    ctx.tick(len(values) * max(len(values).bit_length(), 1) >> 2)
    if precedes is None:
        for v in values:
            if compare(v, values[0]) is None:
                raise NullResult
        return sorted(values, key=functools.cmp_to_key(lambda a, b: compare(a, b) or 0))

    def cmp(a: Any, b: Any) -> int:
        return -1 if call_function(ctx, precedes, a, b) is True else 1

    return sorted(values, key=functools.cmp_to_key(cmp))


@builtin("is empty", "list")
def is_empty(items: Any) -> bool:
    return len(need(items, list)) == 0
