"""An interpreter for the JUEL (Java Unified Expression Language) subset used in Camunda 7 diagrams.

Camunda 7 writes gateway conditions, input/output mappings, ``assignee``/``candidateGroups``/``dueDate``
attributes, timer definitions and ``camunda:expression`` values in JUEL: ``${amount > 1000}``,
``${execution.getVariable('x') != null}``, ``Order ${orderId} for ${customer.name}``.

Diagrams are untrusted input, so nothing here uses Python's ``eval``/``exec`` or ``getattr``: the text is
tokenised and parsed by hand into a small tree of frozen nodes and interpreted node by node.  Values are only ever
inspected through fixed tables:

* properties are read from mappings (``a.b``, ``a['b']``) and lists (``items[0]``) only, plus a few read-only
  properties of ``execution``;
* methods come from a whitelist per value type (``size``, ``isEmpty``, ``contains``, ``equals``, ``length``,
  ``toUpperCase``, ``toLowerCase``, ``trim``, ``startsWith``, ``endsWith``, ``equalsIgnoreCase``, ``get``,
  ``containsKey``, the ``execution`` getters and the date helpers); a name outside the whitelist is refused when the
  expression is compiled, before anything is evaluated, except directly on a name (``orderBusinessLogic.getOrder(
  id)``): that is a call of a bean, which reaches only a function the integrator registered under that bean and
  method name (``beans=``, see ``beans.py``); :func:`bean_calls` lists such calls for deploy-time checks;
* reflective and engine-reaching names (``getClass``, ``class``, ``forName``, ``invoke``, ``getRuntime``,
  ``getProcessEngineServices`` …) are refused everywhere when the expression is compiled;
* the only functions are ``now()`` and ``dateTime()``;
* names starting with ``__`` are refused, and bean methods starting with ``_``.

Work is bounded: a text is at most :data:`MAX_LENGTH` characters, nesting is at most :data:`MAX_DEPTH` levels,
integers are at most about :data:`MAX_INT_DIGITS` digits and a template's result at most
:data:`MAX_RESULT_LENGTH` characters.  Evaluation is iterative wherever the tree can be wide (``a + b + c ...``,
``a.b.c ...``), so only real nesting recurses.

Semantics follow JSR-245 (EL 2.2) as implemented by JUEL, which Camunda 7 uses:

* ``/`` and ``div`` always divide as floating point (``${7 / 2}`` is ``3.5``, ``${1 / 0}`` is ``inf`` as in Java),
  unless a ``Decimal`` is involved: then the result keeps the scale of the left operand, rounded half up
  (``BigDecimal.divide(b, ROUND_HALF_UP)``);
* ``+ - * % mod`` work on integers unless a float, a ``Decimal`` or a string containing ``.``, ``e`` or ``E`` is
  involved; ``+`` only adds numbers (numeric strings are converted, other strings are an error: use a template
  such as ``Order ${id}`` to join text);
* **null in arithmetic is 0** (``${null + 1}`` is 1, ``${-null}`` is 0) and the empty string is 0 too;
* ``== !=`` compare numbers numerically, otherwise booleans as booleans, otherwise strings as strings;
  ``null == null`` is true, anything else compared with null is false; ``< > <= >=`` with null are false
  (``null <= null`` is true, as JUEL's identity check makes it);
* ``&& || ! ?:`` convert their operands to booleans: null and ``""`` are false, ``"true"`` (any case) is true, other
  strings are false, numbers, lists and maps are an error;
* ``empty x`` is true for null, ``""`` and empty lists and maps;
* ``a.b`` and ``a[b]`` are null when ``a`` or ``b`` is null, when a map has no key ``b`` or when a list index is out
  of range; calling a method on null is an error;
* a template converts each value to text as Java would: null is ``""``, booleans ``true``/``false``, floats as
  ``Double.toString`` (``1.0``, ``1.0E10``).

Deliberate differences from JUEL: integers do not wrap around at 64 bits (they are refused above
:data:`MAX_INT_DIGITS` digits instead); ``Decimal`` equality ignores the scale (``2.0 == 2.00``);
``equals``/``contains`` compare numbers by value (``1`` equals ``1.0``); numeric strings with a decimal point are
accepted where JUEL insists on an integer (``'1.5' < 2``); surrounding whitespace around a single ``${...}`` is
ignored (Camunda trims these texts too); method overloading by argument type does not exist.  Dates are in UTC.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, DecimalException, DivisionByZero, InvalidOperation, Overflow
from decimal import localcontext as _decimal_context
from typing import Any

from processes import limits
from processes.core import clock as engine_clock
from processes.errors import OrderflowError

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "DateTime",
    "JuelError",
    "bean_calls",
    "check",
    "clock",
    "evaluate",
    "is_juel",
]

MAX_LENGTH = 10_000
MAX_DEPTH = 100
MAX_INT_DIGITS = 1_000
MAX_RESULT_LENGTH = 1_000_000

_MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
_DECIMALS = Context(prec=1_000, Emax=999_999, Emin=-999_999, traps=[InvalidOperation, DivisionByZero, Overflow])


def _utc_now() -> datetime:
    return engine_clock.now().replace(tzinfo=UTC)


clock: Callable[[], datetime] = _utc_now
"""What ``now()`` and ``dateTime()`` read. Replace it (or pass ``clock=`` to :func:`evaluate`) in tests."""


class JuelError(OrderflowError):
    """A JUEL expression was refused (syntax, forbidden construct, limits) or failed while being evaluated.

    ``str(err)`` is a one-line message for a BPMN analyst.  ``position`` is the 0-based offset of the problem in
    ``expression`` (syntax and compile errors only), ``hint`` a plain-English suggestion if there is one.
    """

    status = 422
    title = "JUEL expression failed"

    def __init__(
        self, message: str, *, expression: str | None = None, position: int | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.position = position
        self.hint = hint


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class DateTime:
    """The immutable date-time that ``dateTime()`` returns (Camunda's Joda ``DateTime``), always in UTC."""

    value: datetime

    def plus(self, *, months: int = 0, delta: timedelta | None = None) -> DateTime:
        try:
            moment = self.value
            if months:
                index = moment.year * 12 + moment.month - 1 + months
                year, month = divmod(index, 12)
                day = min(moment.day, calendar.monthrange(year, month + 1)[1]) if 1 <= year <= 9999 else 0
                moment = moment.replace(year=year, month=month + 1, day=day)
            if delta is not None:
                moment = moment + delta
        except (OverflowError, ValueError):
            raise JuelError("the date is out of range (years 1 to 9999)") from None
        return DateTime(moment)

    def to_date(self) -> datetime:
        return self.value

    def __str__(self) -> str:
        # Joda's ISO format: milliseconds and "Z" for UTC.
        return self.value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Execution:
    """What ``execution`` is inside an expression: a read-only view of the caller's dict and the variables."""

    __slots__ = ("data", "variables")

    def __init__(self, data: Mapping[str, Any], variables: Mapping[str, Any]):
        self.data = data
        self.variables = variables


class _Bean:
    """A registered bean inside an expression: it can only have its registered methods called."""

    __slots__ = ("methods", "name")

    def __init__(self, name: str, methods: Mapping[str, Callable[..., Any]]):
        self.name = name
        self.methods = methods


_MISSING = object()
_NUMBER = (int, float, Decimal)
_LIST = (list, tuple)
_COLLECTION = (list, tuple, set, frozenset)
_CONTEXT_TYPES = (type(None), bool, int, float, Decimal, str, datetime, date, DateTime, list, tuple, Mapping)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _LIST):
        return "list"
    if isinstance(value, (set, frozenset)):
        return "collection"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, DateTime):
        return "DateTime"
    if isinstance(value, (datetime, date)):
        return "date"
    if isinstance(value, _Execution):
        return "execution"
    if isinstance(value, _Bean):
        return "bean"
    return "object"


