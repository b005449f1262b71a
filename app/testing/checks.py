"""Checking what a scenario expects against what its order did, and explaining the first difference in the
diagram's words: which gateway took which flow instead of the one the scenario wanted."""

from __future__ import annotations

from collections import deque
from typing import Any

from app.testing.diagram import Diagram
from app.testing.recorder import UNKNOWN
from app.testing.runner import Outcome
from app.testing.scenarios import Scenario

GATEWAYS = ("exclusiveGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway")


class Passage:
    """The elements and flows one order passed, read from the recorder's arrivals."""

    def __init__(self, outcome: Outcome, diagrams: list[Diagram]):
        self.elements: list[str] = []
        self.flows: list[str] = []
        self.taken: dict[str, list[str]] = {}  # gateway -> flows it took
        self.diagram = next(
            (d for d in diagrams if outcome.instance.get("processKey") in d.processes),
            diagrams[0] if diagrams else None,
        )
        for arrival in outcome.arrivals:
            source = arrival.source
            if source == UNKNOWN:  # the one flow into it, if the order passed where that flow comes from
                into = [f for d in diagrams for f in d.flows.values() if f.target == arrival.element]
                source = into[0].source if len(into) == 1 and into[0].source in self.elements else None
            self.elements.append(arrival.element)
            if source is None:
                continue
            for diagram in diagrams:
                for flow in diagram.flows_between(source, arrival.element):
                    self.flows.append(flow.id)
                    self.taken.setdefault(flow.source, []).append(flow.id)

    def passed(self, name: str) -> bool:
        return name in self.elements or name in self.flows


def _matches(expected: Any, actual: Any) -> bool:
    """Expected objects need only the keys they name; anything else must be equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(key in actual and _matches(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return abs(float(expected) - float(actual)) < 1e-9
        except (TypeError, ValueError):
            return False
    return expected == actual


def explain_missing(name: str, passage: Passage) -> str:
    """Why the order never passed `name` (an element or a flow): the nearest gateway before it that took another
    flow. A flow's own gateway is that gateway."""
    diagram = passage.diagram
    if diagram is None:
        return f"{name} was never passed"
    if name in diagram.flows:
        flow = diagram.flows[name]
        if flow.source in passage.elements:
            return _wrong_turn(flow.source, flow.id, passage)
        name = flow.source
    # Walk back from the element along flows (and out of subprocesses and boundary events) to a passed gateway.
    incoming: dict[str, list[tuple[str, str | None]]] = {}
    for flow in diagram.flows.values():
        incoming.setdefault(flow.target, []).append((flow.source, flow.id))
    for subprocess, starts in diagram.children.items():
        for start in starts:
            incoming.setdefault(start, []).append((subprocess, None))
    for activity, boundaries in diagram.boundaries.items():
        for boundary in boundaries:
            incoming.setdefault(boundary, []).append((activity, None))
    seen, queue = {name}, deque([name])
    while queue:
        here = queue.popleft()
        for source, flow_id in incoming.get(here, []):
            if source in passage.elements:
                if flow_id is not None and diagram.elements.get(source, ("",))[0] in GATEWAYS:
                    return f"{diagram.name_of(name)} was never reached: " + _wrong_turn(source, flow_id, passage)
                if flow_id is None and source in diagram.boundaries and here in diagram.boundaries[source]:
                    return (
                        f"{diagram.name_of(name)} was never reached: the boundary event {diagram.name_of(here)} "
                        f"on {diagram.name_of(source)} never fired"
                    )
                continue
            if source not in seen:
                seen.add(source)
                queue.append(source)
    return f"{diagram.name_of(name)} was never reached"


def _wrong_turn(gateway: str, wanted: str, passage: Passage) -> str:
    diagram = passage.diagram
    taken = passage.taken.get(gateway, [])
    flow = diagram.flows[wanted]
    if not taken:
        return f"at {diagram.name_of(gateway)} the order took no flow (it wanted {flow.label()})"
    took = ", ".join(
        f"{diagram.flows[t].label()} to {diagram.name_of(diagram.flows[t].target)}" for t in dict.fromkeys(taken)
    )
    condition = f" (its condition {flow.condition} did not hold)" if flow.condition else ""
    return (
        f"at {diagram.name_of(gateway)} the order took flow {took} "
        f"instead of {flow.label()} to {diagram.name_of(flow.target)}{condition}"
    )


def first_difference(scenario: Scenario, outcome: Outcome, diagrams: list[Diagram]) -> str | None:
    """None when the order did what the scenario expects; else the first difference, explained."""
    expect = scenario.expect
    instance = outcome.instance
    passage = Passage(outcome, diagrams)
    incidents = instance.get("incidents") or []
    if expect.incidents is None and incidents:
        first = incidents[0]
        return f"an incident opened at {first['elementId']}: {first['message']}"
    if expect.incidents is not None:
        for wanted in expect.incidents:
            found = [
                i
                for i in incidents
                if wanted.get("element") in (None, i["elementId"]) and wanted.get("message", "") in i["message"]
            ]
            if not found:
                seen = "; ".join(f"{i['elementId']}: {i['message']}" for i in incidents) or "none"
                return f"expected an incident {wanted}, but the incidents are: {seen}"
    if outcome.problem and (expect.incidents is None or not incidents):
        return outcome.problem
    position, previous = 0, None
    for name in expect.path:
        if not passage.passed(name):
            return f"path: {explain_missing(name, passage)}"
        if name in passage.flows and name not in passage.elements:
            continue  # a flow: taken is what counts; the elements around it say the order
        try:
            position = passage.elements.index(name, position) + 1
        except ValueError:
            return f"path: {name} was passed, but not after {previous}"
        previous = name
    if expect.end is not None and not passage.passed(expect.end):
        ended = [
            e for e in passage.elements if passage.diagram and passage.diagram.elements.get(e, ("",))[0] == "endEvent"
        ]
        where = f"it passed the end events {', '.join(dict.fromkeys(ended))}" if ended else "it reached no end event"
        return f"expected to end at {expect.end}, but {where}: {explain_missing(expect.end, passage)}"
    for name in expect.path + expect.passes:
        if not passage.passed(name):
            return f"{explain_missing(name, passage)}"
    for name in expect.avoids:
        if passage.passed(name):
            return f"expected never to pass {name}, but the order did"
    if expect.status is not None and instance.get("status") != expect.status:
        return f"expected status {expect.status}, but the order is {instance.get('status')}"
    variables = instance.get("variables") or {}
    for name, value in expect.variables.items():
        if name not in variables:
            return f"variable {name}: expected {value!r}, but the order has no such variable"
        if not _matches(value, variables[name]):
            return f"variable {name}: expected {value!r}, got {variables[name]!r}"
    decided = [e["data"] for e in outcome.events if e["type"] == "decision_evaluated"]
    for key, value in expect.decisions.items():
        results = [d["result"] for d in decided if d.get("decision") == key]
        if not results:
            return f"decision {key}: expected {value!r}, but it was never evaluated"
        if not any(_matches(value, r) for r in results):
            return f"decision {key}: expected {value!r}, got {' then '.join(repr(r) for r in results)}"
    return None
