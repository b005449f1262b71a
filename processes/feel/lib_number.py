"""Built-ins: numeric functions."""

from __future__ import annotations

import datetime as dt
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any

from .errors import NullResult
from .functions import builtin, need_num
from .values import CTX, YearsMonthsDuration

_NO_SCALE = object()


def _round(n: Any, scale: Any, mode: str) -> Decimal:
    value = need_num(n)
    if scale is None:  # given, but null
        raise NullResult
    places = 0 if scale is _NO_SCALE else _whole(scale)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        return value  # already at (or coarser than) the requested scale
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode, context=CTX)


def _whole(scale: Any) -> int:
    """A scale with a fraction counts by its whole part (decimal(1/3, 2.5) rounds to 2 places)."""
    if type(scale) is not Decimal or not scale.is_finite() or not -6111 <= scale <= 6176:
        raise NullResult
    return int(scale)


def _rounding(name: str, mode: str, optional_scale: bool = True) -> None:
    if optional_scale:
        builtin(name, "n")(lambda n: _round(n, _NO_SCALE, mode))
    builtin(name, "n", "scale")(lambda n, scale: _round(n, scale, mode))


_rounding("decimal", ROUND_HALF_EVEN, optional_scale=False)
_rounding("floor", ROUND_FLOOR)
_rounding("ceiling", ROUND_CEILING)
_rounding("round up", ROUND_UP)
_rounding("round down", ROUND_DOWN)
_rounding("round half up", ROUND_HALF_UP)
_rounding("round half down", ROUND_HALF_DOWN)


@builtin("abs", "n")
def abs_(n: Any) -> Any:
    if type(n) is Decimal:
        return abs(n)
    if type(n) is dt.timedelta:
        return abs(n)
    if type(n) is YearsMonthsDuration:
        return YearsMonthsDuration(abs(n.months))
    raise NullResult


@builtin("modulo", "dividend", "divisor")
def modulo(dividend: Any, divisor: Any) -> Decimal | None:
    a, b = need_num(dividend), need_num(divisor)
    if b == 0:
        return None
    r = CTX.remainder(a, b)
    if r != 0 and (r < 0) != (b < 0):
        r = CTX.add(r, b)
    return r


@builtin("sqrt", "number")
def sqrt(number: Any) -> Decimal | None:
    value = need_num(number)
    return None if value < 0 else CTX.sqrt(value)


@builtin("log", "number")
def log(number: Any) -> Decimal | None:
    value = need_num(number)
    return None if value <= 0 else CTX.ln(value)


@builtin("exp", "number")
def exp(number: Any) -> Decimal:
    return CTX.exp(need_num(number))


def _integer(number: Any) -> int:
    value = need_num(number)
    if value != value.to_integral_value():
        raise NullResult
    return int(value) % 2


@builtin("odd", "number")
def odd(number: Any) -> bool:
    return _integer(number) != 0


@builtin("even", "number")
def even(number: Any) -> bool:
    return _integer(number) == 0
