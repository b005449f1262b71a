"""Multi-instance activities as Camunda draws them: one activity run once per item of a collection (or a number of
times), one after another (sequential) or all at once (parallel), until every instance is done or the completion
condition holds. Approval chains are the typical use: one approval per level, and a rejection ends the chain.

- Camunda 7: `<bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="${levels}"
  camunda:elementVariable="level">`, with `<bpmn:completionCondition>` (JUEL, FEEL or Python); instead of a
  collection, `<bpmn:loopCardinality>` (a number or an expression) runs the activity that many times.
- Camunda 8: `<zeebe:loopCharacteristics inputCollection="=levels" inputElement="level" outputCollection="results"
  outputElement="=decision"/>` in the marker's extension elements, with a FEEL completion condition.

Variables. Each instance has its own element variable and Camunda's built-ins; none of them reaches the process:
- Camunda 7: `loopCounter` (0, 1, …), `nrOfInstances`, `nrOfActiveInstances`, `nrOfCompletedInstances`;
- Camunda 8: `loopCounter` (1, 2, …), `numberOfInstances`, `numberOfActiveInstances`, `numberOfCompletedInstances`.
Inside an instance (its candidate groups, name, due date, scripts, mappings) the counters hold their values when the
instance started; in the completion condition, their values once the instance that just completed is counted.
Active instances: for a sequential activity always 1, as in Camunda. Variables an instance sets (a completed form, a
job's result) reach the process, as in Camunda; with an output collection, the output element of instance i is its
i-th entry (null for instances the completion condition cancelled).

SpiffWorkflow keeps the machinery (one child task per instance, merged back into the activity's task) but its Camunda
flavour reads the collection as a variable name, writes the element values back into it and rewrites its task spec
while running. Here the spec never changes: what an activity is working through lives in its task's internal data."""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.task import TaskState

from processes import expressions
from processes.core import spiff
from processes.core.feature import Feature

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
CAMUNDA7, CAMUNDA8 = "camunda7", "camunda8"
# The built-in counters by dialect: (instances, active, completed).
COUNTERS = {
    CAMUNDA7: ("nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances"),
    CAMUNDA8: ("numberOfInstances", "numberOfActiveInstances", "numberOfCompletedInstances"),
}
# Every instance is a task in the instance's state, which is loaded and saved on every step: keep it bounded.
MAX_INSTANCES = 1000
PROGRESS = "orderflow.multi_instance"  # in the activity's task: items, total, created, completed, pending
INSTANCE = "orderflow.instance"  # in an instance's task: its index and a fingerprint of the variables it started with


