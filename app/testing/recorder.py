"""The coverage recorder: a feature that only watches. Each time an element is reached (it is active, or it completed)
it notes the element and the element it came from, which is the sequence flow taken between them. It changes nothing
in the step; the scenario tester adds it after orderflow's own features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.task import TaskState

from processes.core import Feature, Step, spiff


@dataclass(frozen=True)
class Arrival:
    """An element reached by an order: `source` is the element before it (None after a start, into a subprocess)."""

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
    """Arrivals in the order they happened, each spiff task once (a loop that comes back is a new task)."""

    arrivals: list[Arrival] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def _note(self, step: Step, task: Any) -> None:
        key = (step.instance.id, str(task.id))
        if key in self._seen:
            return
        self._seen.add(key)
        element = spiff.element_id(task)
        if element:
            self.arrivals.append(Arrival(step.instance.id, step.instance.process_key, element, _source(task)))

    def element_completed(self, step: Step, task: Any) -> None:
        self._note(step, task)

    def derive(self, step: Step, active_tasks: list) -> None:
        for task in active_tasks:
            # A boundary event waits while its activity runs: it is reached only when it fires (completes).
            if isinstance(task.task_spec, BoundaryEvent) and task.state != TaskState.COMPLETED:
                continue
            self._note(step, task)

    def clear(self) -> None:
        self.arrivals.clear()
        self._seen.clear()