def _show(value: Any) -> str:
    """A short description of a value for messages, never calling code of unknown objects."""
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"string {text!r}"
    if isinstance(value, bool) or value is None:
        return _kind(value) + ("" if value is None else f" {_to_string(value)}")
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large number"
    if isinstance(value, _NUMBER):
        return f"number {_to_string(value)}"
    kind = _kind(value)
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


# --------------------------------------------------------------------------- coercions (JSR-245, section 1.18)

_LONG_RE = re.compile(r"[+-]?[0-9]+")
_DOUBLE_RE = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _not_a_number(value: Any, purpose: str) -> JuelError:
    hint = ""
    if isinstance(value, str) and purpose == "'+'":
        hint = " (JUEL's '+' only adds numbers; to join text write a template such as 'Order ${id} for ${name}')"
    return JuelError(f"cannot use {_show(value)} as a number in {purpose}{hint}")


def _is_dot_e(value: Any) -> bool:
    return isinstance(value, str) and ("." in value or "e" in value or "E" in value)


def _is_floating(value: Any) -> bool:
    return isinstance(value, float) or _is_dot_e(value)


def _to_long(value: Any, purpose: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _not_a_number(value, purpose)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise _not_a_number(value, purpose)
    if isinstance(value, Decimal) and not value.is_finite():
        raise _not_a_number(value, purpose)
    if isinstance(value, (float, Decimal)):
        return _check_int(int(value))
    if isinstance(value, str):
        if value == "":
            return 0
        if _LONG_RE.fullmatch(value):
            try:
                return _check_int(int(value))
            except ValueError:
                raise JuelError("number is too large") from None
    raise _not_a_number(value, purpose)


def _to_double(value: Any, purpose: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise _not_a_number(value, purpose)
    if isinstance(value, _NUMBER):
        try:
            return float(value)
        except OverflowError:
            raise JuelError("number is too large") from None
    if isinstance(value, str):
        if value == "":
            return 0.0
        if _DOUBLE_RE.fullmatch(value):
            return float(value)
    raise _not_a_number(value, purpose)


def _to_decimal(value: Any, purpose: str) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise _not_a_number(value, purpose)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))  # BigDecimal.valueOf(double): the shortest decimal text, not the binary value
    elif isinstance(value, str) and value == "":
        result = Decimal(0)
    elif isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        result = Decimal(value)
    else:
        raise _not_a_number(value, purpose)
    if not result.is_finite():
        raise _not_a_number(value, purpose)
    return result


def _to_boolean(value: Any, purpose: str) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"  # Boolean.valueOf
    raise JuelError(f"cannot use {_show(value)} as a boolean in {purpose} (only true/false, 'true'/'false' or null)")


def _format_double(value: float) -> str:
    """Java's ``Double.toString``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)  # always fixed notation with a '.' in this range
    exact = Decimal(repr(value))
    digits = "".join(str(d) for d in exact.as_tuple().digits).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exact.adjusted()}"


def _to_string(value: Any) -> str:
    """JUEL's coercion to String (templates, string method arguments, string comparisons)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            raise JuelError("number is too large to convert to text") from None
    if isinstance(value, float):
        return _format_double(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (DateTime, datetime, date)):
        return str(value) if isinstance(value, DateTime) else value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _COLLECTION):
        return "[" + ", ".join(_to_inner_string(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_to_inner_string(k)}={_to_inner_string(v)}" for k, v in value.items()) + "}"
    raise JuelError(f"cannot convert {_show(value)} to text")


def _to_inner_string(value: Any) -> str:
    return "null" if value is None else _to_string(value)


def _check_int(value: int) -> int:
    if value.bit_length() > _MAX_INT_BITS:
        raise JuelError(f"number is too large (more than {MAX_INT_DIGITS} digits)")
    return value


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, DateTime):
        return value.value
    if isinstance(value, (datetime, date)):
        return value
    return None


# --------------------------------------------------------------------------- operators


def _arithmetic(op: str, left: Any, right: Any) -> Any:
    """``+ - *`` (EL 1.7.1)."""
    if left is None and right is None:
        return 0
    purpose = f"'{op}'"
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        a, b = _to_decimal(left, purpose), _to_decimal(right, purpose)
        try:
            with _decimal_context(_DECIMALS):
                return a + b if op == "+" else a - b if op == "-" else a * b
        except DecimalException:
            raise JuelError("decimal number is out of range") from None
    if _is_floating(left) or _is_floating(right):
        x, y = _to_double(left, purpose), _to_double(right, purpose)
        return x + y if op == "+" else x - y if op == "-" else x * y
    a, b = _to_long(left, purpose), _to_long(right, purpose)
    return _check_int(a + b if op == "+" else a - b if op == "-" else a * b)


