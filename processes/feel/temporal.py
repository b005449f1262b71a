"""Dates, times and durations: parsing FEEL/ISO-8601 text, calendar arithmetic.

Years outside 1..9999 are kept by ``far_years.py``; times have microsecond precision.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from .far_years import make_date, make_datetime, stand_in_date
from .values import YearsMonthsDuration

# These patterns validate the *value* strings given to date()/time()/duration(); they are not FEEL syntax.
_DATE = re.compile(r"(-?\d{4,9})-(\d\d)-(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d(?::\d\d)?|@[A-Za-z][A-Za-z0-9_+\-/]{0,63})?")
_DT_DURATION = re.compile(r"(-)?P(?:(\d{1,9})D)?(?:T(?:(\d{1,12})H)?(?:(\d{1,14})M)?(?:(\d{1,15})(?:\.(\d{1,9}))?S)?)?")
_YM_DURATION = re.compile(r"(-)?P(?:(\d{1,9})Y)?(?:(\d{1,10})M)?")
_MAX_TEXT = 200


@lru_cache(maxsize=256)
def zone(name: str) -> dt.tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        return None


def _tz(text: str | None) -> dt.tzinfo | None | bool:
    """tzinfo for an offset/zone suffix; None when absent; False when invalid."""
    if not text:
        return None
    if text == "Z":
        return dt.UTC
    if text[0] == "@":
        return zone(text[1:]) or False
    sign = -1 if text[0] == "-" else 1
    parts = [int(p) for p in text[1:].split(":")]
    seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
    if seconds > 18 * 3600:
        return False
    return dt.timezone(sign * dt.timedelta(seconds=seconds))


def parse_date(text: str) -> dt.date | None:
    m = _DATE.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if not m:
        return None
    try:
        return make_date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def parse_time(text: str) -> dt.time | None:
    m = _TIME.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if not m:
        return None
    tz = _tz(m[5])
    if tz is False:
        return None
    micro = int((m[4] or "0")[:6].ljust(6, "0"))
    try:
        return dt.time(int(m[1]), int(m[2]), int(m[3]), micro, tzinfo=tz)
    except ValueError:
        return None


def parse_datetime(text: str) -> dt.datetime | None:
    if len(text) > _MAX_TEXT:
        return None
    date_text, sep, time_text = text.partition("T")
    day = parse_date(date_text)
    if day is None:
        return None
    if not sep:
        return make_datetime(day.year, dt.datetime.combine(stand_in_date(day), dt.time()))
    next_day = time_text.startswith("24:00:00") and not time_text[8:].lstrip(".0").startswith(tuple("123456789"))
    if next_day:  # ISO 8601's end of day: midnight of the next day
        time_text = "00" + time_text[2:]
    clock = parse_time(time_text)
    if clock is None:
        return None
    try:
        value = make_datetime(day.year, dt.datetime.combine(stand_in_date(day), clock))
        return value + dt.timedelta(days=1) if next_day else value
    except (OverflowError, ValueError):
        return None


def parse_duration(text: str) -> dt.timedelta | YearsMonthsDuration | None:
    if len(text) > _MAX_TEXT or not text or text.endswith(("P", "T")):
        return None
    m = _DT_DURATION.fullmatch(text)
    if m and any(m.group(i) for i in (2, 3, 4, 5)):
        frac = int((m[6] or "0")[:6].ljust(6, "0"))
        try:
            value = dt.timedelta(
                days=int(m[2] or 0),
                hours=int(m[3] or 0),
                minutes=int(m[4] or 0),
                seconds=int(m[5] or 0),
                microseconds=frac,
            )
        except OverflowError:
            return None
        return -value if m[1] else value
    m = _YM_DURATION.fullmatch(text)
    if m and (m[2] or m[3]):
        months = int(m[2] or 0) * 12 + int(m[3] or 0)
        return YearsMonthsDuration(-months if m[1] else months)
    return None


def parse_temporal(text: str):
    """An ``@"..."`` literal: date, time, date and time or duration, by its shape."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if "T" in text.partition("@")[0]:  # not the T of a zone id (@Etc/GMT)
        return parse_datetime(text)
    if text.count(":") >= 2 and "-" not in text.split(":")[0]:
        return parse_time(text)
    return parse_date(text)


def add_months(value: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic; the day is clamped to the target month's length (Jan 31 + 1 month = Feb 28/29)."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    leap_alike = 2000 + year % 400  # the same leap years, every 400 years
    day = min(value.day, calendar.monthrange(leap_alike, month)[1])
    if isinstance(value, dt.datetime):
        return make_datetime(year, value.replace(year=leap_alike, month=month, day=day))
    return make_date(year, month, day)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from start to end (``years and months duration(from, to)``)."""
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    months = (end.year - start.year) * 12 + end.month - start.month
    if _rest(end) < _rest(start):
        months -= 1
    return sign * months


def _rest(value: dt.date) -> tuple:
    if isinstance(value, dt.datetime):
        return (value.day, value.time())
    return (value.day, dt.time())


def total_micros(value: dt.timedelta) -> int:
    return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds


def micros_to_timedelta(micros: Decimal | int) -> dt.timedelta:
    return dt.timedelta(microseconds=int(micros))


def time_plus(value: dt.time, delta: dt.timedelta) -> dt.time:
    base = dt.datetime.combine(dt.date(2000, 1, 1), value.replace(tzinfo=None))
    return (base + dt.timedelta(seconds=delta.total_seconds() % 86400)).time().replace(tzinfo=value.tzinfo)


def time_as_delta(value: dt.time) -> dt.timedelta:
    """Time since midnight UTC when the time has an offset, else since local midnight."""
    delta = dt.timedelta(hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond)
    offset = value.utcoffset()
    return delta - offset if offset is not None else delta


DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
