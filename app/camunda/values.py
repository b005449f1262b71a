"""Camunda 7's typed variables, `{"name": {"value": ..., "type": "...", "valueInfo": {...}}}`, to and from
orderflow's variables, which are plain JSON.

Reading: String, Integer/Short/Long, Double, Boolean and Null become the JSON value; Json (and Object serialized as
`application/json`) is parsed; Date becomes its ISO 8601 text (orderflow's expressions read dates as text). A value
without a type is taken as it is, as Camunda's own clients send it (`{"value": 42}`). Java-serialized objects,
Bytes and File cannot be read and say so.

Writing: every value gets the type Camunda would give it: an object or a list is Json, its value the JSON text
(as Camunda Spin sends it), an integer that fits 32 bits is Integer, a larger one Long."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from processes.errors import InvalidInput
from processes.instances import check_variables

INT32 = range(-(2**31), 2**31)
DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


def read_variables(typed: Any, what: str = "variables") -> dict[str, Any]:
    """Plain variables from Camunda's typed ones (400 naming the variable when one cannot be read)."""
    if typed is None:
        return {}
    if not isinstance(typed, dict):
        raise InvalidInput(f"{what} must be a JSON object of {{name: {{value, type, valueInfo}}}}")
    plain = {name: read_value(name, entry) for name, entry in typed.items()}
    return check_variables(plain)


def read_value(name: str, entry: Any) -> Any:
    if not isinstance(entry, dict):
        raise InvalidInput(f'variable {name}: send {{"value": ..., "type": ...}}, not {type(entry).__name__}')
    value, kind = entry.get("value"), str(entry.get("type") or "").lower()
    info = entry.get("valueInfo") or {}
    if not kind:
        return value
    if kind == "null" or value is None:
        return None
    try:
        if kind == "string":
            return value if isinstance(value, str) else json.dumps(value)
        if kind in ("integer", "short", "long"):
            if isinstance(value, bool) or not isinstance(value, int | str | float) or int(value) != float(value):
                raise ValueError(value)
            return int(value)
        if kind == "double":
            number = float(value)
            if isinstance(value, bool) or not math.isfinite(number):  # JSON has no NaN or infinity
                raise ValueError(value)
            return number
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError(value)
        if kind == "json":
            return json.loads(value) if isinstance(value, str) else value
        if kind == "object":
            data_format = str(info.get("serializationDataFormat") or "application/json")
            if data_format != "application/json":
                raise InvalidInput(
                    f"variable {name}: an Object serialized as {data_format} cannot be read; send it as Json"
                )
            return json.loads(value) if isinstance(value, str) else value
        if kind == "date":
            return _date(str(value))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"variable {name}: {value!r} is not a valid {entry.get('type')}") from exc
    raise InvalidInput(
        f"variable {name}: type {entry.get('type')} is not supported "
        "(String, Integer, Short, Long, Double, Boolean, Json, Object as application/json, Date, Null)"
    )


def _date(text: str) -> str:
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(text, layout).isoformat()
        except ValueError:
            continue
    raise ValueError(text)


def typed_value(value: Any) -> dict[str, Any]:
    """One value as Camunda answers it."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        return {"type": "Integer" if value in INT32 else "Long", "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": json.dumps(value), "valueInfo": {}}


def typed_variables(variables: dict[str, Any] | None, names: list[str] | None = None) -> dict[str, Any]:
    """Variables as Camunda answers them; `names` keeps only those (None: all)."""
    variables = variables or {}
    chosen = variables if names is None else {n: variables[n] for n in names if n in variables}
    return {name: typed_value(value) for name, value in chosen.items()}