class MultiInstanceActivity(MultiInstanceTask, BpmnSpecMixin):
    """The activity's own task: starts the instances, merges each one's variables when it completes, evaluates the
    output element and completion condition, and completes when all are done or the condition holds (cancelling the
    instances still open). Evaluation happens when this task runs, so a failing expression is an incident on the
    activity (a retry starts the activity again) rather than an error in whoever completed an instance."""

    sequential = False
    mutates_spec = False  # state.SpecCache may share this spec between instances

    def __init__(
        self,
        wf_spec,
        bpmn_id: str,
        task_spec: str,
        collection: str | None = None,
        cardinality: str | None = None,
        element_variable: str | None = None,
        output_collection: str | None = None,
        output_element: str | None = None,
        condition: str | None = None,
        flavour: str = CAMUNDA7,
        **kwargs: Any,
    ):
        super().__init__(wf_spec, bpmn_id, task_spec, cardinality=cardinality, condition=condition, **kwargs)
        self.collection = collection
        self.element_variable = element_variable
        self.output_collection = output_collection
        self.output_element = output_element
        self.flavour = flavour

    # -- running ---------------------------------------------------------------------------------------------

    def _run_hook(self, my_task) -> bool | None:
        progress = my_task.internal_data.get(PROGRESS)
        stop = False
        if progress is None:
            progress = my_task.internal_data[PROGRESS] = self._begin(my_task)
        else:
            stop = self._settle(my_task, progress)
        if not stop and progress["completed"] < progress["total"]:
            self._start_instances(my_task, progress)
            return None  # STARTED: waits for its instances
        still_open = [c for c in spiff.instances(self, my_task) if not c.has_state(TaskState.FINISHED_MASK)]
        for instance in still_open:
            instance.cancel()
        progress["cancelled"] = len(still_open)
        return spiff.run_hook_of(MultiInstanceActivity, self, my_task)

    def _begin(self, my_task) -> dict[str, Any]:
        if self.collection is not None:
            items = self._evaluate(my_task, self.collection, {}, "collection")
            if isinstance(items, tuple):
                items = list(items)
            if not isinstance(items, list):
                raise WorkflowTaskException(
                    f"multi-instance collection '{self.collection}' is {_kind(items)}, not a list", task=my_task
                )
            total = len(items)
        else:
            items, total = None, self._evaluate(my_task, self.cardinality, {}, "loop cardinality")
            if isinstance(total, float) and total.is_integer():
                total = int(total)
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise WorkflowTaskException(
                    f"multi-instance loop cardinality '{self.cardinality}' is {total!r}, not a whole number of at "
                    "least 0",
                    task=my_task,
                )
        if total > MAX_INSTANCES:
            raise WorkflowTaskException(
                f"multi-instance would start {total} instances; at most {MAX_INSTANCES} are allowed", task=my_task
            )
        if self.output_collection:
            my_task.data[self.output_collection] = [None] * total
        return {"items": items, "total": total, "created": 0, "completed": 0, "pending": []}

    def _start_instances(self, my_task, progress: dict[str, Any]) -> None:
        if self.sequential:
            if progress["created"] == progress["completed"]:
                self._start_instance(my_task, progress, progress["created"])
        else:
            while progress["created"] < progress["total"]:
                self._start_instance(my_task, progress, progress["created"])

    def _start_instance(self, my_task, progress: dict[str, Any], index: int) -> None:
        task_spec = my_task.workflow.spec.task_specs[self.task_spec]
        if not task_spec.completed_event.is_connected(self.merge_child):
            task_spec.completed_event.connect(self.merge_child)
        instance = spiff.add_child(my_task, task_spec, TaskState.WAITING)
        instance.triggered = True
        active = 1 if self.sequential else progress["total"]
        own = self._instance_variables(progress, index, active)
        instance.data.update(own)
        instance.internal_data[INSTANCE] = {"index": index}
        spiff.update(instance)
        # Inheriting lets the activity's variables win over an instance's own; put the instance's own back.
        instance.data.update(own)
        seen = {name: _fingerprint(value) for name, value in instance.data.items() if name not in own}
        instance.internal_data[INSTANCE]["seen"] = seen
        progress["created"] += 1

    def merge_child(self, workflow, child) -> None:
        """An instance completed (SpiffWorkflow calls this from the instance's completion): take over the variables
        it set, and let the activity's task run to evaluate what follows. Evaluates nothing itself, so it cannot
        fail in the middle of someone else's completion."""
        my_task = child.parent
        progress = my_task.internal_data.get(PROGRESS)
        instance = child.internal_data.get(INSTANCE)
        if progress is None or instance is None:
            return
        own = self._own_names()
        changed = {
            name: deepcopy(value)
            for name, value in child.data.items()
            if name not in own and _fingerprint(value) != instance["seen"].get(name)
        }
        my_task.data.update(changed)
        progress["completed"] += 1
        progress["pending"].append({"index": instance["index"], "changed": changed})
        if my_task.state == TaskState.STARTED:
            spiff.set_state(my_task, TaskState.READY)

    def _settle(self, my_task, progress: dict[str, Any]) -> bool:
        """Output elements and the completion condition for the instances that completed since the last run. True
        when the condition holds."""
        stop = False
        names = COUNTERS[self.flavour]
        while progress["pending"]:
            done = progress["pending"][0]
            index = done["index"]
            open_now = sum(1 for c in spiff.instances(self, my_task) if not c.has_state(TaskState.FINISHED_MASK))
            scope = {**done["changed"], **self._instance_variables(progress, index, 1 if self.sequential else open_now)}
            if self.output_collection:
                value = self._evaluate(my_task, self.output_element, scope, "output element")
                my_task.data[self.output_collection][index] = value
                scope[self.output_collection] = my_task.data[self.output_collection]
            if self.condition and not stop:
                holds = self._evaluate(my_task, self.condition, scope, "completion condition")
                if not isinstance(holds, bool):
                    raise WorkflowTaskException(
                        f"multi-instance completion condition '{self.condition}' gave {holds!r}, not true or false "
                        f"(after instance {scope['loopCounter']}, {names[2]} = {progress['completed']})",
                        task=my_task,
                    )
                stop = holds
            progress["pending"].pop(0)
        return stop

    def _instance_variables(self, progress: dict[str, Any], index: int, active: int) -> dict[str, Any]:
        instances, active_name, completed = COUNTERS[self.flavour]
        own = {
            "loopCounter": index + 1 if self.flavour == CAMUNDA8 else index,
            instances: progress["total"],
            active_name: active,
            completed: progress["completed"],
        }
        if self.element_variable and progress["items"] is not None:
            own[self.element_variable] = deepcopy(progress["items"][index])
        return own

    def _own_names(self) -> set[str]:
        names = {"loopCounter", *COUNTERS[self.flavour]}
        if self.element_variable:
            names.add(self.element_variable)
        if self.output_collection:
            names.add(self.output_collection)  # filled by the activity, never by an instance
        return names

    def _evaluate(self, my_task, expression: str, scope: dict[str, Any], what: str) -> Any:
        try:
            return my_task.workflow.script_engine.evaluate(my_task, expression, external_context=scope)
        except Exception as exc:
            detail = exc.args[0] if exc.args else exc.__class__.__name__
            raise WorkflowTaskException(f"multi-instance {what} '{expression}': {detail}", task=my_task) from exc


