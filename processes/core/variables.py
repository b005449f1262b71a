"""What an instance may keep: variables are saved as JSON (in the state, the variables column and the audit
trail), so a value that is not JSON data, or variables over the size cap, can never be saved. The engine checks
each element's new variables when it completes, and the whole instance when it saves (processes/core/engine.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from processes import limits
from processes.errors import OrderflowError

_NOT_DATA = (TypeError, ValueError, RecursionError, OverflowError)


class UnsavableVariable(OrderflowError):
    """A variable cannot be saved: its value is not JSON data, or the variables are over the size cap.
    `variable` names it, `element_id` the element that set it (when known)."""

    status = 422
    title = "Variable cannot be saved"

    def __init__(self, message: str, variable: str | None = None, element_id: str | None = None, task=None) -> None:
        super().__init__(message)
        self.variable = variable
        self.element_id = element_id
        self.task = task


# NaN and Infinity are not JSON: the state's encoder (orjson) would save them as null, PostgreSQL refuses them in
# the variables column, and the REST API refuses them in requests. Refused here, so nothing turns into null. One
# encoder for every check (json.dumps with these options builds a new one at each call; encoding keeps no state).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _size(value: Any) -> int:
    return len(_ENCODER.encode(value))


def problem_with(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """(variable, why) for the first of `values` that cannot be saved, or None when all can."""
    if not values:
        return None
    try:
        size = _size(values)
    except _NOT_DATA:
        for name, value in values.items():
            try:
                _size(value)
            except _NOT_DATA as exc:
                return name, f"its value is not data ({exc}); only text, numbers, booleans, null, lists and objects"
        return next(iter(values)), "its value is not data"
    cap = limits.LIMITS.max_variables_bytes
    if size > cap:
        name = max(values, key=lambda k: _size(values[k]))
        over = f"over the cap of {cap:,} bytes (ORDERFLOW_MAX_VARIABLES_BYTES)"
        return name, f"the variables come to {size:,} bytes, {over}"
    return None


def unsavable(values: Mapping[str, Any], where: str | None, task=None) -> UnsavableVariable | None:
    """The error to raise when `values` (set at element `where`) cannot be saved, else None."""
    problem = problem_with(values)
    if problem is None:
        return None
    name, why = problem
    at = f" set at {where}" if where else ""
    return UnsavableVariable(f"variable {name!r}{at} cannot be saved: {why}", name, where, task)
