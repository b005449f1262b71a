"""Where a test order is, for drawing it on the diagram: the elements it waits in and the ones it has passed."""

from __future__ import annotations

from typing import Any

from processes.core.engine import Engine
from processes.instances import get_instance, instance_events

# Audit events that mean "the token went through this element".
_PASSED = ("element_completed", "task_completed", "instance_started", "bpmn_error", "message_received")


def order_progress(engine: Engine, instance_id: str) -> dict[str, Any]:
    """The instance (status, variables, active elements, incidents) plus `passed`: the ids of the elements it has
    completed, in the order it completed them, each once."""
    instance = get_instance(engine, instance_id)
    passed: list[str] = []
    for event in instance_events(engine, instance_id):
        element = event.get("elementId")
        if event["type"] in _PASSED and element and element not in passed:
            passed.append(element)
    return {**instance, "passed": passed}
