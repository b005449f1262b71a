"""Dates and date-times whose year is outside Python's 1..9999 (FEEL allows ``@"-2021-01-01"``, ``@"10000-01-01"``).

The Gregorian calendar repeats every 400 years (146097 days, a whole number of weeks), so such a value is kept as
a Python date/datetime in a year 2000..2399 with the same month, day, weekday and leap year, in a subclass that
remembers the shift (a multiple of 400 years). Arithmetic with durations, replace() and astimezone() keep the
subclass (CPython builds results with ``type(self)``), so they work on the stand-in; what shows the year
(``year``, ``isoformat()``, ``date()``) and what mixes two values (subtraction, comparison) adds the shift back.
Years are astronomical: the year before 1 is 0, before that -1 (ISO 8601, XML Schema 1.1).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

CYCLE_YEARS = 400
CYCLE_DAYS = 146097
_BASE = 2000  # stand-in years are 2000..2399


def _base_year(value: dt.date) -> int:
    return dt.date.year.__get__(value)  # the stand-in's own year, not the shifted one


def shift_of(value: dt.date) -> int:
    """Years to add to the stand-in's year (0 for ordinary values)."""
    return getattr(type(value), "shift", 0)


def _canonical_shift(year: int) -> int:
    return CYCLE_YEARS * (year // CYCLE_YEARS) - _BASE


def _year_text(year: int) -> str:
    return f"-{-year:04d}" if year < 0 else f"{year:04d}"


class _Far:
    """Mixed into the stand-in classes; ``shift`` is set per class."""

    shift = 0

    @property
    def year(self) -> int:
        return _base_year(self) + self.shift  # type: ignore[arg-type]

    def _cycles(self) -> int:
        return self.shift // CYCLE_YEARS

    # Ordering from each class's ``_compare`` (-1, 0, 1 or NotImplemented), written once for dates and date-times.
    def __lt__(self, other: Any) -> bool:
        c = self._compare(other)
        return c < 0 if c is not NotImplemented else NotImplemented

    def __le__(self, other: Any) -> bool:
        c = self._compare(other)
        return c <= 0 if c is not NotImplemented else NotImplemented

    def __gt__(self, other: Any) -> bool:
        c = self._compare(other)
        return c > 0 if c is not NotImplemented else NotImplemented

    def __ge__(self, other: Any) -> bool:
        c = self._compare(other)
        return c >= 0 if c is not NotImplemented else NotImplemented


class FarDate(_Far, dt.date):
    def isoformat(self) -> str:
        return f"{_year_text(self.year)}-{self.month:02d}-{self.day:02d}"

    __str__ = isoformat

    def __repr__(self) -> str:
        return f"FarDate({self.isoformat()!r})"

    def replace(self, year: int | None = None, month: int | None = None, day: int | None = None) -> dt.date:
        return make_date(self.year if year is None else year, month or self.month, day or self.day)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, dt.timedelta):
            return _normal(dt.date.__add__(self, other))
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, dt.timedelta):
            return _normal(dt.date.__sub__(self, other))
        if isinstance(other, dt.date) and not isinstance(other, dt.datetime):
            return dt.timedelta(days=day_number(self) - day_number(other))
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, dt.date) and not isinstance(other, dt.datetime):
            return dt.timedelta(days=day_number(other) - day_number(self))
        return NotImplemented

    def _compare(self, other: Any) -> int | Any:
        if not isinstance(other, dt.date) or isinstance(other, dt.datetime):
            return NotImplemented
        a, b = day_number(self), day_number(other)
        return (a > b) - (a < b)

    def __eq__(self, other: Any) -> bool:
        c = self._compare(other)
        return c == 0 if c is not NotImplemented else NotImplemented

    def __hash__(self) -> int:
        return hash(("date", day_number(self)))