def _divide(left: Any, right: Any) -> Any:
    """``/`` and ``div`` (EL 1.7.2): floating point, or BigDecimal with the left operand's scale."""
    if left is None and right is None:
        return 0
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        a, b = _to_decimal(left, "'/'"), _to_decimal(right, "'/'")
        if b == 0:
            raise JuelError("division by zero")
        try:
            with _decimal_context(_DECIMALS):
                return (a / b).quantize(Decimal(1).scaleb(a.as_tuple().exponent), rounding=ROUND_HALF_UP)
        except DecimalException:
            raise JuelError("decimal number is out of range") from None
    x, y = _to_double(left, "'/'"), _to_double(right, "'/'")
    if y == 0:  # Java: Infinity or NaN, not an exception
        if x == 0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def _modulo(left: Any, right: Any) -> Any:
    """``%`` and ``mod`` (EL 1.7.3), with Java's sign rule (the result has the sign of the dividend)."""
    if left is None and right is None:
        return 0
    if isinstance(left, Decimal) or isinstance(right, Decimal) or _is_floating(left) or _is_floating(right):
        x, y = _to_double(left, "'%'"), _to_double(right, "'%'")
        try:
            return math.fmod(x, y)
        except ValueError:
            return math.nan
    a, b = _to_long(left, "'%'"), _to_long(right, "'%'")
    if b == 0:
        raise JuelError("division by zero")
    rest = abs(a) % abs(b)
    return -rest if a < 0 else rest


def _negate(value: Any) -> Any:
    """Unary ``-`` (EL 1.7.4)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _not_a_number(value, "'-'")
    if isinstance(value, Decimal):
        return value.copy_negate()
    if isinstance(value, _NUMBER):
        return -value
    if isinstance(value, str):
        return -_to_double(value, "'-'") if _is_dot_e(value) else -_to_long(value, "'-'")
    raise _not_a_number(value, "'-'")


def _is_empty(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    if isinstance(value, (_COLLECTION, Mapping)):
        return len(value) == 0
    return False


def _numeric_kind(left: Any, right: Any) -> str | None:
    """Which numeric type a comparison of the two values uses, or None when neither is a number."""
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return "decimal"
    if isinstance(left, float) or isinstance(right, float):
        return "double"
    left_int = isinstance(left, int) and not isinstance(left, bool)
    right_int = isinstance(right, int) and not isinstance(right, bool)
    if left_int or right_int:
        # Lenient: JUEL would refuse '1.5' here; compare it as a float instead.
        return "double" if _is_dot_e(left) or _is_dot_e(right) else "long"
    return None


def _coerce_pair(kind: str, left: Any, right: Any, purpose: str) -> tuple[Any, Any]:
    convert = {"decimal": _to_decimal, "double": _to_double, "long": _to_long}[kind]
    return convert(left, purpose), convert(right, purpose)


def _equals(left: Any, right: Any) -> bool:
    """``==`` (EL 1.8.2)."""
    if left is right:
        return True
    if left is None or right is None:
        return False
    kind = _numeric_kind(left, right)
    if kind is not None:
        a, b = _coerce_pair(kind, left, right, "'=='")
        return a == b
    if isinstance(left, bool) or isinstance(right, bool):
        return _to_boolean(left, "'=='") == _to_boolean(right, "'=='")
    if isinstance(left, str) or isinstance(right, str):
        return _to_string(left) == _to_string(right)
    return _same(left, right)


def _same(left: Any, right: Any) -> bool:
    """Java's ``equals``: no coercion between kinds (numbers compare by value)."""
    if left is right:
        return True
    if left is None or right is None:
        return False
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, _NUMBER) and isinstance(right, _NUMBER):
        return left == right
    left_date, right_date = _as_datetime(left), _as_datetime(right)
    if left_date is not None or right_date is not None:
        if left_date is None or right_date is None or type(left_date) is not type(right_date):
            return False
        try:
            return left_date == right_date
        except TypeError:
            return False
    if isinstance(left, _LIST) and isinstance(right, _LIST):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if len(left) != len(right):
            return False
        return all(key in right and _same(value, right[key]) for key, value in left.items())
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, _Execution) or isinstance(right, _Execution):
        return False
    return type(left) is type(right) and left == right


def _compare(op: str, left: Any, right: Any) -> bool:
    """``< > <= >=`` (EL 1.8.1)."""
    if left is right:
        return op in ("<=", ">=")
    if left is None or right is None:
        return False
    kind = _numeric_kind(left, right)
    if kind is not None:
        a, b = _coerce_pair(kind, left, right, f"'{op}'")
    elif isinstance(left, str) or isinstance(right, str):
        a, b = _to_string(left), _to_string(right)
    elif isinstance(left, bool) and isinstance(right, bool):
        a, b = int(left), int(right)
    else:
        a, b = _as_datetime(left), _as_datetime(right)
        if a is None or b is None:
            raise JuelError(f"cannot compare {_show(left)} with {_show(right)} using '{op}'")
        if isinstance(a, datetime) != isinstance(b, datetime):
            raise JuelError(f"cannot compare a date with a date-time using '{op}'")
        if isinstance(a, datetime) and ((a.utcoffset() is None) != (b.utcoffset() is None)):
            raise JuelError(f"cannot compare a date-time with a time zone with one without using '{op}'")
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    return a >= b


# --------------------------------------------------------------------------- methods and functions

_JAVA_WHITESPACE = "".join(chr(code) for code in range(33))  # String.trim() removes every char <= ' '


def _text_argument(value: Any, method: str) -> str:
    if value is None:
        raise JuelError(f"the argument of '{method}' must not be null")
    return _to_string(value)


def _list_get(items: Any, index: Any) -> Any:
    position = _to_index(index)
    if not 0 <= position < len(items):
        raise JuelError(f"index {position} is out of range for a list of size {len(items)}")
    return items[position]


def _map_get(mapping: Mapping[Any, Any], key: Any) -> Any:
    _check_key(key)
    try:
        return mapping.get(key)
    except TypeError:
        raise JuelError(f"cannot use {_show(key)} as a map key") from None


def _has_key(mapping: Mapping[Any, Any], key: Any) -> bool:
    try:
        return key in mapping
    except TypeError:
        raise JuelError(f"cannot use {_show(key)} as a map key") from None


def _date_argument(value: Any, method: str) -> datetime:
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        raise JuelError(f"the argument of '{method}' must be a date-time, not {_show(value)}")
    return moment


def _shift(unit: str, sign: int) -> Callable[[DateTime, Any], DateTime]:
    def apply(moment: DateTime, amount: Any) -> DateTime:
        count = sign * _to_long(amount, f"'{unit}'")
        if unit == "Years":
            return moment.plus(months=12 * count)
        if unit == "Months":
            return moment.plus(months=count)
        try:
            delta = timedelta(**{unit.lower(): count})
        except OverflowError:
            raise JuelError("the date is out of range (years 1 to 9999)") from None
        return moment.plus(delta=delta)

    return apply


_Method = tuple[int, Callable[..., Any]]