class SequentialMultiInstance(MultiInstanceActivity):
    sequential = True


class ParallelMultiInstance(MultiInstanceActivity):
    sequential = False


def instance_info(task) -> dict[str, Any]:
    """For the audit trail and the inbox: which instance of a multi-instance activity `task` is (its loopCounter and
    element variable), or {} for any other task."""
    instance = task.internal_data.get(INSTANCE)
    parent = task.parent
    if instance is None or parent is None or not isinstance(parent.task_spec, MultiInstanceActivity):
        return {}
    spec = parent.task_spec
    info = {"loopCounter": task.data.get("loopCounter")}
    if spec.element_variable and spec.element_variable in task.data:
        info[spec.element_variable] = task.data[spec.element_variable]
    return {"instance": info}


class MultiInstanceConverter(BpmnTaskSpecConverter):
    FIELDS = (
        "task_spec",
        "collection",
        "cardinality",
        "element_variable",
        "output_collection",
        "output_element",
        "condition",
        "flavour",
    )

    def to_dict(self, spec) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct.update({name: getattr(spec, name) for name in self.FIELDS})
        return dct


CONVERTERS = {SequentialMultiInstance: MultiInstanceConverter, ParallelMultiInstance: MultiInstanceConverter}


# -- parsing -----------------------------------------------------------------------------------------------------

# What the BPMN standard offers besides Camunda's attributes; Camunda Modeler never writes these.
_STANDARD_ONLY = ("loopDataInputRef", "inputDataItem", "loopDataOutputRef", "outputDataItem")
ACTIVITIES = (
    "task",
    "userTask",
    "manualTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "scriptTask",
    "businessRuleTask",
    "subProcess",
    "callActivity",
    "transaction",
)


class MultiInstanceParsing:
    """Mixed into every activity's parser (see `with_multi_instance`): reads the multi-instance marker as Camunda 7
    and 8 write it. A variant orderflow cannot run is refused at deploy, naming the element."""

    def _add_multiinstance_task(self, loop_characteristics) -> None:
        settings = read_loop_characteristics(self, loop_characteristics)
        original = self.spec.task_specs.pop(self.task.name)
        sequential = (loop_characteristics.get("isSequential") or "").strip() == "true"
        spec_class = SequentialMultiInstance if sequential else ParallelMultiInstance
        self.task = spec_class(
            self.spec,
            original.name,
            task_spec="",
            lane=original.lane,
            bpmn_name=original.bpmn_name,
            description=f"{'Sequential' if sequential else 'Parallel'} multi-instance",
            **settings,
        )
        spiff.copy_task_attrs(self, original, loop_characteristics)


