"""Business rule tasks on orderflow's own DMN engine (SpiffWorkflow's evaluates one decision per file and treats
most hit policies as "first match"; see SPIFFWORKFLOW-NOTES.md).

A business rule task names a decision (`camunda:decisionRef` or `zeebe:calledDecision decisionId`). When the task
runs, the engine step evaluates the latest deployed version of that decision, records the evaluation in the audit
trail, and maps the result into a variable as Camunda does (`camunda:resultVariable` + `camunda:mapDecisionResult`,
or `zeebe:calledDecision resultVariable`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser
from sqlalchemy import bindparam, select

from processes import dmn
from processes.core import spiff
from processes.core.feature import Feature
from processes.core.models import DecisionDefinition
from processes.deployment.parser import ServiceTaskParser, implementation_topic
from processes.errors import OrderflowError

ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MAPPINGS = ("singleEntry", "singleResult", "collectEntries", "resultList")


class DecisionError(OrderflowError):
    """A decision could not be evaluated or its result does not fit the task's mapping."""

    status = 422
    title = "Decision failed"


class DecisionTask(ScriptEngineTask, BpmnSpecMixin):
    """A business rule task: evaluates a deployed decision and stores the mapped result."""

    def __init__(self, wf_spec, bpmn_id, decision_ref, result_variable=None, map_decision_result=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.decision_ref = decision_ref
        self.result_variable = result_variable
        self.map_decision_result = map_decision_result

    def _execute(self, task) -> bool:
        decide: Callable | None = spiff.decide_of(task)
        if decide is None:
            raise WorkflowTaskException("decisions can only run inside an orderflow engine step", task=task)
        try:
            outcome = decide(task, self.decision_ref)
            if self.result_variable:
                task.data[self.result_variable] = map_result(outcome, self.map_decision_result)
        except DecisionError as exc:
            raise WorkflowTaskException(f"decision '{self.decision_ref}': {exc}", task=task, exception=exc) from exc
        return True


def map_result(outcome: dict[str, Any], mapping: str | None) -> Any:
    """Camunda 7's mapDecisionResult over the matched rules' outputs; with no mapping (Camunda 8), the decision's
    result as DMN defines it."""
    rules: list[dict[str, Any]] = outcome["ruleOutputs"]
    if mapping is None:
        return outcome["result"]
    if mapping == "resultList":
        return rules
    if mapping == "singleResult":
        if len(rules) > 1:
            raise DecisionError(f"mapDecisionResult singleResult, but {len(rules)} rules matched")
        return rules[0] if rules else None
    if mapping == "collectEntries":
        if any(len(r) > 1 for r in rules):
            raise DecisionError("mapDecisionResult collectEntries needs a decision with a single output")
        return [next(iter(r.values())) for r in rules if r]
    if mapping == "singleEntry":
        if len(rules) > 1 or any(len(r) > 1 for r in rules):
            raise DecisionError("mapDecisionResult singleEntry needs at most one matched rule with a single output")
        return next(iter(rules[0].values())) if rules and rules[0] else None
    raise DecisionError(f"unknown mapDecisionResult '{mapping}'")


class DecisionTaskParser(ServiceTaskParser):
    """A business rule task that names a decision runs it in the engine; one implemented like a service task
    (`camunda:class`, `camunda:expression`, `camunda:delegateExpression`, `camunda:type="external"` with a topic,
    Camunda 8 `zeebe:taskDefinition`) is a job, as Camunda runs it: a worker or connector decides."""

    def parse_extensions(self, node=None) -> dict:
        if isinstance(self.task, ServiceTask):
            return super().parse_extensions(node)
        return CamundaTaskParser.parse_extensions(self, node)

    @staticmethod
    def get_decision_ref(node) -> str | None:
        """The decision a business rule task names (SpiffWorkflow's parser collects these as dependencies)."""
        called = node.find(f".//{{{ZEEBE_NS}}}calledDecision")
        if called is not None:
            return called.get("decisionId")
        return node.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef")

    def create_task(self):
        node = self.node
        camunda = f"{{{CAMUNDA_MODEL_NS}}}"
        called = node.find(f".//{{{ZEEBE_NS}}}calledDecision")
        if called is not None:
            ref, result_variable, mapping = called.get("decisionId"), called.get("resultVariable"), None
        else:
            ref = node.get(camunda + "decisionRef")
            result_variable = node.get(camunda + "resultVariable")
            mapping = node.get(camunda + "mapDecisionResult") or "resultList"
        if not ref and implementation_topic(ServiceTaskParser.parse_extensions(self)) is not None:
            return ServiceTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        if not ref:
            raise ValidationException(
                "business rule task names no decision: set camunda:decisionRef (or zeebe:calledDecision decisionId) "
                'to the id of a deployed DMN decision, or implement it as a job (camunda:type="external" and '
                "camunda:topic, camunda:class, camunda:expression, camunda:delegateExpression, zeebe:taskDefinition)",
                node=node,
                file_name=self.filename,
            )
        if ref.strip().startswith(("${", "#{", "=")):
            raise ValidationException(
                f"business rule task: the decision is named by an expression ({ref}); name it directly",
                node=node,
                file_name=self.filename,
            )
        if mapping not in (None, *MAPPINGS):
            raise ValidationException(
                f"camunda:mapDecisionResult '{mapping}' is not one of {', '.join(MAPPINGS)}",
                node=node,
                file_name=self.filename,
            )
        return DecisionTask(
            self.spec,
            self.bpmn_id,
            decision_ref=ref,
            result_variable=result_variable,
            map_decision_result=mapping,
            **self.bpmn_attributes,
        )


class DecisionTaskConverter(BpmnTaskSpecConverter):
    def to_dict(self, spec):
        dct = self.get_default_attributes(spec)
        dct["decision_ref"] = spec.decision_ref
        dct["result_variable"] = spec.result_variable
        dct["map_decision_result"] = spec.map_decision_result
        return dct


class ModelCache:
    """Compiled DMN models per decision definition version (a version never changes, so entries never go stale)."""

    def __init__(self, size: int = 256):
        self._size = size
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, definition_id: str, compile_model: Callable[[], Any]) -> Any:
        with self._lock:
            model = self._entries.get(definition_id)
            if model is not None:
                self._entries.move_to_end(definition_id)
                return model
        model = compile_model()
        with self._lock:
            self._entries[definition_id] = model
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return model