_STRING_METHODS: dict[str, _Method] = {
    "size": (0, len),
    "length": (0, len),
    "isEmpty": (0, lambda s: len(s) == 0),
    "contains": (1, lambda s, x: _text_argument(x, "contains") in s),
    "startsWith": (1, lambda s, x: s.startswith(_text_argument(x, "startsWith"))),
    "endsWith": (1, lambda s, x: s.endswith(_text_argument(x, "endsWith"))),
    "equals": (1, _same),
    "equalsIgnoreCase": (1, lambda s, x: x is not None and s.lower() == _to_string(x).lower()),
    "toUpperCase": (0, str.upper),
    "toLowerCase": (0, str.lower),
    "trim": (0, lambda s: s.strip(_JAVA_WHITESPACE)),
}
_LIST_METHODS: dict[str, _Method] = {
    "size": (0, len),
    "isEmpty": (0, lambda items: len(items) == 0),
    "contains": (1, lambda items, x: any(_same(item, x) for item in items)),
    "equals": (1, _same),
    "get": (1, _list_get),
}
_SET_METHODS: dict[str, _Method] = {name: _LIST_METHODS[name] for name in ("size", "isEmpty", "contains", "equals")}
_MAP_METHODS: dict[str, _Method] = {
    "size": (0, len),
    "isEmpty": (0, lambda mapping: len(mapping) == 0),
    "containsKey": (1, lambda mapping, key: _map_get(mapping, key) is not None or _has_key(mapping, key)),
    "get": (1, _map_get),
    "equals": (1, _same),
}
_VALUE_METHODS: dict[str, _Method] = {"equals": (1, _same)}
_DATETIME_METHODS: dict[str, _Method] = {
    **{
        f"{verb}{unit}": (1, _shift(unit, sign))
        for verb, sign in (("plus", 1), ("minus", -1))
        for unit in ("Years", "Months", "Weeks", "Days", "Hours", "Minutes", "Seconds")
    },
    "toDate": (0, DateTime.to_date),
    "toString": (0, str),
    "equals": (1, _same),
    "isBefore": (1, lambda moment, other: moment.value < _date_argument(other, "isBefore")),
    "isAfter": (1, lambda moment, other: moment.value > _date_argument(other, "isAfter")),
}

# Getters of Camunda's DelegateExecution and the key of the caller's dict each one reads.
_EXECUTION_GETTERS = {
    "getProcessInstanceId": "processInstanceId",
    "getBusinessKey": "businessKey",
    "getProcessBusinessKey": "businessKey",
    "getCurrentActivityId": "activityId",
    "getCurrentActivityName": "activityName",
    "getActivityInstanceId": "activityInstanceId",
    "getProcessDefinitionId": "processDefinitionId",
    "getId": "id",
    "getTenantId": "tenantId",
    "getEventName": "eventName",
}
# The same, read as bean properties: execution.processInstanceId.
_EXECUTION_PROPERTIES = {name[3].lower() + name[4:]: key for name, key in _EXECUTION_GETTERS.items()}


def _variable_name(value: Any) -> str:
    if not isinstance(value, str):
        raise JuelError(f"a variable name must be a string, not {_show(value)}")
    return value


def _getter(key: str) -> Callable[[_Execution], Any]:
    return lambda execution: execution.data.get(key)


_EXECUTION_METHODS: dict[str, _Method] = {
    "getVariable": (1, lambda execution, name: execution.variables.get(_variable_name(name))),
    "getVariableLocal": (1, lambda execution, name: execution.variables.get(_variable_name(name))),
    "hasVariable": (1, lambda execution, name: _variable_name(name) in execution.variables),
    **{name: (0, _getter(key)) for name, key in _EXECUTION_GETTERS.items()},
}

_MUTATORS = frozenset(
    f"{verb}{scope}"
    for verb in ("set", "remove")
    for scope in ("Variable", "VariableLocal", "Variables", "VariablesLocal")
) | {"setBusinessKey", "setProcessBusinessKey"}

_ALL_METHODS = frozenset().union(
    _STRING_METHODS, _LIST_METHODS, _MAP_METHODS, _VALUE_METHODS, _DATETIME_METHODS, _EXECUTION_METHODS
)

# Names that reach Java's reflection, the runtime or the process engine from an expression (the classic EL escapes).
# Refused in every position, also as bean methods, so a diagram written for an escape never even compiles.
_REFLECTIVE = frozenset(
    {
        "getClass", "class", "forName", "getClassLoader", "loadClass", "getSuperclass", "getInterfaces",
        "getMethod", "getMethods", "getDeclaredMethod", "getDeclaredMethods", "getField", "getFields",
        "getDeclaredField", "getDeclaredFields", "getConstructor", "getConstructors", "getDeclaredConstructor",
        "getDeclaredConstructors", "newInstance", "invoke", "setAccessible", "getModule", "getRuntime", "exec",
        "getenv", "exit", "halt", "load", "loadLibrary", "getProcessEngine", "getProcessEngineServices",
        "getRuntimeService", "getRepositoryService", "getTaskService", "getManagementService",
        "getIdentityService", "getHistoryService", "getFormService", "getAuthorizationService",
        "getDecisionService", "getExternalTaskService", "getFilterService", "getCaseService", "getBpmnModelInstance",
        "getBpmnModelElementInstance", "wait", "notify", "notifyAll", "finalize",
    }
)  # fmt: skip

_FUNCTIONS = {"now": 0, "dateTime": 0}


def _methods_of(value: Any) -> dict[str, _Method]:
    if isinstance(value, str):
        return _STRING_METHODS
    if isinstance(value, _LIST):
        return _LIST_METHODS
    if isinstance(value, (set, frozenset)):
        return _SET_METHODS
    if isinstance(value, Mapping):
        return _MAP_METHODS
    if isinstance(value, DateTime):
        return _DATETIME_METHODS
    if isinstance(value, _Execution):
        return _EXECUTION_METHODS
    if isinstance(value, (bool, int, float, Decimal, datetime, date)):
        return _VALUE_METHODS
    return {}


def _call_method(value: Any, name: str, args: list[Any]) -> Any:
    if value is None:
        raise JuelError(f"cannot call method '{name}' on null")
    if isinstance(value, _Bean):
        return _call_bean(value, name, args)
    method = _methods_of(value).get(name)
    if method is None:
        hint = ""
        if name in _DATETIME_METHODS and isinstance(value, (datetime, date)):
            hint = " (date arithmetic needs dateTime(), e.g. dateTime().plusDays(2))"
        raise JuelError(f"method '{name}' is not available on {_show(value)}{hint}")
    arity, function = method
    if len(args) != arity:
        plural = "" if arity == 1 else "s"
        raise JuelError(f"method '{name}' takes {arity} argument{plural}, not {len(args)}")
    return function(value, *args)


def _bean_argument(value: Any, bean: str) -> Any:
    if isinstance(value, _Bean):
        raise JuelError(f"bean '{value.name}' cannot be passed to bean '{bean}'")
    return value.data if isinstance(value, _Execution) else value


