"""The coverage recorder: a feature that only watches. Each time an element is reached (it is active, or it completed)
it notes the element and the element it came from, which is the sequence flow taken between them. What the library
never completes as a task (a throw event that ends its scope, a compensation handler run as a job) it reads from the
step's audit events. It changes nothing in the step; the scenario tester adds it after orderflow's own features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.task import TaskState

from processes.core import Feature, Step, spiff

UNKNOWN = "?"  # the element came from the one flow that leads to it (a throw event seen in the audit events)
# Audit events whose element was passed although its task may never complete.
THROWN = ("bpmn_error", "escalation_thrown", "signal_thrown", "message_thrown")
HANDLERS = ("compensation_started", "compensation_completed")


@dataclass(frozen=True)
class Arrival:
    """An element reached by an order: `source` is the element before it (None after a start, into a subprocess, or
    for a compensation handler; UNKNOWN when only the diagram can say)."""

    instance_id: str
    process_key: str
    element: str
    source: str | None


def _source(task: Any) -> str | None:
    parent = task.parent
    while parent is not None and not spiff.is_element(parent):
        parent = parent.parent
    return spiff.element_id(parent) if parent is not None else None


@dataclass
class CoverageRecorder(Feature):
    """Arrivals in the order they happened, each spiff task once (a loop that comes back is a new task). A step's
    arrivals count once it is saved (a step rolled back passed nothing)."""

    arrivals: list[Arrival] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _pending: dict[int, list[tuple[int, Arrival, tuple[str, str] | None]]] = field(default_factory=dict)

    def _note(self, step: Step, element: str | None, source: str | None, key: tuple[str, str] | None) -> None:
        pending = self._pending.setdefault(id(step), [])
        if not element or (key is not None and (key in self._seen or any(k == key for *_, k in pending))):
            return
        arrival = Arrival(step.instance.id, step.instance.process_key, element, source)
        pending.append((len(step.events), arrival, key))

    def _note_task(self, step: Step, task: Any) -> None:
        self._note(step, spiff.element_id(task), _source(task), (step.instance.id, str(task.id)))

    def element_completed(self, step: Step, task: Any) -> None:
        self._note_task(step, task)

    def derive(self, step: Step, active_tasks: list) -> None:
        for task in active_tasks:
            # A boundary event waits while its activity runs: it is reached only when it fires (completes).
            if isinstance(task.task_spec, BoundaryEvent) and task.state != TaskState.COMPLETED:
                continue
            self._note_task(step, task)

    def saved(self, step: Step) -> None:
        # Tasks a feature completed outside the engine's run (a compensation throw with nothing to undo) are passed.
        for task in spiff.tasks_in(step.workflow, TaskState.COMPLETED):
            self._note_task(step, task)
        pending = self._pending.pop(id(step), [])
        for index, event in enumerate(step.events):
            element, kind = event.get("element_id"), event.get("type")
            thrown = kind in THROWN and "Event" in (event.get("element_type") or "")
            if thrown and element:
                # Passed when it threw: earlier in the step than a task completed afterwards may say.
                known = [i for i, (_, a, _) in enumerate(pending) if a.element == element]
                if known:
                    at, arrival, key = pending[known[0]]
                    pending[known[0]] = (min(at, index), arrival, key)
                else:
                    pending.append(
                        (index, Arrival(step.instance.id, step.instance.process_key, element, UNKNOWN), None)
                    )
            elif kind in HANDLERS and isinstance(event.get("data"), dict) and event["data"].get("handler"):
                handler = event["data"]["handler"]
                if kind == "compensation_started" or not any(a.element == handler for _, a, _ in pending):
                    pending.append((index, Arrival(step.instance.id, step.instance.process_key, handler, None), None))
        for _, arrival, key in sorted(pending, key=lambda entry: entry[0]):
            if key is not None:
                self._seen.add(key)
            self.arrivals.append(arrival)

    def clear(self) -> None:
        self.arrivals.clear()
        self._seen.clear()
        self._pending.clear()
