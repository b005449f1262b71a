"""The instance state's JSON text, made without serializing again what cannot have changed.

Every engine step saves the whole workflow, and most of its tasks (all finished ones, most predicted ones) come out
identical to the previous save. Serializing them again (SpiffWorkflow's TaskConverter, then JSON) was most of the
state's cost (issue #18), so the encoder keeps, on the workflow object, each task's JSON fragment with what it was
made from, and reuses the fragment while all of that is unchanged:
- the task object itself, its spec, state, last state change and `triggered` flag;
- its children (a finished task still gains children: a reset, a feature adding one);
- its internal data (features keep ledgers and flags on the finished root task);
- what is written of its data: its changes against its parent's data, compared by value with a copy taken when the
  fragment was made. SpiffWorkflow's DeepMerge shares nested lists and dicts between a task's data and its
  children's, so a script in a running task can change a finished task's data in place.
The text is the same as SpiffWorkflow's converters give (tests/unit/test_state_encoder.py compares them at every save
of the shipped and conformance diagrams). Not seen: a value changed in place into an equal value of another type
(1 into 1.0 or True); nothing in orderflow or SpiffWorkflow does that to a task that has gone on.

JSON is written by orjson (about 10 times faster than the standard library's encoder). It writes some values the
standard library does not (a uuid.UUID as a plain string; SpiffWorkflow's own encoder wrote {"typename": "UUID"}) and
refuses others (integers over 64 bits, keys that are not strings): variables are checked as JSON by the standard
library before they get here (processes/core/variables.py), and when orjson refuses a state it is written with the
standard library, as before."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any
from uuid import UUID

import orjson

from processes.core import spiff

# datetime and dataclasses go to `default` (SpiffWorkflow's registry converts them), not orjson's own format.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

EncodeError = orjson.JSONEncodeError  # a TypeError


class _Kept:
    """A task's JSON fragment and what it was made from."""

    __slots__ = ("task", "key", "spec", "state", "changed", "triggered", "children", "internal", "delta", "json")

    def holds(self, task) -> bool:
        """Whether the fragment is still the task's serialized form: everything SpiffWorkflow's TaskConverter reads
        is as it was. The data only counts through what is written: the task's changes against its parent (the
        whole data for a root task), compared by value with a copy, so that a change made in place deep inside a
        shared value is seen."""
        if (
            task.state != self.state
            or task.last_state_change != self.changed
            or task.triggered != self.triggered
            or task.task_spec is not self.spec
            or spiff.child_ids(task) != self.children
            or task.internal_data != self.internal
        ):
            return False
        return _delta(task) == self.delta


def _delta(task) -> Any:
    """What TaskConverter.to_dict writes of the task's data: DeepMerge's updated and deleted keys against the
    parent's data (cheap to compute: the values a child did not change are the parent's, or copies sharing their
    nested values), or the whole data of a task without a parent."""
    parent = task.parent
    data = task.data
    if parent is None:
        return data
    before = parent.data
    if not data:  # a predicted task
        return [{}, list(before)]
    if data == before:  # the task changed nothing (compared in C, nested values shared: the common case)
        return [{}, []]
    return [
        {key: value for key, value in data.items() if key not in before or before[key] != value},
        [key for key in before if key not in data],
    ]


class SavedForm:
    """What the encoder keeps on one workflow object between its saves."""

    __slots__ = ("tasks", "plain")

    def __init__(self, plain: bool = False) -> None:
        self.tasks: dict[UUID, _Kept] = {}
        # Written by the standard library's encoder: the state held what orjson would not write back the same (NaN
        # in a state saved before orjson, a lone surrogate), or orjson refused it.
        self.plain = plain


def saved_form(workflow) -> SavedForm:
    form = spiff.saved_form(workflow)
    if form is None:
        form = SavedForm()
        spiff.keep_saved_form(workflow, form)
    return form


