"""Call activities: which variables a called process gets and which come back, as Camunda 7 and 8 define it.

SpiffWorkflow copies every variable into the called process and replaces the caller's variables with everything
the called process ends with. Camunda does neither by default in version 7, and something in between in version 8:

- Camunda 7 (the diagram declares the `camunda` namespace): the called process gets only what `camunda:in` passes
  and the caller gets back only what `camunda:out` returns; without them, nothing. `source`/`target` copy one
  variable (a missing source is null), `sourceExpression` computes one (for `camunda:out` in the called process,
  when it ends), `variables="all"` copies all, `local="true"` limits a mapping to the call activity's own
  (input-mapped) variables. `camunda:in businessKey="#{execution.processBusinessKey}"` gives the called process a
  business key (its expressions read it as `execution.businessKey`); without it the called process has none.
- Camunda 8 (`zeebe:calledElement`): `propagateAllParentVariables` (default true) passes all variables, else only
  the call activity's input mappings; `propagateAllChildVariables` (default true) returns all variables of the
  called process; output mappings (`zeebe:ioMapping`) are applied on top of that, and are all that returns when it
  is false.
- Plain BPMN (neither namespace): all variables in, all variables back, as before.

Input mappings (`camunda:inputOutput`, `zeebe:ioMapping`) are local variables of the call activity: passed on as
above, never left in the caller."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.serializer.default.task_spec import SubWorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import CallActivity as SpiffCallActivity
from SpiffWorkflow.camunda.parser.task_spec import CallActivityParser as CamundaCallActivityParser

from processes import expressions
from processes.core.feature import Feature
from processes.expressions import mappings
from processes.expressions.script_engine import BUSINESS_KEY

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
CAMUNDA7, CAMUNDA8, PLAIN = "camunda7", "camunda8", "bpmn"
VARIABLES = "variableMapping"  # in the task spec's extensions
_MAPPING_ATTRIBUTES = ("source", "sourceExpression", "target", "variables", "local", "businessKey")


class CallActivityParser(CamundaCallActivityParser):
    """Keeps a call activity's variable mappings (SpiffWorkflow ignores them)."""

    def parse_extensions(self, node=None) -> dict:
        from processes.deployment.parser import io_mappings  # parser imports this module

        extensions = super().parse_extensions(node)
        node = self.node if node is None else node
        container = node.find(f"{{{BPMN_NS}}}extensionElements")
        called = container.find(f"{{{ZEEBE_NS}}}calledElement") if container is not None else None
        mapping: dict[str, Any] = {"in": [], "out": []}
        for direction in ("in", "out"):
            for element in container.findall(f"{{{CAMUNDA_NS}}}{direction}") if container is not None else []:
                mapping[direction].append({a: element.get(a) for a in _MAPPING_ATTRIBUTES if element.get(a)})
        if called is not None:
            mapping["dialect"] = CAMUNDA8
            mapping["propagateAllParentVariables"] = called.get("propagateAllParentVariables", "true") != "false"
            mapping["propagateAllChildVariables"] = called.get("propagateAllChildVariables", "true") != "false"
        elif mapping["in"] or mapping["out"] or CAMUNDA_NS in node.nsmap.values():
            mapping["dialect"] = CAMUNDA7
        else:
            mapping["dialect"] = PLAIN
        extensions[VARIABLES] = mapping
        extensions.update(io_mappings(node))
        return extensions


