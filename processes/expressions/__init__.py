"""One interface for every expression in a diagram: conditions, timer values, mappings and scripts.

The dialect is chosen by how the analyst wrote it, as Camunda does:
- `${...}` / `#{...}`: JUEL (Camunda 7);
- `=...`: FEEL (Camunda 8; DMN uses FEEL directly);
- anything else: Python (SpiffWorkflow's own dialect), in orderflow's sandbox.
None of them can run arbitrary Python: JUEL and FEEL are interpreted from their own grammars, Python is checked
against a whitelist first."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from processes import limits
from processes.errors import OrderflowError
from processes.expressions import beans as beans_
from processes.expressions import python as sandbox

PYTHON, JUEL, FEEL = "python", "juel", "feel"


class ExpressionError(OrderflowError):
    """An expression was refused or failed, in any dialect. str() is a one-line message for an analyst."""

    status = 422
    title = "Expression failed"

    def __init__(self, message: str, dialect: str):
        super().__init__(message)
        self.dialect = dialect


def dialect_of(source: str) -> str:
    text = source.strip()
    if text.startswith("="):
        return FEEL
    if "${" in text or "#{" in text:
        return JUEL
    return PYTHON


def bean_calls(source: str) -> list[tuple[str, str]]:
    """(bean, method) of the bean calls in a JUEL text (none in other dialects); ExpressionError as `check`."""
    if dialect_of(source) != JUEL:
        return []
    from processes.expressions import juel

    try:
        return juel.bean_calls(source)
    except Exception as exc:
        raise _wrap(exc, JUEL) from exc


def check(source: str, mode: str = "eval") -> str:
    """Raise ExpressionError for a syntax error or a forbidden construct; return the dialect. `mode` "exec" is
    a Python script (script tasks)."""
    dialect = dialect_of(source)
    try:
        if dialect == FEEL:
            from processes import feel

            feel.check_expression(source.strip()[1:])
        elif dialect == JUEL:
            from processes.expressions import juel

            juel.check(source)
        else:
            sandbox.check(source, mode)
    except Exception as exc:
        raise _wrap(exc, dialect) from exc
    return dialect


def evaluate(
    source: str,
    variables: Mapping[str, Any],
    *,
    execution: Mapping[str, Any] | None = None,
    beans: beans_.Beans | None = None,
) -> Any:
    """The value of an expression, as JSON-friendly Python: dates, times and durations become ISO 8601 strings,
    which is also what SpiffWorkflow's timers expect. JUEL may call the registered `beans` (expressions/beans.py)."""
    dialect = dialect_of(source)
    try:
        if dialect == FEEL:
            from processes import feel

            value = feel.evaluate(source.strip()[1:], variables)
        elif dialect == JUEL:
            from processes.expressions import juel

            # A bean gets the execution object itself (it may read variables); otherwise a copy of the facts.
            facts = execution if isinstance(execution, beans_.Execution) else dict(execution or {})
            value = juel.evaluate(source, variables, context={"execution": facts}, beans=beans)
        else:
            value = sandbox.evaluate(source, variables)
    except Exception as exc:
        raise _wrap(exc, dialect, source) from exc
    return plain(value)


def run_script(source: str, variables: dict[str, Any]) -> Any:
    """Run a Python script in the sandbox and give the value of its last line when that is an expression (as a
    Groovy or JavaScript script gives its last value in Camunda), else None. `variables` is the script's namespace:
    what it assigns is written there."""
    try:
        sandbox.check(source, "exec")  # refused before anything runs; also bounds what ast.parse is given
        body = ast.parse(source).body
    except Exception as exc:
        raise _wrap(exc, PYTHON) from exc
    try:
        if not body or not isinstance(body[-1], ast.Expr):
            sandbox.execute(source, variables)
            return None
        last = body[-1]
        lines = source.splitlines(keepends=True)
        before = "".join(lines[: last.lineno - 1]) + lines[last.lineno - 1].encode()[: last.col_offset].decode()
        if before.strip():
            sandbox.execute(before, variables)
        value = sandbox.evaluate(ast.get_source_segment(source, last) or "", variables)
    except Exception as exc:
        raise _wrap(exc, PYTHON) from exc
    return plain(value)


def plain(value: Any) -> Any:
    """JSON-friendly Python for a value from any dialect."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    to_json = getattr(value, "to_json", None) or getattr(value, "isoformat", None)
    return to_json() if callable(to_json) else value


def iso_duration(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    seconds = abs(value).total_seconds()
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = "".join(f"{n:g}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (round(secs, 6), "S")) if n)
    text = f"{sign}P{int(days)}D" if days else f"{sign}P"
    return text + (f"T{time_part}" if time_part else ("" if days else "T0S"))


def over_budget(exc: BaseException) -> str | None:
    """Which budget (processes/limits.py: "time", "steps" or "size") an evaluation error went over, if any."""
    if isinstance(exc, limits.OverBudget):
        return exc.budget
    budget = getattr(exc, "budget", None)
    if budget is None and exc.__cause__ is not None and exc.__cause__ is not exc:
        return over_budget(exc.__cause__)
    return budget


def named(source: str) -> str:
    """An expression's text as an incident names it: on one line, shortened."""
    text = " ".join(source.split())
    return repr(text if len(text) <= 120 else text[:117] + "...")


def _wrap(exc: Exception, dialect: str, source: str | None = None) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        return exc
    label = {FEEL: "FEEL", JUEL: "JUEL", PYTHON: "Python"}[dialect]
    if source is not None and over_budget(exc):
        # An incident must say which expression to fix, and the budget it went over says why.
        return ExpressionError(f"{label} expression {named(source)}: {exc}", dialect)
    return ExpressionError(f"{label}: {exc}", dialect)
