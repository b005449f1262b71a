"""Values of a user task that the diagram gives as text or expressions (name, assignee, candidates, priority, due
dates), evaluated with the order's data when the task is created or escalated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from processes import expressions
from processes.core import clock

if TYPE_CHECKING:
    pass


def value_of(text: str | None, data: dict) -> Any:
    """Attributes are literal text unless written as an expression (`${…}` or `=…`), as in Camunda."""
    if text is None or text == "":
        return None
    if expressions.dialect_of(text) == expressions.PYTHON:
        return text
    return expressions.evaluate(text, data)


def name_of(text: str | None, data: dict) -> str | None:
    """Camunda 7 task names may hold JUEL (`Approve level ${level.name}`): one name per instance of a multi-instance
    task. A name is only a label, so one that cannot be evaluated is shown as drawn rather than stopping the task."""
    if text is None or expressions.dialect_of(text) != expressions.JUEL:
        return text
    try:
        return text_of(text, data)
    except expressions.ExpressionError:
        return text


def text_of(text: str | None, data: dict) -> str | None:
    value = value_of(text, data)
    return None if value is None else str(value)


def names_of(text: str | None, data: dict) -> list[str]:
    value = value_of(text, data)
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def priority_of(text: str | None, data: dict) -> int:
    value = value_of(text, data)
    try:
        return int(value) if value is not None else 50
    except (TypeError, ValueError) as exc:
        raise expressions.ExpressionError(f"priority '{value}' is not a whole number", expressions.PYTHON) from exc


def moment_of(text: str | None, data: dict) -> datetime | None:
    """A due or follow-up date: an ISO date-time, or an ISO duration from now (PT4H), literal or computed."""
    value = value_of(text, data)
    if value is None:
        return None
    value = str(value).strip()
    now = clock.now().replace(tzinfo=UTC)
    if value.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).replace(tzinfo=None)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