class StateEncoder:
    """Writes a workflow's state as SpiffWorkflow's converters would, with the fragments of finished tasks reused.
    Call inside `spiff.encoder_mode(registry)`, as SpiffWorkflow's own JSON serialization does."""

    def __init__(self, registry) -> None:
        self.registry = registry
        self._typenames = registry.typenames
        self._to_dict = registry.convert_to_dict

    def default(self, obj: Any) -> Any:
        """SpiffWorkflow's JSON encoder's `default` (SpiffWorkflow.bpmn.serializer.helpers.encoder), for orjson."""
        typename = self._typenames.get(type(obj))
        if typename is not None:
            return self._to_dict[typename](obj)
        if callable(obj) or isinstance(obj, ModuleType):
            return None
        if isinstance(obj, set):
            return list(obj)
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")

    def dumps(self, value: Any) -> bytes:
        return orjson.dumps(value, default=self.default, option=OPTIONS)

    def encode(self, workflow, form: SavedForm, state_format: int) -> str:
        """The state's JSON text (StatelessSpecWorkflowConverter.to_dict plus `format`). Raises EncodeError when
        orjson cannot write it."""
        registry = self.registry
        verified: dict[UUID, _Kept] = {}
        dct = self._workflow(workflow, form.tasks, verified)
        dct["subprocesses"] = {
            str(task_id): self._subworkflow(sub, form.tasks, verified) for task_id, sub in workflow.subprocesses.items()
        }
        dct["bpmn_events"] = registry.convert(workflow.bpmn_events)
        dct["format"] = state_format
        text = self.dumps(dct).decode()
        form.tasks = verified  # tasks gone from the workflow leave the cache here
        return text

    def _workflow(self, workflow, kept: dict, verified: dict) -> dict:
        """SpiffWorkflow's WorkflowConverter.to_dict."""
        registry = self.registry
        return {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": self._tasks(workflow.tasks, kept, verified),
            "root": str(workflow.task_tree.id),
        }

    def _subworkflow(self, sub, kept: dict, verified: dict) -> dict:
        """SpiffWorkflow's BpmnSubWorkflowConverter.to_dict, with the registry's typename."""
        dct = self._workflow(sub, kept, verified)
        dct["parent_task_id"] = str(sub.parent_task_id)
        dct["spec"] = sub.spec.name
        dct["typename"] = self._typenames[type(sub)]
        return dct

    def _tasks(self, tasks: dict, kept: dict, verified: dict) -> dict:
        convert = self.registry.convert
        out: dict[str, Any] = {}
        for task_id, task in tasks.items():
            entry = kept.get(task_id)
            if entry is None or entry.task is not task or not entry.holds(task):
                entry = self._kept(task, convert(task))
            verified[task_id] = entry
            out[entry.key] = entry.json
        return out

    def _kept(self, task, dct: dict) -> _Kept:
        entry = _Kept()
        entry.task, entry.key, entry.spec = task, dct["id"], task.task_spec
        entry.state, entry.changed, entry.triggered = task.state, task.last_state_change, task.triggered
        entry.children = list(spiff.child_ids(task))
        entry.json = orjson.Fragment(self.dumps(dct))
        try:
            entry.internal = self._copy(task.internal_data)
            entry.delta = self._copy(_delta(task))
        except EncodeError:  # cannot be copied: never matches, so the task is serialized at every save
            entry.internal = entry.delta = _NEVER
        return entry

    def _copy(self, value: Any) -> Any:
        """A copy to compare with later: a JSON round trip (a few µs, where deepcopy took 30). A value that does not
        come back equal (a tuple, a datetime, NaN) never matches, so its task is serialized at every save."""
        return orjson.loads(self.dumps(value))


_NEVER = object()  # equal to nothing but itself


def loads(text: str | bytes) -> tuple[Any, bool]:
    """The state's JSON, and whether it needs the standard library to be written back the same: orjson refuses
    NaN and Infinity (states saved before orjson may hold them), lone surrogates and integers over 64 bits."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        return json.loads(text), True
