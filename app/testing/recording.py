"""Recording a scenario from an order that was walked through by hand (a test order in the modeler): its audit trail
says how it started, what each connector answered, who completed which task with what, which messages came, and
where it went. The result is a scenario file's text, to keep next to the diagram and edit."""

from __future__ import annotations

from typing import Any

import yaml

from processes.core.engine import Engine
from processes.instances import get_instance, instance_events

# Variables the engine itself sets on a task's data: not a connector's answer.
_NOT_ANSWERS = {"jobId"}


def record(engine: Engine, instance_id: str, name: str | None = None) -> str:
    """The scenario file (YAML) of one order, with one scenario that repeats what it did."""
    instance = get_instance(engine, instance_id)
    events = instance_events(engine, instance_id)
    jobs: dict[str, str] = {}  # element -> topic, for elements that ran as jobs
    answers: dict[str, list[dict[str, Any]]] = {}
    steps: list[dict[str, Any]] = []
    path: list[str] = []
    ends: list[str] = []
    start: dict[str, Any] = {"businessKey": instance.get("businessKey") or "RECORDED-1", "variables": {}}
    for event in events:
        kind, element, data = event["type"], event.get("elementId"), event.get("data") or {}
        if kind == "instance_started":
            start["variables"] = data.get("variables") or {}
        elif kind == "job_created" and element:
            jobs[element] = data.get("topic") or ""
        elif kind == "element_completed" and element:
            path.append(element)
            if "EndEvent" in (event.get("elementType") or ""):
                ends.append(element)
            if element in jobs:
                result = {k: v for k, v in (data or {}).items() if k not in _NOT_ANSWERS}
                answers.setdefault(element, []).append({"result": result})
        elif kind == "bpmn_error" and element in jobs:
            answers.setdefault(element, []).append({"error": data.get("code")})
        elif kind == "task_completed" and element:
            steps.append(
                {"complete": element, "by": event.get("actor") or "tester", "variables": data.get("variables")}
            )
        elif kind == "review_decided" and element:
            steps.append(
                {"review": element, "by": event.get("actor") or "tester", "accept": bool(data.get("accepted"))}
            )
        elif kind == "message_received":
            step = {"message": data.get("message")}
            if data.get("variables"):
                step["variables"] = data["variables"]
            steps.append(step)
    # Passed as a set: parallel branches complete in an order a replay need not repeat.
    expect: dict[str, Any] = {"passes": list(dict.fromkeys(path)), "status": instance["status"]}
    if ends and instance["status"] == "completed":
        expect["end"] = ends[-1]
    outcome = (instance.get("variables") or {}).get("orderOutcome")
    if outcome is not None:
        expect["variables"] = {"orderOutcome": outcome}
    scenario = {
        "name": name or f"recorded from order {instance.get('businessKey') or instance_id}",
        "start": start,
        "connectors": {element: (found if len(found) > 1 else found[0]) for element, found in answers.items()},
        "steps": [{k: v for k, v in s.items() if v not in (None, {})} for s in steps],
        "expect": expect,
    }
    document = {"process": instance["processKey"], "scenarios": [scenario]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)
