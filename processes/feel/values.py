"""FEEL values as Python objects, and conversion from/to plain Python.

number: Decimal (34 digits) | string: str | boolean: bool | null: None | date: datetime.date
date and time: datetime.datetime | time: datetime.time | days and time duration: datetime.timedelta
years and months duration: YearsMonthsDuration | list: list | context: dict | range: Range | function: FeelFunction
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Any

CTX = Context(
    prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143, traps=[InvalidOperation, DivisionByZero, Overflow]
)

MAX_LIST = 1_000_000
MAX_STRING = 1_000_000


class YearsMonthsDuration:
    """A FEEL years and months duration: a whole number of months (negative allowed)."""

    __slots__ = ("months",)

    def __init__(self, months: int) -> None:
        self.months = int(months)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, YearsMonthsDuration) and other.months == self.months

    def __lt__(self, other: YearsMonthsDuration) -> bool:
        return self.months < other.months

    def __le__(self, other: YearsMonthsDuration) -> bool:
        return self.months <= other.months

    def __gt__(self, other: YearsMonthsDuration) -> bool:
        return self.months > other.months

    def __ge__(self, other: YearsMonthsDuration) -> bool:
        return self.months >= other.months

    def __hash__(self) -> int:
        return hash(("ym", self.months))

    def __neg__(self) -> YearsMonthsDuration:
        return YearsMonthsDuration(-self.months)

    @property
    def years(self) -> int:
        return int(self.months / 12)

    def isoformat(self) -> str:
        sign = "-" if self.months < 0 else ""
        years, months = divmod(abs(self.months), 12)
        if years and months:
            return f"{sign}P{years}Y{months}M"
        return f"{sign}P{years}Y" if years else f"{sign}P{months}M"

    def __repr__(self) -> str:
        return f"YearsMonthsDuration({self.isoformat()!r})"


class Range:
    """A FEEL range: ``[1..10]``, ``]a..b[``, or a one-sided range such as ``< 5`` (start or end is None)."""

    __slots__ = ("start", "end", "start_included", "end_included")

    def __init__(self, start: Any, end: Any, start_included: bool, end_included: bool) -> None:
        self.start, self.end = start, end
        self.start_included, self.end_included = start_included, end_included

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.start_included, self.end_included) == (
            other.start,
            other.end,
            other.start_included,
            other.end_included,
        )

    def __hash__(self) -> int:
        return hash(("range", self.start_included, self.end_included))

    def __repr__(self) -> str:
        return f"Range({to_string(self)!r})"


class FeelFunction:
    """A function value: user-defined (``function(x) x + 1``) or built-in. See ``functions.py``."""

    __slots__ = ()
    name = "anonymous"


NULL_TYPE = type(None)
_KINDS = {
    NULL_TYPE: "Null",
    bool: "boolean",
    Decimal: "number",
    str: "string",
    dt.date: "date",
    dt.datetime: "date and time",
    dt.time: "time",
    dt.timedelta: "days and time duration",
    YearsMonthsDuration: "years and months duration",
    list: "list",
    dict: "context",
    Range: "range",
}


def kind(value: Any) -> str:
    """The FEEL type name of a FEEL value."""
    k = _KINDS.get(type(value))
    if k is not None:
        return k
    if isinstance(value, FeelFunction):
        return "function"
    for cls, name in _KINDS.items():  # subclasses
        if cls is not NULL_TYPE and isinstance(value, cls):
            if cls is dt.date and isinstance(value, dt.datetime):
                return "date and time"
            return name
    return "Any"


def number(value: int | str | Decimal) -> Decimal:
    return Decimal(value)


def is_integer(value: Any) -> bool:
    return type(value) is Decimal and value.is_finite() and value == value.to_integral_value()


# ---------------------------------------------------------------- Python <-> FEEL


def to_feel(value: Any) -> Any:
    """A Python/JSON value as a FEEL value: int/float -> Decimal, tuple -> list, Mapping -> context (str keys).

    NaN/infinity and objects FEEL has no type for (callables, arbitrary classes) become null.
    """
    t = type(value)
    if t is str or t is bool or value is None or t is Decimal and value.is_finite():
        return value
    if t is int:
        return Decimal(value)
    if t is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if t is dict or isinstance(value, Mapping):
        return {str(k): to_feel(v) for k, v in value.items()}
    if t is list or t is tuple or isinstance(value, list | tuple | set | frozenset):
        return [to_feel(v) for v in value]
    if isinstance(value, dt.date | dt.time | dt.timedelta | YearsMonthsDuration | Range | FeelFunction):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, float):
        return to_feel(float(value))
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        return str(value)
    return None


def to_python(value: Any) -> Any:
    """A FEEL value as plain Python: Decimal -> int when integral else float; lists and contexts recursively.

    Dates, times, date-times and timedeltas stay Python objects; years-months durations stay YearsMonthsDuration;
    ranges and functions are returned as they are. Use ``to_json`` for JSON-serialisable output.
    """
    t = type(value)
    if t is Decimal:
        return int(value) if value == value.to_integral_value() else float(value)
    if t is list:
        return [to_python(v) for v in value]
    if t is dict:
        return {k: to_python(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> Any:
    """Like ``to_python`` but temporal values become ISO-8601 strings, ranges and functions strings."""
    t = type(value)
    if t is Decimal:
        return int(value) if value == value.to_integral_value() else float(value)
    if t is list:
        return [to_json(v) for v in value]
    if t is dict:
        return {k: to_json(v) for k, v in value.items()}
    if value is None or t is bool or t is str:
        return value
    return to_string(value)


# ---------------------------------------------------------------- string()


def format_number(value: Decimal) -> str:
    if value == 0:
        return "0"
    text = format(value.normalize(CTX), "f")
    return text


def format_timedelta(value: dt.timedelta) -> str:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, frac = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = f"{sign}P"
    if days:
        out += f"{days}D"
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if seconds or frac:
        time_part += f"{seconds}.{frac:06d}".rstrip("0") + "S" if frac else f"{seconds}S"
    if time_part:
        out += "T" + time_part
    return out if (days or time_part) else "PT0S"


def _format_offset(value: dt.date | dt.time) -> str:
    tz = value.tzinfo
    if tz is None:
        return ""
    key = getattr(tz, "key", None)
    if key:
        return "@" + key
    offset = value.utcoffset() if isinstance(value, dt.datetime) else tz.utcoffset(None)
    if offset is None:
        return ""
    if not offset:
        return "Z"
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes, seconds = divmod(abs(int(offset.total_seconds())), 60)
    text = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text + f":{seconds:02d}" if seconds else text  # an offset with seconds keeps them


def format_time(value: dt.time) -> str:
    return value.replace(tzinfo=None).isoformat() + _format_offset(value)


def format_date(value: dt.date) -> str:
    return value.isoformat()


def format_datetime(value: dt.datetime) -> str:
    return value.date().isoformat() + "T" + format_time(value.timetz())


def to_string(value: Any) -> str | None:
    """FEEL ``string(value)``; null stays null."""
    t = type(value)
    if t is str:
        return value
    if value is None:
        return None
    return _repr(value, top=True)


def _repr(value: Any, top: bool = False) -> str:
    k = kind(value)
    if k == "string":
        return value if top else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if k == "Null":
        return "null"
    if k == "boolean":
        return "true" if value else "false"
    if k == "number":
        return format_number(value)
    if k == "date":
        return format_date(value)
    if k == "date and time":
        return format_datetime(value)
    if k == "time":
        return format_time(value)
    if k == "days and time duration":
        return format_timedelta(value)
    if k == "years and months duration":
        return value.isoformat()
    if k == "list":
        return "[" + ", ".join(_repr(v) for v in value) + "]"
    if k == "context":
        return "{" + ", ".join(f"{_key(key)}: {_repr(v)}" for key, v in value.items()) + "}"
    if k == "range":
        left = "[" if value.start_included else "("
        right = "]" if value.end_included else ")"
        if value.start is None:
            return ("<= " if value.end_included else "< ") + _repr(value.end)
        if value.end is None:
            return (">= " if value.start_included else "> ") + _repr(value.start)
        return f"{left}{_repr(value.start)}..{_repr(value.end)}{right}"
    if k == "function":
        return f"function {value.name}"
    return str(value)


def _key(key: str) -> str:
    return key if key.replace(" ", "_").isidentifier() else _repr(key)