_decisions = DecisionDefinition.__table__
LATEST_DECISION = (
    select(_decisions.c.id, _decisions.c.version)
    .where(_decisions.c.key == bindparam("key"))
    .order_by(_decisions.c.version.desc())
    .limit(1)
)
DECISION_VERSION = select(_decisions.c.id, _decisions.c.version).where(
    _decisions.c.key == bindparam("key"), _decisions.c.version == bindparam("version")
)
DECISION_XML = select(_decisions.c.xml, _decisions.c.resource_name).where(_decisions.c.id == bindparam("id"))


def decide(engine, connection, key: str, variables: Mapping[str, Any], version: int | None = None) -> dict[str, Any]:
    """Evaluate the latest (or a given) version of a deployed decision. Returns the REST contract's shape plus
    the matched rules' outputs (for mapDecisionResult)."""
    if version is None:
        row = connection.execute(LATEST_DECISION, {"key": key}).first()
    else:
        row = connection.execute(DECISION_VERSION, {"key": key, "version": version}).first()
    if row is None:
        suffix = f" version {version}" if version is not None else ""
        raise DecisionNotFound(f"no decision with key '{key}'{suffix} is deployed")

    def compile_model():
        xml, resource = connection.execute(DECISION_XML, {"id": row.id}).one()
        return dmn.parse(xml.encode("utf-8"), resource)

    model = engine.feature(Decisions).models.get(row.id, compile_model)
    try:
        evaluated = dmn.evaluate(model, key, variables)
    except dmn.DmnDecisionError as exc:
        raise DecisionError(str(exc)) from exc
    return {
        "decision": key,
        "version": row.version,
        "result": evaluated.result,
        "matchedRules": list(evaluated.matched_rules),
        "ruleOutputs": [dict(o) for o in evaluated.outputs],
        "trace": list(evaluated.trace),
    }


class DecisionNotFound(DecisionError):
    status = 404
    title = "Not found"


def evaluate_decision(engine, key: str, variables: Mapping[str, Any], version: int | None = None) -> dict[str, Any]:
    """A decision evaluated on its own (REST, CLI): no instance, nothing recorded."""
    from processes.instances import check_variables

    # A copy when it is a mapping; anything else is refused by check_variables with its reason (a 422, not a 500).
    variables = check_variables(dict(variables) if isinstance(variables, Mapping) else variables)
    with engine.read_session() as session:
        outcome = decide(engine, session.connection(), key, variables, version)
    outcome.pop("ruleOutputs")
    return outcome


class Decisions(Feature):
    """Business rule tasks on orderflow's DMN engine; keeps the compiled models of this engine."""

    def __init__(self) -> None:
        self.models = ModelCache()

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        # orderflow's DMN engine, not SpiffWorkflow's (one decision per file, most hit policies wrong).
        return {**classes, full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask)}

    def converters(self) -> dict:
        return {DecisionTask: DecisionTaskConverter}

    def begin(self, step) -> None:
        spiff.set_decide(step.workflow, lambda task, key: self._decide(step, task, key))

    @staticmethod
    def _decide(step, task, key: str) -> dict[str, Any]:
        """A business rule task's decision, evaluated in the step and recorded in the audit trail (the rule hit
        rate is counted from these events)."""
        outcome = decide(step.engine, step.connection, key, task.data)
        step.record(
            "decision_evaluated",
            task,
            {
                "decision": key,
                "version": outcome["version"],
                "matchedRules": outcome["matchedRules"],
                "result": outcome["result"],
                "inputs": {k: v for k, v in task.data.items() if not isinstance(v, (dict, list))},
            },
        )
        return outcome