class FarDateTime(_Far, dt.datetime):
    def date(self) -> dt.date:
        return make_date(self.year, self.month, self.day)

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return _year_text(self.year) + dt.datetime.isoformat(self, sep, timespec)[4:]

    __str__ = isoformat

    def __repr__(self) -> str:
        return f"FarDateTime({self.isoformat()!r})"

    def replace(self, year: int | None = None, **parts: Any) -> dt.datetime:
        plain = dt.datetime.replace(_stand_in(self), **parts)
        return make_datetime(self.year if year is None else year, plain)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, dt.timedelta):
            return _normal(dt.datetime.__add__(self, other))
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, dt.timedelta):
            return _normal(dt.datetime.__sub__(self, other))
        if isinstance(other, dt.datetime):
            return _difference(self, other)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, dt.datetime):
            return _difference(other, self)
        return NotImplemented

    def _compare(self, other: Any) -> int | Any:
        if not isinstance(other, dt.datetime):
            return NotImplemented
        delta = _difference(self, other)  # TypeError for naive against aware, as for ordinary datetimes
        return (delta > dt.timedelta(0)) - (delta < dt.timedelta(0))

    def __eq__(self, other: Any) -> bool:
        try:
            c = self._compare(other)
        except TypeError:
            return False
        return c == 0 if c is not NotImplemented else NotImplemented

    def __hash__(self) -> int:
        return hash(("date and time", day_number(self), self.timetz()))


@lru_cache(maxsize=256)
def _classes(shift: int) -> tuple[type, type]:
    date_class = type(f"FarDate{shift:+d}", (FarDate,), {"shift": shift, "__slots__": ()})
    datetime_class = type(f"FarDateTime{shift:+d}", (FarDateTime,), {"shift": shift, "__slots__": ()})
    return date_class, datetime_class


def day_number(value: dt.date) -> int:
    """Days since 0001-01-01 (negative before), counting the shift."""
    return dt.date.toordinal(value) + shift_of(value) // CYCLE_YEARS * CYCLE_DAYS


def stand_in_date(value: dt.date) -> dt.date:
    """The stand-in as an ordinary date (same month, day, weekday and leap year; the value itself when ordinary)."""
    return value if type(value) is dt.date else dt.date.fromordinal(dt.date.toordinal(value))


def _stand_in(value: dt.datetime) -> dt.datetime:
    """The stand-in as an ordinary datetime (same fields, stand-in year)."""
    return dt.datetime.combine(stand_in_date(value), value.timetz())


def at_midnight(value: dt.date, tz: dt.tzinfo | None = None) -> dt.datetime:
    """A date's midnight as a date and time (of any year)."""
    return make_datetime(value.year, dt.datetime.combine(stand_in_date(value), dt.time(tzinfo=tz)))


def _difference(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    days = (shift_of(a) - shift_of(b)) // CYCLE_YEARS * CYCLE_DAYS
    return (_stand_in(a) - _stand_in(b)) + dt.timedelta(days=days)


def make_date(year: int, month: int, day: int) -> dt.date:
    """A date of any year (ValueError for a month or day that does not exist)."""
    if 1 <= year <= 9999:
        return dt.date(year, month, day)
    shift = _canonical_shift(year)
    return _classes(shift)[0](year - shift, month, day)


def make_datetime(year: int, clock: dt.datetime) -> dt.datetime:
    """``clock`` (an ordinary datetime: month, day, time, zone) in the given year."""
    if 1 <= year <= 9999:
        return clock.replace(year=year)
    shift = _canonical_shift(year)
    stand_in = clock.replace(year=year - shift)
    return _classes(shift)[1].combine(stand_in.date(), stand_in.timetz())


def _normal(value: dt.date) -> dt.date:
    """A result of stand-in arithmetic, in the canonical form for its year (an ordinary value for 1..9999)."""
    year = value.year
    if isinstance(value, dt.datetime):
        return make_datetime(year, _stand_in(value))
    return make_date(year, value.month, value.day)


def plus(value: dt.date, delta: dt.timedelta) -> dt.date:
    """``value + delta`` past year 9999 or before year 1 too."""
    try:
        return value + delta
    except OverflowError:
        return _as_far(value) + delta


def _as_far(value: dt.date) -> dt.date:
    """An ordinary value in the stand-in form (so arithmetic may leave 1..9999)."""
    if shift_of(value):
        return value
    shift = _canonical_shift(value.year)
    if isinstance(value, dt.datetime):
        stand_in = value.replace(year=value.year - shift)
        return _classes(shift)[1].combine(stand_in.date(), stand_in.timetz())
    return _classes(shift)[0](value.year - shift, value.month, value.day)
