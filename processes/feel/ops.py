"""FEEL operators: equality, ordering, arithmetic. Invalid operand types give null, never an exception."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .errors import FeelError
from .far_years import at_midnight, plus
from .temporal import add_months, micros_to_timedelta, time_as_delta, time_plus, total_micros
from .values import CTX, MAX_STRING, YearsMonthsDuration, kind

_ORDERED = {"number", "string", "date", "time", "date and time", "days and time duration", "years and months duration"}
_TZ_KINDS = ("time", "date and time")


def _naive(value: Any) -> bool:
    return value.utcoffset() is None


def eq(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: null = null is true, null = x is false, different types give null."""
    if a is None or b is None:
        return a is None and b is None
    ta, tb = type(a), type(b)
    if ta is tb and (ta is Decimal or ta is str or ta is bool):
        return a == b
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return None
    if ka == "list":
        if len(a) != len(b):
            return False
        return _all_true(eq(x, y) for x, y in zip(a, b, strict=True))
    if ka == "context":
        if a.keys() != b.keys():
            return False
        return _all_true(eq(a[k], b[k]) for k in a)
    if ka in _TZ_KINDS and _naive(a) != _naive(b):
        return None
    if ka == "range":
        return _all_true(
            [
                a.start_included == b.start_included and a.end_included == b.end_included,
                eq(a.start, b.start),
                eq(a.end, b.end),
            ]
        )
    if ka == "function":
        return a is b
    return a == b


def _all_true(results) -> bool | None:
    saw_null = False
    for r in results:
        if r is False:
            return False
        if r is None:
            saw_null = True
    return None if saw_null else True


def ne(a: Any, b: Any) -> bool | None:
    r = eq(a, b)
    return None if r is None else not r


def compare(a: Any, b: Any) -> int | None:
    """-1/0/1, or None when the values are not comparable."""
    ta = type(a)
    if ta is type(b) and (ta is Decimal or ta is str):
        return -1 if a < b else (1 if a > b else 0)
    if a is None or b is None:
        return None
    ka = kind(a)
    if ka != kind(b) or ka not in _ORDERED:
        return None
    if ka in _TZ_KINDS and _naive(a) != _naive(b):
        return None
    if ka == "time" and not _naive(a):
        a, b = time_as_delta(a), time_as_delta(b)
    try:
        return -1 if a < b else (1 if a > b else 0)
    except TypeError:
        return None


def lt(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c < 0


def le(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c <= 0


def gt(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c > 0


def ge(a: Any, b: Any) -> bool | None:
    c = compare(a, b)
    return None if c is None else c >= 0


COMPARATORS = {"=": eq, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge}


# ---------------------------------------------------------------- arithmetic


def _guard(fn):
    """Run an arithmetic helper; arithmetic/overflow/range failures give null."""

    def run(a, b):
        try:
            return fn(a, b)
        except (ArithmeticError, ValueError, OverflowError):
            return None

    run.__name__ = fn.__name__
    return run


def _date_as_datetime(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return at_midnight(value)


def _date_as_utc(value: dt.date) -> dt.datetime:
    return at_midnight(value, dt.UTC)


@_guard
def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return CTX.add(a, b)
    if ta is str and tb is str:
        if len(a) + len(b) > MAX_STRING:
            raise FeelError(f"string longer than {MAX_STRING} characters")
        return a + b
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka.endswith("duration") and not kb.endswith("duration"):
        a, b, ka, kb = b, a, kb, ka
    if kb == "days and time duration":
        if ka == "days and time duration":
            return a + b
        if ka == "date and time":
            return plus(a, b)
        if ka == "date":
            return plus(_date_as_datetime(a), b).date()
        if ka == "time":
            return time_plus(a, b)
    if kb == "years and months duration":
        if ka == "years and months duration":
            return YearsMonthsDuration(a.months + b.months)
        if ka in ("date", "date and time"):
            return add_months(a, b.months)
    return None


def negate(a: Any) -> Any:
    if type(a) is Decimal:
        return -a
    if isinstance(a, dt.timedelta | YearsMonthsDuration):
        try:
            return -a
        except OverflowError:
            return None
    return None


@_guard
def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return CTX.subtract(a, b)
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if kb.endswith("duration"):
        if ka in ("date", "date and time", "time") or ka == kb:
            return add(a, negate(b))
        return None
    if ka in ("date", "date and time") and kb in ("date", "date and time"):
        if ka != kb:  # a date against a date and time is that day's midnight UTC (DMN 1.4, 10.3.2.3.6)
            a, b = (_date_as_utc(v) if k == "date" else v for v, k in ((a, ka), (b, kb)))
        a, b = _date_as_datetime(a), _date_as_datetime(b)
        if _naive(a) != _naive(b):
            return None
        return a - b
    if ka == "time" and kb == "time":
        if _naive(a) != _naive(b):
            return None
        return time_as_delta(a) - time_as_delta(b)
    return None


@_guard
def mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return CTX.multiply(a, b)
    if ta is Decimal:
        a, b, ta, tb = b, a, tb, ta
    if tb is not Decimal:
        return None
    if ta is dt.timedelta:
        return micros_to_timedelta(CTX.multiply(Decimal(total_micros(a)), b).to_integral_value())
    if ta is YearsMonthsDuration:
        return YearsMonthsDuration(int(CTX.multiply(Decimal(a.months), b)))
    return None


@_guard
def div(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return None if b == 0 else CTX.divide(a, b)
    if a is None or b is None:
        return None
    if ta is dt.timedelta:
        if tb is Decimal:
            return None if b == 0 else micros_to_timedelta(CTX.divide(Decimal(total_micros(a)), b).to_integral_value())
        if tb is dt.timedelta:
            d = total_micros(b)
            return None if d == 0 else CTX.divide(Decimal(total_micros(a)), Decimal(d))
    if ta is YearsMonthsDuration:
        if tb is Decimal:
            return None if b == 0 else YearsMonthsDuration(int(CTX.divide(Decimal(a.months), b)))
        if tb is YearsMonthsDuration:
            return None if b.months == 0 else CTX.divide(Decimal(a.months), Decimal(b.months))
    return None


@_guard
def power(a: Any, b: Any) -> Any:
    if type(a) is Decimal and type(b) is Decimal:
        if b == b.to_integral_value() and abs(b) > 1_000_000_000:
            return None if abs(a) != 1 else CTX.power(a, b % 2 + 2)  # 1 ** n, (-1) ** n
        return CTX.power(a, b)
    return None


ARITHMETIC = {"+": add, "-": sub, "*": mul, "/": div, "**": power}