def _bean_result(value: Any, where: str, depth: int = 0) -> Any:
    """What a bean returned, as plain data an expression may read; anything else is refused, so an expression never
    reaches into an object's attributes."""
    if depth > MAX_DEPTH:
        raise JuelError(f"{where} returned data nested too deeply")
    if value is None or isinstance(value, (bool, int, float, Decimal, str, datetime, date, DateTime)):
        return value
    if isinstance(value, _LIST):
        return [_bean_result(item, where, depth + 1) for item in value]
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise JuelError(f"{where} returned a map with a key that is not text ({type(key).__name__})")
            plain[key] = _bean_result(item, where, depth + 1)
        return plain
    raise JuelError(
        f"{where} returned a {type(value).__name__}; a bean must return plain data (null, booleans, numbers, text, "
        "dates, lists or maps of those)"
    )


def _call_bean(bean: _Bean, name: str, args: list[Any]) -> Any:
    function = bean.methods.get(name)
    where = f"bean method {bean.name}.{name}()"
    if function is None:
        known = ", ".join(sorted(bean.methods)) or "none"
        raise JuelError(f"bean '{bean.name}' has no method '{name}' registered (registered: {known})")
    try:
        result = function(*[_bean_argument(arg, bean.name) for arg in args])
    except JuelError:
        raise
    except Exception as error:  # the integrator's code: its failure is this expression's failure, never a crash
        raise JuelError(f"{where} failed: {error.__class__.__name__}: {error}") from error
    return _bean_result(result, where)


def _check_key(key: Any) -> None:
    if isinstance(key, str) and key.startswith("__"):
        raise JuelError(f"property {key!r}: names starting with '__' are not allowed in expressions")


def _to_index(key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, float, Decimal, str)):
        raise JuelError(f"cannot use {_show(key)} as a list index")
    if isinstance(key, str) and not _LONG_RE.fullmatch(key.strip()):
        raise JuelError(f"cannot use {_show(key)} as a list index")
    return _to_long(key.strip() if isinstance(key, str) else key, "a list index")


def _get_property(value: Any, key: Any, *, dotted: bool = False) -> Any:
    """``value.key`` (`dotted`) and ``value[key]`` (EL 1.6)."""
    if value is None or key is None:
        return None
    _check_key(key)
    if isinstance(value, Mapping):
        return _map_get(value, key)
    if isinstance(value, _LIST) and not dotted:
        position = _to_index(key)
        return value[position] if 0 <= position < len(value) else None
    if isinstance(value, _Execution) and isinstance(key, str) and key in _EXECUTION_PROPERTIES:
        return value.data.get(_EXECUTION_PROPERTIES[key])
    hint = ""
    if isinstance(key, str) and key in _methods_of(value):
        hint = f" (did you mean the method {key}()?)"
    raise JuelError(f"property {_to_inner_string(key)!r} not found on {_show(value)}{hint}")


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class _Name:
    name: str


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Property:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    key: Any


@dataclass(frozen=True, slots=True)
class _MethodCall:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Chain:
    base: Any
    suffixes: tuple[_Property | _Index | _MethodCall, ...]


@dataclass(frozen=True, slots=True)
class _Unary:
    ops: tuple[str, ...]  # outermost first: `!-x` is ("!", "-")
    operand: Any


@dataclass(frozen=True, slots=True)
class _Binary:
    ops: tuple[str, ...]  # all of one precedence level, applied left to right
    operands: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Ternary:
    condition: Any
    then: Any
    otherwise: Any


@dataclass(frozen=True, slots=True)
class _Compiled:
    kind: str  # "text", "single" or "template"
    parts: tuple[Any, ...]  # text: (str,); single: (node,); template: str and nodes
    bean_calls: tuple[tuple[str, str], ...] = ()  # (bean, method) of calls no whitelist knows


# --------------------------------------------------------------------------- tokens

_KEYWORDS = frozenset(
    {"true", "false", "null", "empty", "not", "and", "or", "div", "mod", "eq", "ne", "lt", "gt", "le", "ge"}
    | {"instanceof"}
)
_TWO_CHAR = ("==", "!=", "<=", ">=", "&&", "||")
_ONE_CHAR = frozenset("()[].,?:!<>+-*/%")
_DIGITS = frozenset("0123456789")
_WHITESPACE = frozenset(" \t\r\n")
_BAD_CHARS = {
    "=": "use '==' (or 'eq') to compare; expressions cannot assign values",
    "&": "use '&&' (or 'and') for a logical and",
    "|": "use '||' (or 'or') for a logical or",
    "{": "map and set literals are not supported",
    ";": "an expression is a single value; ';' is not supported",
}

