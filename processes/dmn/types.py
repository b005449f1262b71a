"""typeRef: checking (and, for caller-supplied values, coercing) values against DMN types.

Built-in types (a ``feel:``/``xsd:`` prefix is ignored, case does not matter): number (also Camunda's double,
decimal), integer/long/int (a number with no fraction), string, boolean, date, time, dateTime (``date and time``),
dayTimeDuration (``days and time duration``), yearMonthDuration (``years and months duration``), duration (either
kind), context, list, Any. Item definitions add: a base type, allowed values (FEEL unary tests), ``isCollection``
and components (a context whose listed entries are checked; extra entries are allowed, missing ones are null).

null conforms to every type. Values that do not conform raise ``TypeMismatch`` (orderflow reports an error rather
than DMN's "the value becomes null": a wrong type in a business rule is a bug to see, not to hide). Coercion is
only applied to values that come from the caller (input data, input expressions): JSON has no dates, so an ISO
string is accepted for a date/time/dateTime/duration type and converted with FEEL's own ``date()``, ``time()``,
``date and time()`` and ``duration()``. Strings are not turned into numbers or booleans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..errors import InternalError
from ..feel import YearsMonthsDuration, compile_feel, to_json
from ..feel.functions import EvalContext, Scope
from ..feel.values import kind


class TypeMismatch(InternalError):  # noqa: N818 - reported to users as a DmnDecisionError with context added
    """A value does not conform to a type; the message says what was expected and what was given."""


def describe(value: Any) -> str:
    """A value for an error message: its FEEL type and a short rendering."""
    text = repr(to_json(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind(value)} {text}"


def _parser(expression: str) -> Callable[[str], Any]:
    compiled = compile_feel(expression, False)

    def parse(text: str) -> Any:
        try:
            return compiled.run(Scope({"v": text}, None, EvalContext()))
        except Exception:  # noqa: BLE001 - any failure to convert is a mismatch
            return None

    return parse


_PARSE_DATE = _parser("date(v)")
_PARSE_TIME = _parser("time(v)")
_PARSE_DATETIME = _parser("date and time(v)")
_PARSE_DURATION = _parser("duration(v)")

Check = Callable[[Any, bool], Any]


def _fail(expected: str, value: Any) -> TypeMismatch:
    return TypeMismatch(f"expected {expected}, got {describe(value)}")


def _number(value: Any, coerce: bool) -> Any:
    if type(value) is Decimal:
        return value
    raise _fail("a number", value)


def _integer(value: Any, coerce: bool) -> Any:
    if type(value) is Decimal and value.is_finite() and value == value.to_integral_value():
        return value
    raise _fail("a whole number", value)


def _string(value: Any, coerce: bool) -> Any:
    if type(value) is str:
        return value
    raise _fail("a string", value)


def _boolean(value: Any, coerce: bool) -> Any:
    if type(value) is bool:
        return value
    raise _fail("a boolean", value)


def _temporal(name: str, ok: Callable[[Any], bool], parse: Callable[[str], Any]) -> Check:
    def check(value: Any, coerce: bool) -> Any:
        if ok(value):
            return value
        if coerce and type(value) is str:
            parsed = parse(value)
            if parsed is not None and ok(parsed):
                return parsed
        raise _fail(name, value)

    return check


def _is_date(v: Any) -> bool:
    return isinstance(v, dt.date) and not isinstance(v, dt.datetime)


_date = _temporal("a date", _is_date, _PARSE_DATE)
_time = _temporal("a time", lambda v: isinstance(v, dt.time), _PARSE_TIME)
_datetime = _temporal("a date and time", lambda v: isinstance(v, dt.datetime), _PARSE_DATETIME)
_dtd = _temporal("a days and time duration", lambda v: isinstance(v, dt.timedelta), _PARSE_DURATION)
_ymd = _temporal("a years and months duration", lambda v: isinstance(v, YearsMonthsDuration), _PARSE_DURATION)
_duration = _temporal("a duration", lambda v: isinstance(v, dt.timedelta | YearsMonthsDuration), _PARSE_DURATION)


def _context(value: Any, coerce: bool) -> Any:
    if type(value) is dict:
        return value
    raise _fail("a context", value)


def _list(value: Any, coerce: bool) -> Any:
    if type(value) is list:
        return value
    raise _fail("a list", value)


BUILTIN_CHECKS: dict[str, tuple[str, Check | None]] = {}
for _names, _label, _check in (
    (("number", "decimal", "double", "float"), "number", _number),
    (("integer", "int", "long", "short"), "integer", _integer),
    (("string",), "string", _string),
    (("boolean",), "boolean", _boolean),
    (("date",), "date", _date),
    (("time",), "time", _time),
    (("datetime", "dateandtime"), "dateTime", _datetime),
    (("daytimeduration", "daysandtimeduration"), "dayTimeDuration", _dtd),
    (("yearmonthduration", "yearsandmonthsduration"), "yearMonthDuration", _ymd),
    (("duration",), "duration", _duration),
    (("context",), "context", _context),
    (("list",), "list", _list),
    (("any", "", "function"), "Any", None),
):
    for _name in _names:
        BUILTIN_CHECKS[_name] = (_label, _check)


def builtin_key(type_ref: str) -> str:
    """``feel:dateTime`` -> ``datetime``: the lookup key of a possibly built-in type name."""
    name = type_ref.strip()
    if ":" in name and not name.startswith("http"):
        name = name.rsplit(":", 1)[1]
    return name.replace(" ", "").lower()


class TypeSpec:
    """A resolved typeRef. ``check`` tests (and coerces) one item; ``allowed`` are the allowed values as compiled
    FEEL unary tests; ``components`` maps entry names to their types for structured item definitions."""

    __slots__ = ("name", "check", "allowed", "allowed_text", "collection", "components", "simple")

    def __init__(
        self,
        name: str,
        check: Check | None = None,
        *,
        allowed: Callable | None = None,
        allowed_text: str = "",
        collection: bool = False,
        components: dict[str, TypeSpec | None] | None = None,
    ) -> None:
        self.name = name
        self.check = check
        self.allowed = allowed
        self.allowed_text = allowed_text
        self.collection = collection
        self.components = components
        # a plain built-in type: just its check (the fast path)
        self.simple = check if allowed is None and not collection and components is None else None

    def __repr__(self) -> str:
        return f"TypeSpec({self.name!r})"

    def is_instance(self, value: Any) -> bool:
        """FEEL's ``instance of`` this type: the structure and base type, not the allowed values (the TCK's reading
        of DMN 1.4, 10.3.2.9); null entries and items conform."""
        if value is None:
            return True
        if self.collection:
            return type(value) is list and all(self._is_item(v) for v in value)
        return self._is_item(value)

    def _is_item(self, value: Any) -> bool:
        if value is None:
            return True
        if self.components is not None:
            return type(value) is dict and all(
                name in value and (spec is None or spec.is_instance(value[name]))
                for name, spec in self.components.items()
            )
        if self.check is None:
            return True
        try:
            self.check(value, False)
        except TypeMismatch:
            return False
        return True

    def unwrap(self, value: Any) -> Any:
        """DMN's singleton-list conversion (10.3.2.9.4): a one-element list where one value of a type that is not a
        list is expected stands for its element."""
        if type(value) is list and len(value) == 1 and not self.collection and self.check not in (None, _list):
            return value[0]
        return value

    def conform(self, value: Any, coerce: bool = False) -> Any:
        """The value (coerced if ``coerce`` and possible) or TypeMismatch."""
        if value is None:
            return None
        if self.collection:
            if type(value) is not list:  # a single value where a list is expected: the singleton list
                return [self.conform_item(value, coerce)]
            out = [self.conform_item(v, coerce) for v in value]
            return out if any(a is not b for a, b in zip(out, value, strict=True)) else value
        return self.conform_item(self.unwrap(value), coerce)

    def conform_item(self, value: Any, coerce: bool) -> Any:
        if value is None:
            return None
        if self.components is not None:
            if type(value) is not dict:
                raise TypeMismatch(f"expected a context ({self.name}), got {describe(value)}")
            changed = None
            for name, spec in self.components.items():
                if spec is None or name not in value:
                    continue
                item = value[name]
                try:
                    fixed = spec.conform(item, coerce)
                except TypeMismatch as exc:
                    raise TypeMismatch(f"entry {name!r}: {exc}") from None
                if fixed is not item:
                    if changed is None:
                        changed = dict(value)
                    changed[name] = fixed
            if changed is not None:
                value = changed
        elif self.check is not None:
            value = self.check(value, coerce)
        if self.allowed is not None:
            ok = self.allowed(value, Scope({"?": value}, None, EvalContext()))
            if ok is not True:
                raise TypeMismatch(f"{describe(value)} is not one of the allowed values ({self.allowed_text})")
        return value