class MappedCallActivity(SpiffCallActivity):
    """A call activity that passes variables as the diagram's dialect says (see the module's docstring). Its own
    class name: SpiffWorkflow's serializer knows classes by name, and embedded subprocesses are its CallActivity."""

    def _mapping(self) -> dict[str, Any]:
        return (self.extensions or {}).get(VARIABLES) or {"dialect": PLAIN}

    def copy_data(self, my_task, subworkflow) -> None:
        mapping = self._mapping()
        if mapping["dialect"] == PLAIN:
            super().copy_data(my_task, subworkflow)
            return
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        start.set_data(**deepcopy(self.child_variables(my_task, mapping)))

    def child_variables(self, my_task, mapping: dict[str, Any]) -> dict[str, Any]:
        """What the called process starts with; also records its business key (Camunda 7)."""
        parent = my_task.data
        local = self._evaluate(my_task, lambda: mappings.inputs(self.extensions, parent), "input mapping")
        if mapping["dialect"] == CAMUNDA8:
            return {**parent, **local} if mapping.get("propagateAllParentVariables", True) else dict(local)
        visible = {**parent, **local}
        child: dict[str, Any] = {}
        business_key = None
        for entry in mapping.get("in", []):
            scope = local if entry.get("local") == "true" else visible
            if entry.get("businessKey"):
                value = self._expression(my_task, entry["businessKey"], visible, "camunda:in businessKey")
                business_key = None if value is None else str(value)
            elif entry.get("variables") == "all":
                child.update(scope)
            elif entry.get("target"):
                child[entry["target"]] = self._source(my_task, entry, scope, "camunda:in")
        my_task.internal_data[BUSINESS_KEY] = {"value": business_key}
        return child

    def update_data(self, my_task, subworkflow) -> None:
        mapping = self._mapping()
        if mapping["dialect"] == PLAIN:
            super().update_data(my_task, subworkflow)
            return
        parent = my_task.data
        ended = subworkflow.last_task
        child = deepcopy(ended.data) if ended is not None else {}
        local: dict[str, Any] = {}  # what stays in the call activity's own scope, for its output mappings only
        if mapping["dialect"] == CAMUNDA8:
            returned = dict(child) if mapping.get("propagateAllChildVariables", True) else {}
        else:
            returned = {}
            for entry in mapping.get("out", []):
                if entry.get("variables") == "all":
                    values = child
                elif entry.get("target"):
                    values = {entry["target"]: self._source(ended or my_task, entry, child, "camunda:out", my_task)}
                else:
                    continue
                (local if entry.get("local") == "true" else returned).update(values)
        # A variable the call activity's input mappings made is its own: a value for it lands there, not in the caller.
        own = {str(m["target"]).split(".")[0] for m in (self.extensions or {}).get("inputs", [])}
        local.update({name: returned.pop(name) for name in own & returned.keys()})
        if mapping["dialect"] == CAMUNDA8:
            scope = {**parent, **child}
        else:
            scope = {**parent, **returned, **local}
        produced = self._evaluate(my_task, lambda: mappings.outputs(self.extensions, scope), "output mapping")
        my_task.data = {**parent, **returned, **(produced or {})}

    # -- evaluation ----------------------------------------------------------------------------------------

    def _source(self, task, entry: dict[str, Any], scope: dict[str, Any], what: str, owner=None) -> Any:
        if entry.get("source"):
            return deepcopy(scope.get(entry["source"]))
        if entry.get("sourceExpression"):
            return self._expression(task, entry["sourceExpression"], scope, f"{what} sourceExpression", owner)
        return None

    def _expression(self, task, source: str, scope: dict[str, Any], what: str, owner=None) -> Any:
        """An expression with the task's `execution` and the registered beans; a failure is an incident on the
        call activity (`owner`, else `task`)."""
        try:
            return task.workflow.script_engine.evaluate(task, source, external_context=scope)
        except WorkflowTaskException as exc:
            raise WorkflowTaskException(f"{what} '{source}' failed: {exc}", task=owner or task) from exc

    def _evaluate(self, my_task, compute, what: str) -> dict[str, Any]:
        try:
            return compute() or {}
        except expressions.ExpressionError as exc:
            raise WorkflowTaskException(f"{what} of the call activity failed: {exc}", task=my_task) from exc


# Serialized like SpiffWorkflow's own call activity (the mappings travel in the extensions).
CONVERTERS = {MappedCallActivity: SubWorkflowConverter}


class CallActivities(Feature):
    """Call activities with Camunda 7 and 8 variable mappings (see the module's docstring)."""

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        return {**classes, full_tag("callActivity"): (CallActivityParser, MappedCallActivity)}

    def converters(self) -> dict:
        return CONVERTERS
