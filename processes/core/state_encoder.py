"""The instance state's JSON text, written the way SpiffWorkflow's converters and JSON encoder write it, faster.

Every engine step saves the whole workflow. SpiffWorkflow's converters (TaskConverter.to_dict through the registry,
each task id turned into text several times) and the standard library's encoder were 12-15% of the server's time
(issue #18). This writes the same dictionaries directly, turns each task id into text once per workflow object, and
encodes with orjson: on the shipped order about 0.14 ms per save instead of 0.34 ms.

Reusing the JSON of finished tasks from the previous save was built and measured, and did not pay: it has to check
that what a finished task writes is unchanged, and SpiffWorkflow's DeepMerge shares nested lists and dicts between a
task's data and its children's, so a script in a running task can change a finished task's data in place. That check
is the task's changes against its parent's data, which is most of what serializing the task costs.

tests/unit/test_state_encoder.py compares the text with SpiffWorkflow's converters at every save of the shipped and
conformance diagrams. orjson writes some values the standard library does not (a uuid.UUID as plain text, where
SpiffWorkflow's encoder wrote {"typename": "UUID"}), and refuses others (integers over 64 bits, keys that are not
text): variables are checked as JSON by the standard library before they get here (processes/core/variables.py),
and a state orjson refuses is written by the standard library, as before (StateSerializer.dump_state)."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.task import Task

from processes.core import json_columns, spiff

# datetime and dataclasses go to `default` (SpiffWorkflow's registry converts them), not orjson's own format.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

EncodeError = orjson.JSONEncodeError  # a TypeError


class SavedForm:
    """What the encoder keeps on one workflow object between its saves."""

    __slots__ = ("ids", "plain")

    def __init__(self, plain: bool = False) -> None:
        self.ids: dict[UUID, str] = {}  # task ids as text
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
    """Writes a workflow's state as StatelessSpecWorkflowConverter.to_dict and SpiffWorkflow's JSON encoder would.
    Call inside `spiff.encoder_mode(registry)`, as SpiffWorkflow's own JSON serialization does."""

    def __init__(self, registry) -> None:
        self.registry = registry
        self._typenames = registry.typenames
        self._to_dict = registry.convert_to_dict
        self._task_typename = registry.typenames[Task]
        # `_task_dict` is SpiffWorkflow's TaskConverter.to_dict; when a feature registers another converter for
        # tasks, the registry converts them.
        converter = getattr(registry.convert_to_dict[self._task_typename], "args", (None, None))[1]
        self._own_task_dict = type(getattr(converter, "__self__", None)) is TaskConverter

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
        if len(form.ids) > 4 * len(workflow.tasks) + 256:  # tasks dropped from the tree (predictions, loops)
            form.ids = {}
        dct = self._workflow(workflow, form.ids)
        dct["subprocesses"] = {
            str(task_id): self._subworkflow(sub, form.ids) for task_id, sub in workflow.subprocesses.items()
        }
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        dct["format"] = state_format
        return self.dumps(dct).decode()

    def _workflow(self, workflow, ids: dict[UUID, str]) -> dict:
        """SpiffWorkflow's WorkflowConverter.to_dict."""
        registry = self.registry
        task_dict = self._task_dict if self._own_task_dict else (lambda task, ids, text: registry.convert(task))
        known = ids.get
        tasks = {}
        for task_id, task in workflow.tasks.items():
            text = known(task_id) or _text(ids, task_id)
            tasks[text] = task_dict(task, ids, text)
        return {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": tasks,
            "root": str(workflow.task_tree.id),
        }

    def _subworkflow(self, sub, ids: dict[UUID, str]) -> dict:
        """SpiffWorkflow's BpmnSubWorkflowConverter.to_dict, with the registry's typename."""
        dct = self._workflow(sub, ids)
        dct["parent_task_id"] = str(sub.parent_task_id)
        dct["spec"] = sub.spec.name
        dct["typename"] = self._typenames[type(sub)]
        return dct

    def _task_dict(self, task, ids: dict[UUID, str], text: str) -> dict:
        """SpiffWorkflow's TaskConverter.to_dict with the registry's typename, as the registry converts a task for
        a JSON encoder. The data is written as TaskConverter writes it: everything for a task without a parent,
        otherwise DeepMerge's updated and deleted keys against the parent's data. `text` is the task's id as text;
        the other ids are looked up in `ids` inline (a call of `_text` per id cost a tenth of a save)."""
        parent = task.parent
        if parent is None:
            data, delta = task.data, {}
        else:
            data, after, before = {}, task.data, parent.data
            if not after:  # a predicted task
                delta = {"updates": {}, "deletions": list(before)}
            else:
                delta = {
                    "updates": {k: v for k, v in after.items() if k not in before or before[k] != v},
                    "deletions": [k for k in before if k not in after],
                }
        internal = task.internal_data
        known = ids.get
        return {
            "id": text,
            "parent": (known(parent.id) or _text(ids, parent.id)) if parent is not None else None,
            "children": [known(child) or _text(ids, child) for child in spiff.child_ids(task)],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            # the registry's clean(): no callables or modules
            "internal_data": {k: v for k, v in internal.items() if not callable(v) and not isinstance(v, ModuleType)}
            if internal
            else {},
            "data": data,
            "delta": delta,
            "typename": self._task_typename,
        }


def _text(ids: dict[UUID, str], task_id: UUID) -> str:
    """A task id as text, made once per workflow object (str() of a UUID was a sizeable part of a save)."""
    found = ids.get(task_id)
    if found is None:
        found = ids[task_id] = str(task_id)
    return found


def loads(text: str | bytes) -> tuple[Any, bool]:
    """The state's JSON, and whether it needs the standard library to be written back the same (NaN saved before
    orjson, integers over 64 bits: processes/core/json_columns.py)."""
    return json_columns.read(text)
