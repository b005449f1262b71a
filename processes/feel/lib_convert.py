"""Built-ins: conversion (date, time, date and time, duration, number, string), boolean, context, date parts."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from .errors import NullResult
from .far_years import at_midnight, make_date
from .functions import builtin, check_list, need, need_int, need_list, need_str
from .temporal import (
    DAY_NAMES,
    MONTH_NAMES,
    months_between,
    parse_date,
    parse_datetime,
    parse_duration,
    parse_time,
)
from .values import YearsMonthsDuration, kind, to_string


def _ok(value: Any) -> Any:
    if value is None:
        raise NullResult
    return value


# ---------------------------------------------------------------- date / time / date and time


@builtin("date", "from")
def date_from(value: Any) -> dt.date:
    if type(value) is str:
        return _ok(parse_date(value))
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise NullResult


@builtin("date", "year", "month", "day")
def date_parts(year: Any, month: Any, day: Any) -> dt.date:
    return make_date(need_int(year), need_int(month), need_int(day))


@builtin("date and time", "from")
def datetime_from(value: Any) -> dt.datetime:
    if type(value) is str:
        return _ok(parse_datetime(value))
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return at_midnight(value)
    raise NullResult


@builtin("date and time", "date", "time")
def datetime_parts(date: Any, time: Any) -> dt.datetime:
    day = need(date, dt.date, dt.datetime)
    return dt.datetime.combine(day if type(day) is dt.date else day.date(), need(time, dt.time))


@builtin("time", "from")
def time_from(value: Any) -> dt.time:
    if type(value) is str:
        return _ok(parse_time(value))
    if type(value) is dt.datetime:
        return value.timetz()
    if type(value) is dt.date:  # a date is its midnight UTC (DMN 1.4, 10.3.4.1)
        return dt.time(0, 0, 0, tzinfo=dt.UTC)
    return need(value, dt.time)


@builtin("time", "hour", "minute", "second", "offset?")
def time_parts(hour: Any, minute: Any, second: Any, offset: Any) -> dt.time:
    seconds = need(second, Decimal)
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    tz = None
    if offset is not None:
        tz = dt.timezone(need(offset, dt.timedelta))
    return dt.time(need_int(hour), need_int(minute), whole, micro, tzinfo=tz)


@builtin("duration", "from")
def duration(value: Any) -> Any:
    if type(value) is str:
        return _ok(parse_duration(value))
    return need(value, dt.timedelta, YearsMonthsDuration)


@builtin("years and months duration", "from", "to")
def years_and_months(start: Any, end: Any) -> YearsMonthsDuration:
    # Only the calendar dates count (the TCK's reading of DMN 1.4, 10.3.4.5): times and zones are ignored.
    if not (isinstance(start, dt.date) and isinstance(end, dt.date)):
        raise NullResult
    a, b = _as_date(start), _as_date(end)
    return YearsMonthsDuration(months_between(a, b))


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


# ---------------------------------------------------------------- number / string / boolean

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")


@builtin("number", "from", "grouping separator?", "decimal separator?")
def number(text: Any, grouping: Any, decimal: Any) -> Decimal:
    s = need_str(text)
    if grouping not in (None, " ", ",", ".") or decimal not in (None, ".", ","):
        raise NullResult
    if grouping is not None and grouping == decimal:
        raise NullResult
    if grouping:
        s = s.replace(grouping, "")
    if decimal:
        s = s.replace(decimal, ".")
    if len(s) > 1000 or not _NUMBER_TEXT.fullmatch(s):
        raise NullResult
    return Decimal(s)


@builtin("string", "from")
def string(value: Any) -> str | None:
    return to_string(value)


@builtin("not", "negand")
def not_(value: Any) -> bool:
    return not need(value, bool)


@builtin("is", "value1?", "value2?")
def is_(a: Any, b: Any) -> bool:
    """Same type and same value (a date is not a date and time; offsets must match)."""
    if kind(a) != kind(b):
        return False
    if isinstance(a, dt.datetime | dt.time):
        zone_a, zone_b = getattr(a.tzinfo, "key", None), getattr(b.tzinfo, "key", None)
        if zone_a != zone_b:  # a zone id is not its offset, nor another zone with the same offset
            return False
        return a == b and a.utcoffset() == b.utcoffset() and (a.tzinfo is None) == (b.tzinfo is None)
    from .ops import eq

    return eq(a, b) is True


# ---------------------------------------------------------------- date parts


def _date(value: Any) -> dt.date:
    return need(value, dt.date, dt.datetime)


@builtin("day of year", "date")
def day_of_year(value: Any) -> Decimal:
    return Decimal(_date(value).timetuple().tm_yday)


@builtin("day of week", "date")
def day_of_week(value: Any) -> str:
    return DAY_NAMES[_date(value).weekday()]


@builtin("month of year", "date")
def month_of_year(value: Any) -> str:
    return MONTH_NAMES[_date(value).month - 1]


@builtin("week of year", "date")
def week_of_year(value: Any) -> Decimal:
    return Decimal(_date(value).isocalendar()[1])


@builtin("now")
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@builtin("today")
def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# ---------------------------------------------------------------- contexts


def _context(value: Any) -> dict:
    return need(value, dict)


@builtin("get value", "m", "key")
def get_value(m: Any, key: Any) -> Any:
    ctx = _context(m)
    if type(key) is list:  # a path of keys
        for k in key:
            if type(ctx) is not dict:
                return None
            ctx = ctx.get(need_str(k))
        return ctx
    return ctx.get(need_str(key))


@builtin("get entries", "m")
def get_entries(m: Any) -> list:
    return [{"key": k, "value": v} for k, v in _context(m).items()]


@builtin("context", "entries")
def context(entries: Any) -> dict:
    out: dict[str, Any] = {}
    for entry in need_list(entries):
        if type(entry) is not dict or "key" not in entry or type(entry["key"]) is not str:
            raise NullResult
        if entry["key"] in out:
            raise NullResult
        if "value" not in entry:
            raise NullResult
        out[entry["key"]] = entry["value"]
    return out


def _put(ctx: dict, keys: list, value: Any) -> dict:
    out = dict(ctx)
    key = need_str(keys[0])
    if len(keys) == 1:
        out[key] = value
    else:
        inner = out.get(key)
        if type(inner) is not dict:  # a path through something that is not a context
            raise NullResult
        out[key] = _put(inner, keys[1:], value)
    return out


# The keys form first: a positional call takes a key or a list of keys; by name, ``key`` is one key.
@builtin("context put", "context", "keys", "value")
def context_put_keys(ctx: Any, keys: Any, value: Any) -> dict:
    keys = keys if type(keys) is list else [keys]
    if not keys:
        raise NullResult
    return _put(_context(ctx), keys, value)


@builtin("context put", "context", "key", "value")
def context_put(ctx: Any, key: Any, value: Any) -> dict:
    return _put(_context(ctx), [need_str(key)], value)


@builtin("context merge", "contexts")
def context_merge(contexts: Any) -> dict:
    out: dict[str, Any] = {}
    for ctx in check_list(need_list(contexts)):
        out.update(_context(ctx))
    return out
