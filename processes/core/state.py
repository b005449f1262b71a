"""Serializing specs and instance state. State is stored without the spec: the spec lives once per
definition version and is cached in memory, so saving and loading an instance skips the spec entirely."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from copy import deepcopy
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from processes.core import spiff, state_encoder
from processes.core.feature import Feature
from processes.core.spiff import NoOpTask
from processes.core.state_encoder import SavedForm, StateEncoder

STATE_FORMAT = 1  # orderflow's own envelope around SpiffWorkflow's format 1.5


class StatelessSpecWorkflowConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter, but leaves the spec out; `restore` gets the cached spec instead."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(self, dct, spec, subprocess_specs):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_config(features: Sequence[Feature]) -> dict:
    config = dict(CAMUNDA_CONFIG)
    # SpiffWorkflow ships no converter for plain service tasks (see SPIFFWORKFLOW-NOTES.md).
    config[ServiceTask] = BpmnTaskSpecConverter
    config[NoOpTask] = BpmnTaskSpecConverter
    for feature in features:
        config.update(feature.converters())
    return config


class StateSerializer:
    """Turns specs and workflows into JSON strings and back."""

    def __init__(self, features: Sequence[Feature] = ()) -> None:
        self.registry = BpmnWorkflowSerializer.configure(_build_config(features))
        # Registering replaces SpiffWorkflow's converter for BpmnWorkflow; we keep a handle to call restore().
        self._workflow_converter = StatelessSpecWorkflowConverter(BpmnWorkflow, self.registry)
        self.serializer = BpmnWorkflowSerializer(self.registry)
        self.encoder = StateEncoder(self.registry)

    def dump_spec(self, spec, subprocess_specs: dict) -> str:
        return json.dumps(
            {
                "spec": self.registry.convert(spec),
                "subprocess_specs": {name: self.registry.convert(s) for name, s in subprocess_specs.items()},
            }
        )

    def load_spec(self, spec_json: str):
        dct = json.loads(spec_json)
        spec = self.registry.restore(dct["spec"])
        subprocess_specs = {name: self.registry.restore(s) for name, s in dct["subprocess_specs"].items()}
        return spec, subprocess_specs

    def dump_state(self, workflow: BpmnWorkflow) -> str:
        """The state's JSON text (processes/core/state_encoder.py), the same as `full_state` gives."""
        form = state_encoder.saved_form(workflow)
        if not form.plain:
            with spiff.encoder_mode(self.registry):
                try:
                    return self.encoder.encode(workflow, form, STATE_FORMAT)
                except state_encoder.EncodeError:
                    form.plain = True
        return self.plain_state(workflow)  # raises what the standard library raises for a value that is not data

    def full_state(self, workflow: BpmnWorkflow) -> str:
        """The state's JSON text from SpiffWorkflow's converters (what `dump_state` must equal)."""
        with spiff.encoder_mode(self.registry):
            dct = self._workflow_converter.to_dict(workflow)
            dct["format"] = STATE_FORMAT
            return self.encoder.dumps(dct).decode()

    def plain_state(self, workflow: BpmnWorkflow) -> str:
        """The state's JSON text written by the standard library, as before orjson: for states orjson refuses or
        would not write back the same (NaN)."""
        with spiff.encoder_mode(self.registry):
            dct = self._workflow_converter.to_dict(workflow)
            dct["format"] = STATE_FORMAT
            return json.dumps(dct, cls=spiff.encoder_class(self.serializer), separators=(",", ":"))

    def load_state(self, state_json: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
        dct, plain = state_encoder.loads(state_json)
        workflow = self._workflow_converter.restore(dct, spec, subprocess_specs)
        if plain:
            spiff.keep_saved_form(workflow, SavedForm(plain=True))
        return workflow


def _mutates_spec(spec, subprocess_specs: dict) -> bool:
    """SpiffWorkflow's multi-instance tasks change their spec while running, so such specs are not shared
    (orderflow's own, in multi_instance.py, do not)."""
    for s in (spec, *subprocess_specs.values()):
        if any(isinstance(ts, MultiInstanceTask) and getattr(ts, "mutates_spec", True) for ts in s.task_specs.values()):
            return True
    return False


class SpecCache:
    """Specs per definition version, restored once. A spec that running instances would mutate is copied
    for each instance, so no instance ever sees another's changes."""

    def __init__(self, serializer: StateSerializer, size: int = 256):
        self._serializer = serializer
        self._size = size
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, definition_id: str, spec_json_loader) -> tuple:
        with self._lock:
            entry = self._entries.get(definition_id)
            if entry is not None:
                self._entries.move_to_end(definition_id)
        if entry is None:
            spec, subprocess_specs = self._serializer.load_spec(spec_json_loader())
            entry = (spec, subprocess_specs, _mutates_spec(spec, subprocess_specs))
            with self._lock:
                self._entries[definition_id] = entry
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        spec, subprocess_specs, mutable = entry
        if mutable:
            return deepcopy(spec), deepcopy(subprocess_specs)
        return spec, subprocess_specs


class WorkflowCache:
    """Live workflow objects of recently stepped instances, keyed by instance id and revision.

    A step that finds the revision it expects reuses the object instead of deserializing; any other revision
    (another process stepped the instance) is a miss. Entries are taken out while a step uses them, so one
    object is never shared by two steps."""

    def __init__(self, size: int = 2048):
        self._size = size
        self._entries: OrderedDict[str, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: str, revision: int) -> BpmnWorkflow | None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is not None and entry[0] == revision:
            return entry[1]
        return None

    def put(self, instance_id: str, revision: int, workflow: BpmnWorkflow) -> None:
        with self._lock:
            self._entries[instance_id] = (revision, workflow)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def discard(self, instance_id: str) -> None:
        with self._lock:
            self._entries.pop(instance_id, None)