def read_loop_characteristics(parser, loop) -> dict[str, Any]:
    """The settings of a `bpmn:multiInstanceLoopCharacteristics`, checked: expressions parse, names are variable
    names, and exactly one way of counting the instances is given."""

    def refuse(message: str):
        parser.raise_validation_exception(f"multi-instance: {message}")

    for name in _STANDARD_ONLY:
        if loop.find(f"{{{BPMN_NS}}}{name}") is not None:
            refuse(
                f"bpmn:{name} is not supported; use camunda:collection and camunda:elementVariable (Camunda 7) or "
                "zeebe:loopCharacteristics inputCollection and inputElement (Camunda 8)"
            )
    cardinality = _text(loop.find(f"{{{BPMN_NS}}}loopCardinality"))
    condition = _text(loop.find(f"{{{BPMN_NS}}}completionCondition"))
    zeebe = loop.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}loopCharacteristics")
    if zeebe is not None:
        settings = {
            "flavour": CAMUNDA8,
            "collection": _attribute(zeebe, "inputCollection"),
            "element_variable": _attribute(zeebe, "inputElement"),
            "output_collection": _attribute(zeebe, "outputCollection"),
            "output_element": _attribute(zeebe, "outputElement"),
        }
        if cardinality is not None:
            refuse("Camunda 8 has no loop cardinality; give an inputCollection instead, e.g. =for i in 1..3 return i")
        if settings["collection"] is None:
            refuse("zeebe:loopCharacteristics needs an inputCollection, the list to run once per item (e.g. =items)")
        if (settings["output_collection"] is None) != (settings["output_element"] is None):
            refuse("outputCollection and outputElement go together: set both (e.g. results and =result) or neither")
    else:
        settings = {
            "flavour": CAMUNDA7,
            "collection": _attribute(loop, f"{{{CAMUNDA_NS}}}collection"),
            "element_variable": _attribute(loop, f"{{{CAMUNDA_NS}}}elementVariable"),
        }
        if settings["collection"] is not None and cardinality is not None:
            refuse("set either camunda:collection or a loop cardinality, not both")
        if settings["collection"] is None and cardinality is None:
            refuse(
                "it needs camunda:collection, the list to run once per item (${items} or a variable name), or a "
                "loop cardinality (Camunda 8: zeebe:loopCharacteristics inputCollection)"
            )
        if settings["element_variable"] is not None and settings["collection"] is None:
            refuse("camunda:elementVariable needs camunda:collection, the list whose items it holds")
    for key, what in (("element_variable", "element variable"), ("output_collection", "output collection")):
        name = settings.get(key)
        if name is not None and not name.isidentifier():
            refuse(f"{what} '{name}' is not a variable name")
    expressions_to_check = {
        "collection": settings["collection"],
        "loop cardinality": cardinality,
        "completion condition": condition,
        "output element": settings.get("output_element"),
    }
    for what, source in expressions_to_check.items():
        if source is not None:
            try:
                expressions.check(source)
            except expressions.ExpressionError as exc:
                refuse(f"{what} '{source}': {exc}")
    return {**settings, "cardinality": cardinality, "condition": condition}


def with_multi_instance(overrides: dict, defaults: dict) -> dict:
    """Parser classes by tag (as in `OVERRIDE_PARSER_CLASSES`), with every activity's parser reading Camunda's
    multi-instance markers. `defaults` supplies the activities `overrides` leaves to SpiffWorkflow."""
    classes = dict(overrides)
    for local_name in ACTIVITIES:
        tag = f"{{{BPMN_NS}}}{local_name}"
        entry = overrides.get(tag) or defaults.get(tag)
        if entry is None:
            continue
        parser_class, spec_class = entry
        if not issubclass(parser_class, TaskParser) or issubclass(parser_class, MultiInstanceParsing):
            continue
        reading = type(f"MultiInstance{parser_class.__name__}", (MultiInstanceParsing, parser_class), {})
        classes[tag] = (reading, spec_class)
    return classes


def _text(element) -> str | None:
    text = (element.text or "").strip() if element is not None else ""
    return text or None


def _attribute(element: etree._Element, name: str) -> str | None:
    value = (element.get(name) or "").strip()
    return value or None


def _fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({str(value)[:60]})"


class MultiInstance(Feature):
    """Multi-instance markers as Camunda 7 and 8 draw them, on every activity (see the module's docstring)."""

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        return with_multi_instance(classes, defaults)

    def converters(self) -> dict:
        return CONVERTERS