# Binary operators: canonical name and precedence level (higher binds tighter).
_BINARY = {
    "||": ("or", 1),
    "or": ("or", 1),
    "&&": ("and", 2),
    "and": ("and", 2),
    "==": ("==", 3),
    "eq": ("==", 3),
    "!=": ("!=", 3),
    "ne": ("!=", 3),
    "<": ("<", 4),
    "lt": ("<", 4),
    ">": (">", 4),
    "gt": (">", 4),
    "<=": ("<=", 4),
    "le": ("<=", 4),
    ">=": (">=", 4),
    "ge": (">=", 4),
    "+": ("+", 5),
    "-": ("-", 5),
    "*": ("*", 6),
    "/": ("/", 6),
    "div": ("/", 6),
    "%": ("%", 6),
    "mod": ("%", 6),
}
_LEVEL = {name: level for name, level in _BINARY.values()}
_UNARY = {"-": "-", "!": "!", "not": "!", "empty": "empty"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "name", "keyword", "op", "end"
    value: Any
    pos: int


def _snippet(text: str, pos: int) -> str:
    near = text[pos : pos + 20]
    return repr(near + "..." if pos + 20 < len(text) else near)


def _syntax_error(text: str, pos: int, what: str, hint: str) -> JuelError:
    where = f" (near {_snippet(text, pos)})" if pos < len(text) else " (at the end)"
    return JuelError(
        f"syntax error at position {pos}{where}: {what}. Hint: {hint}", expression=text, position=pos, hint=hint
    )


def _refused(text: str, pos: int, what: str, hint: str | None = None) -> JuelError:
    suffix = f". Hint: {hint}" if hint else ""
    return JuelError(f"{what} (at position {pos}){suffix}", expression=text, position=pos, hint=hint)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "'}'" if token.value == "}" else "the end of the text"
    if token.kind == "string":
        return "string " + _snippet(token.value, 0)
    if token.kind == "number":
        return f"number {_to_string(token.value)}"
    return repr(token.value)


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char in "_$"


def _is_name_part(char: str) -> bool:
    return char.isalpha() or char in _DIGITS or char in "_$"


def _scan(text: str, start: int, opening: int) -> tuple[list[_Token], int]:
    """Tokens of the expression whose body starts at `start`, up to and including its closing '}'."""
    tokens: list[_Token] = []
    n = len(text)
    i = start
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            raise _syntax_error(
                text, opening, "this expression is not closed", "every '${' or '#{' needs a closing '}'"
            )
        char = text[i]
        if char == "}":
            tokens.append(_Token("end", "}", i))
            return tokens, i + 1
        if char in _DIGITS or (char == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _scan_number(text, i, tokens)
        elif char in "'\"":
            i = _scan_string(text, i, tokens)
        elif _is_name_start(char):
            j = i + 1
            while j < n and _is_name_part(text[j]):
                j += 1
            word = text[i:j]
            tokens.append(_Token("keyword" if word in _KEYWORDS else "name", word, i))
            i = j
        elif text.startswith(_TWO_CHAR, i):
            tokens.append(_Token("op", text[i : i + 2], i))
            i += 2
        elif char in _ONE_CHAR:
            tokens.append(_Token("op", char, i))
            i += 1
        elif char in _BAD_CHARS:
            raise _syntax_error(text, i, f"'{char}' is not an operator", _BAD_CHARS[char])
        else:
            raise _syntax_error(
                text, i, f"unexpected character {char!r}", "remove it or put the text inside quotes: 'like this'"
            )


def _scan_number(text: str, i: int, tokens: list[_Token]) -> int:
    n = len(text)
    j = i
    while j < n and text[j] in _DIGITS:
        j += 1
    floating = False
    if j < n and text[j] == ".":
        floating = True
        j += 1
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k] in _DIGITS:
            floating = True
            j = k
            while j < n and text[j] in _DIGITS:
                j += 1
    literal = text[i:j]
    if len(literal) > MAX_INT_DIGITS:
        raise _refused(text, i, f"number literal is too long (more than {MAX_INT_DIGITS} characters)")
    tokens.append(_Token("number", float(literal) if floating else int(literal), i))
    return j


def _scan_string(text: str, i: int, tokens: list[_Token]) -> int:
    quote = text[i]
    n = len(text)
    chars: list[str] = []
    j = i + 1
    while j < n:
        char = text[j]
        if char == quote:
            tokens.append(_Token("string", "".join(chars), i))
            return j + 1
        if char == "\\":
            escaped = text[j + 1] if j + 1 < n else ""
            if escaped not in ("\\", "'", '"'):
                raise _syntax_error(
                    text,
                    j,
                    f"invalid escape sequence '\\{escaped}' in a string",
                    "inside quotes only \\' and \\\" and \\\\ are escapes",
                )
            chars.append(escaped)
            j += 2
            continue
        chars.append(char)
        j += 1
    raise _syntax_error(text, i, "this string is not closed", f"end the string with a matching {quote}")


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent for nesting, loops for operator chains, so Python's stack depth follows MAX_DEPTH."""

    def __init__(self, text: str, tokens: list[_Token]):
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.bean_calls: list[tuple[str, str]] = []

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_op(self, symbol: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "op" and token.value == symbol

    def error(self, token: _Token, what: str, hint: str) -> JuelError:
        return _syntax_error(self.text, token.pos, what, hint)

    def expect(self, symbol: str, hint: str) -> None:
        token = self.peek()
        if not (token.kind == "op" and token.value == symbol):
            raise self.error(token, f"expected '{symbol}' but found {_describe(token)}", hint)
        self.advance()

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise self.error(self.peek(), "the expression is empty", "write an expression between '${' and '}'")
        node = self.expression()
        token = self.peek()
        if token.kind == "keyword" and token.value == "instanceof":
            raise self.error(token, "'instanceof' is not supported", "compare values with '==' instead")
        if token.kind != "end":
            raise self.error(
                token,
                f"unexpected {_describe(token)} after a complete expression",
                "two values need an operator between them, such as '&&', '==' or '+'",
            )
        return node

    def enter(self, token: _Token, levels: int) -> None:
        """`levels` more levels of nesting inside the current expression (the outermost one is level 0)."""
        if self.depth - 1 + levels > MAX_DEPTH:
            raise _refused(self.text, token.pos, f"expression is nested too deeply (more than {MAX_DEPTH} levels)")

    def expression(self) -> Any:
        """expression := binary ('?' expression ':' expression)?"""
        if self.depth:
            self.enter(self.peek(), 1)
        self.depth += 1
        node = self.binary()
        if self.is_op("?"):
            self.advance()
            then = self.expression()
            self.expect(":", "a conditional needs both branches: condition ? valueIfTrue : valueIfFalse")
            otherwise = self.expression()
            node = _Ternary(node, then, otherwise)
        self.depth -= 1
        return node

    def binary_operator(self) -> tuple[str, int] | None:
        token = self.peek()
        if token.kind in ("op", "keyword"):
            return _BINARY.get(token.value)
        return None

    def binary(self) -> Any:
        """Operator precedence by a shunting yard; chains of one level become a single _Binary node."""
        operands = [self.unary()]
        pending: list[tuple[str, int]] = []

        def reduce() -> None:
            op, level = pending.pop()
            right = operands.pop()
            left = operands.pop()
            if isinstance(left, _Binary) and _LEVEL[left.ops[0]] == level:
                operands.append(_Binary((*left.ops, op), (*left.operands, right)))
            else:
                operands.append(_Binary((op,), (left, right)))

        while (operator := self.binary_operator()) is not None:
            while pending and pending[-1][1] >= operator[1]:
                reduce()
            pending.append(operator)
            self.advance()
            operands.append(self.unary())
        while pending:
            reduce()
        return operands[0]

    def unary(self) -> Any:
        """unary := ('-' | '!' | 'not' | 'empty')* postfix"""
        ops: list[str] = []
        first = self.peek()
        while (token := self.peek()).kind in ("op", "keyword") and token.value in _UNARY:
            ops.append(_UNARY[token.value])
            self.advance()
        if ops:
            self.enter(first, len(ops))
        operand = self.postfix()
        if ops == ["-"] and isinstance(operand, _Literal) and isinstance(operand.value, (int, float)):
            return _Literal(-operand.value)
        return _Unary(tuple(ops), operand) if ops else operand

    def postfix(self) -> Any:
        """postfix := primary ('.' name ('(' args ')')? | '[' expression ']')*"""
        base = self.primary()
        suffixes: list[_Property | _Index | _MethodCall] = []
        while True:
            if self.is_op("."):
                self.advance()
                token = self.peek()
                if token.kind != "name":
                    what = f"expected a property or method name after '.' but found {_describe(token)}"
                    hint = "write a name after '.', or a['key'] for keys that are reserved words or contain symbols"
                    if token.kind == "keyword":
                        hint = f"'{token.value}' is a reserved word; write a['{token.value}'] instead"
                    raise self.error(token, what, hint)
                self.advance()
                self.check_name(token)
                if self.is_op("("):
                    # Only `name.method(` can be a bean call: beans are names, never values inside values.
                    bean = base.name if isinstance(base, _Name) and not suffixes else None
                    self.check_method(token, bean)
                    suffixes.append(_MethodCall(token.value, self.arguments()))
                else:
                    if token.value in _REFLECTIVE:  # `x.class`, as Java's EL would read getClass()
                        raise _refused(self.text, token.pos, f"property '{token.value}' is not allowed in expressions")
                    suffixes.append(_Property(token.value))
            elif self.is_op("["):
                self.advance()
                key = self.expression()
                self.expect("]", "close the index with ']'")
                suffixes.append(_Index(key))
            else:
                break
        return _Chain(base, tuple(suffixes)) if suffixes else base

    def primary(self) -> Any:
        """primary := literal | name | name '(' args ')' | '(' expression ')'"""
        token = self.peek()
        if token.kind in ("number", "string"):
            self.advance()
            return _Literal(token.value)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            self.advance()
            return _Literal({"true": True, "false": False, "null": None}[token.value])
        if token.kind == "name":
            self.advance()
            self.check_name(token)
            if self.is_op("("):
                arity = _FUNCTIONS.get(token.value)
                if arity is None:
                    raise _refused(
                        self.text,
                        token.pos,
                        f"function '{token.value}' is not available",
                        "the only functions are now() and dateTime()",
                    )
                args = self.arguments()
                if len(args) != arity:
                    raise _refused(self.text, token.pos, f"function '{token.value}' takes no arguments")
                return _Function(token.value, args)
            return _Name(token.value)
        if self.is_op("("):
            self.advance()
            node = self.expression()
            self.expect(")", "add the missing ')'")
            return node
        if token.kind == "end":
            raise self.error(
                token,
                "the expression ends too early",
                "an operator must be followed by a value: a number, a 'string', a variable or '('",
            )
        if token.kind == "keyword" and token.value == "instanceof":
            raise self.error(token, "'instanceof' is not supported", "compare values with '==' instead")
        raise self.error(
            token,
            f"unexpected {_describe(token)}",
            "a value is expected here: a number, a 'string', true, false, null, a variable or '('",
        )

    def arguments(self) -> tuple[Any, ...]:
        self.expect("(", "arguments are written in parentheses")
        args: list[Any] = []
        if self.is_op(")"):
            self.advance()
            return ()
        while True:
            args.append(self.expression())
            if self.is_op(","):
                self.advance()
                continue
            self.expect(")", "separate arguments with ',' and close the call with ')'")
            return tuple(args)

    def check_name(self, token: _Token) -> None:
        if token.value.startswith("__"):
            raise _refused(self.text, token.pos, f"name {token.value!r}: names starting with '__' are not allowed")

    def check_method(self, token: _Token, bean: str | None = None) -> None:
        name = token.value
        if name in _REFLECTIVE:
            raise _refused(
                self.text,
                token.pos,
                f"method '{name}' is not allowed in expressions",
                "expressions cannot reach classes, the runtime or the engine",
            )
        if name in _MUTATORS:
            raise _refused(
                self.text,
                token.pos,
                f"'{name}' is not supported: expressions must not change variables here",
                "set variables with an output mapping or a script task",
            )
        if name in _ALL_METHODS:
            return
        if bean is not None and bean != "execution" and not name.startswith("_"):
            self.bean_calls.append((bean, name))
            return
        raise _refused(self.text, token.pos, f"method '{name}' is not allowed in expressions")


# --------------------------------------------------------------------------- compiling texts

_START = re.compile(r"\\?[$#]\{")


def is_juel(text: str) -> bool:
    """Whether `text` contains a ``${...}`` or ``#{...}`` expression (``\\${`` is an escaped literal)."""
    if not isinstance(text, str):
        return False
    return any(not match.group().startswith("\\") for match in _START.finditer(text))


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> _Compiled:
    if len(text) > MAX_LENGTH:
        raise JuelError(
            f"expression is too long ({len(text):,} characters; the limit is {MAX_LENGTH:,})", expression=text
        )
    parts: list[Any] = []
    literal: list[str] = []
    calls: list[tuple[str, str]] = []
    position = 0
    while (match := _START.search(text, position)) is not None:
        literal.append(text[position : match.start()])
        if match.group().startswith("\\"):
            literal.append(match.group()[1:])  # \${ is the literal text ${
            position = match.end()
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        tokens, position = _scan(text, match.end(), match.start())
        parser = _Parser(text, tokens)
        parts.append(parser.parse())
        calls.extend(parser.bean_calls)
    literal.append(text[position:])
    if any(literal):
        parts.append("".join(literal))
    nodes = [part for part in parts if not isinstance(part, str)]
    if not nodes:
        return _Compiled("text", ("".join(parts),))
    if len(nodes) == 1 and all(part.strip() == "" for part in parts if isinstance(part, str)):
        return _Compiled("single", (nodes[0],), tuple(calls))
    return _Compiled("template", tuple(parts), tuple(calls))


def check(text: str) -> None:
    """Raise JuelError if `text` has a syntax error or a forbidden construct; nothing is evaluated."""
    if not isinstance(text, str):
        raise TypeError(f"a JUEL text must be a str, not {type(text).__name__}")
    try:
        _compile(text)
    except RecursionError:
        raise JuelError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", expression=text) from None


def bean_calls(text: str) -> list[tuple[str, str]]:
    """The bean calls in `text` as (bean, method), in order, each once: calls such as
    ``orderBusinessLogic.getOrder(id)`` whose method no built-in type has. Raises JuelError like :func:`check`."""
    check(text)
    return list(dict.fromkeys(_compile(text).bean_calls))


# --------------------------------------------------------------------------- evaluation


class _Evaluator:
    __slots__ = ("beans", "budget", "clock", "names", "now", "variables")

    def __init__(
        self,
        variables: Mapping[str, Any],
        names: dict[str, Any],
        clock: Callable[[], datetime],
        beans: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
    ):
        self.variables = variables
        self.names = names
        self.clock = clock
        self.beans = beans or {}
        self.now: datetime | None = None

    def current_time(self) -> datetime:
        if self.now is None:  # one reading per evaluation, so now() == now()
            moment = self.clock()
            if not isinstance(moment, datetime):
                raise TypeError(f"the clock must return a datetime, not {type(moment).__name__}")
            self.now = moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)
        return self.now

    def lookup(self, name: str, method: str | None = None) -> Any:
        """A name's value: context names, then variables, then beans (as Camunda resolves them). `method` is the
        method called on it, if any, for a clear message when a bean is not registered."""
        value = self.names.get(name, _MISSING)
        if value is _MISSING and name in self.variables:
            value = self.variables[name]
        if value is _MISSING and name in self.beans:
            value = _Bean(name, self.beans[name])
        if value is _MISSING and method is not None and method not in _ALL_METHODS:
            raise JuelError(
                f"bean '{name}' is not registered, so {name}.{method}() cannot be called: register a bean "
                f"'{name}' with a method '{method}' (ORDERFLOW_BEANS or the orderflow.beans entry points)"
            )
        if value is _MISSING:
            hint = ""
            if name in ("True", "False", "None", "TRUE", "FALSE", "NULL", "Null", "nil"):
                hint = " (JUEL literals are lower case: true, false, null)"
            raise JuelError(f"variable '{name}' is not defined{hint}")
        return value

    def value(self, node: Any) -> Any:
        match node:
            case _Literal(value):
                return value
            case _Name(name):
                return self.lookup(name)
            case _Chain(base, suffixes):
                if isinstance(base, _Name) and isinstance(suffixes[0], _MethodCall):
                    current = self.lookup(base.name, suffixes[0].name)
                else:
                    current = self.value(base)
                for suffix in suffixes:
                    match suffix:
                        case _Property(name):
                            current = _get_property(current, name, dotted=True)
                        case _Index(key):
                            current = _get_property(current, self.value(key))
                        case _MethodCall(name, args):
                            self.budget.tick()
                            current = _call_method(current, name, [self.value(arg) for arg in args])
                return current
            case _Unary(ops, operand):
                current = self.value(operand)
                for op in reversed(ops):
                    if op == "-":
                        current = _negate(current)
                    elif op == "!":
                        current = not _to_boolean(current, "'!'")
                    else:
                        current = _is_empty(current)
                return current
            case _Binary(ops, operands):
                return self.binary(ops, operands)
            case _Ternary(condition, then, otherwise):
                chosen = then if _to_boolean(self.value(condition), "'? :'") else otherwise
                return self.value(chosen)
            case _Function("now", _):
                return self.current_time()
            case _Function("dateTime", _):
                return DateTime(self.current_time())
        raise AssertionError(f"unknown node {type(node).__name__}")  # pragma: no cover

    def binary(self, ops: tuple[str, ...], operands: tuple[Any, ...]) -> Any:
        if ops[0] in ("and", "or"):  # short-circuit: later operands are not evaluated
            stop = ops[0] == "or"
            for operand in operands:
                if _to_boolean(self.value(operand), f"'{'||' if stop else '&&'}'") == stop:
                    return stop
            return not stop
        current = self.value(operands[0])
        for op, operand in zip(ops, operands[1:], strict=True):
            right = self.value(operand)
            if op in ("+", "-", "*"):
                current = _arithmetic(op, current, right)
            elif op == "/":
                current = _divide(current, right)
            elif op == "%":
                current = _modulo(current, right)
            elif op == "==":
                current = _equals(current, right)
            elif op == "!=":
                current = not _equals(current, right)
            else:
                current = _compare(op, current, right)
        return current

    def run(self, compiled: _Compiled) -> Any:
        if compiled.kind == "text":
            return compiled.parts[0]
        if compiled.kind == "single":
            result = self.value(compiled.parts[0])
            return result.value if isinstance(result, DateTime) else _public(result)
        pieces: list[str] = []
        length = 0
        for part in compiled.parts:
            piece = part if isinstance(part, str) else _to_string(_public(self.value(part)))
            length += len(piece)
            if length > MAX_RESULT_LENGTH:
                raise JuelError(f"the text is too long (more than {MAX_RESULT_LENGTH:,} characters)")
            pieces.append(piece)
        return "".join(pieces)


def _public(value: Any) -> Any:
    """Internal wrappers never leave the interpreter: `${execution}` is the caller's own dict."""
    if isinstance(value, _Bean):
        raise JuelError(f"bean '{value.name}' can only have its methods called, e.g. {value.name}.method()")
    return value.data if isinstance(value, _Execution) else value


def _names(context: Mapping[str, Any] | None, variables: Mapping[str, Any]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for key, value in (context or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"context keys must be strings, not {type(key).__name__}")
        if key == "execution":
            if not isinstance(value, Mapping):
                raise TypeError(f"context['execution'] must be a mapping, not {type(value).__name__}")
            names[key] = _Execution(value, variables)
        elif isinstance(value, _CONTEXT_TYPES):
            names[key] = value
        else:
            raise TypeError(f"context[{key!r}] must be a plain value, list or mapping, not {type(value).__name__}")
    return names


def evaluate(
    text: str,
    variables: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    beans: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
) -> Any:
    """The value of a JUEL text.

    A single ``${expr}`` (surrounding whitespace ignored) gives the expression's own value (``bool``, ``int``,
    ``float``, ``Decimal``, ``str``, ``None``, a variable's list or dict, an aware ``datetime`` for dates); a
    template such as ``Order ${id} for ${customer.name}`` gives a ``str``; text without expressions is returned as
    it is.  ``context`` adds names resolved before the variables, e.g. ``{"execution": {"processInstanceId": ...,
    "businessKey": ..., "activityId": ...}}``; its values must be plain data.  ``clock`` overrides the module's
    :data:`clock` for ``now()`` and ``dateTime()``.  ``beans`` maps bean names to their methods (name -> function):
    the only code an expression can call.  Raises JuelError for syntax and evaluation errors.
    """
    check(text)
    compiled = _compile(text)
    if compiled.kind == "text":
        return compiled.parts[0]
    if variables is None:
        variables = {}
    evaluator = _Evaluator(variables, _names(context, variables), clock or globals()["clock"], beans)
    try:
        with limits.evaluation() as evaluator.budget:
            return evaluator.run(compiled)
    except limits.OverBudget as error:
        raise JuelError(str(error), expression=text) from error
    except JuelError as error:
        if error.expression is None:
            error.expression = text
        raise
    except RecursionError:
        raise JuelError("expression or data is nested too deeply", expression=text) from None
    except (ArithmeticError, DecimalException, OverflowError, ValueError, TypeError) as error:
        raise JuelError(f"cannot evaluate the expression: {error}", expression=text) from error
