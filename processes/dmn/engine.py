"""Evaluating a decision and, first, the decisions it requires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..feel import to_feel, to_json
from ..feel.functions import EvalContext, Scope
from .errors import DmnDecisionError
from .model import Decision, DecisionService, DmnModel, conform, fail
from .reader import variant


@dataclass
class DecisionResult:
    """The outcome of one decision.

    ``result`` is JSON-friendly (numbers as int/float, dates and durations as ISO strings): one output column ->
    its value, several -> an object keyed by output name, COLLECT / RULE ORDER / OUTPUT ORDER -> a list, no match ->
    null (or the default outputs). ``matched_rules`` are the ids of the rules that make up the result (UNIQUE,
    FIRST, PRIORITY: one; ANY: every matching rule; the list policies and COLLECT: all, in result order) and
    ``outputs`` their output values, one object per rule. ``trace`` lists the required decisions evaluated first
    (id, name, result, matchedRules), in evaluation order. ``value`` is the result as a FEEL value, at full
    precision (Decimal, date, ...).
    """

    decision_id: str
    decision_name: str
    result: Any
    matched_rules: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    value: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The REST shape: decision, result, matchedRules (plus outputs and trace)."""
        return {
            "decision": self.decision_id,
            "decisionName": self.decision_name,
            "result": self.result,
            "matchedRules": list(self.matched_rules),
            "outputs": self.outputs,
            "trace": self.trace,
        }


class _Evaluation:
    """One evaluation of a decision graph: the caller's variables as FEEL values, results of decisions so far."""

    __slots__ = ("variables", "values", "base", "ctx", "done", "trace")

    def __init__(self, decision: Decision, variables: Mapping[str, Any], types: Scope | None = None) -> None:
        self.variables = variables
        self.values = {name: to_feel(variables[name]) for name in decision.needed if name in variables}
        self.ctx = EvalContext()
        self.base = Scope(self.values, types, self.ctx)
        self.done: dict[str, tuple[Any, list, list]] = {}
        self.trace: list[dict[str, Any]] = []

    def run(self, decision: Decision, top: bool = False) -> tuple[Any, list, list]:
        done = self.done.get(decision.id)
        if done is not None:
            return done
        own: dict[str, Any] = {}
        for required in decision.required_decisions:
            value = self.run(required)[0]
            own[required.id] = value
            own[required.name] = value
        for data in decision.required_inputs:
            if data.name not in self.variables:
                if data.name not in decision.reads:
                    continue  # drawn in the diagram only (as Camunda 7 modelers do): nothing reads it
                raise fail(decision.owner, f"required input {data.name!r} was not given", data.id)
            if data.type is not None and data.name in self.values:
                self.values[data.name] = conform(
                    data.type, self.values[data.name], decision.owner, f"input data {data.name!r}", data.id, True
                )
        for bkm in decision.bkms:
            own[bkm.name] = bkm.function
        scope = Scope(own, self.base, self.ctx) if own else self.base
        outcome = decision.decide(scope)
        self.done[decision.id] = outcome
        if not top:
            value, rules, _ = outcome
            self.trace.append(
                {
                    "id": decision.id,
                    "name": decision.name,
                    "result": to_json(value),
                    "matchedRules": [r.id for r in rules],
                }
            )
        return outcome


def evaluate(model: DmnModel, decision_id: str, variables: Mapping[str, Any] | None = None) -> DecisionResult:
    """Evaluate a decision (by id or name) and the decisions it requires against the caller's variables.

    Raises DmnDecisionError (hit policy violated, wrong type, required input missing, FEEL error) naming the decision,
    NotFound for an unknown decision.
    """
    variables = variables if variables is not None else {}
    if not isinstance(variables, Mapping):
        raise DmnDecisionError(f"variables must be an object, not {type(variables).__name__}")
    service = model.service(decision_id) if decision_id not in model.decisions else None
    if service is not None:
        return _evaluate_service(model, service, variables)
    decision = model.decision(decision_id)
    extra = None
    for key in variables:
        if type(key) is str and model.relevant(key):
            extra = (extra or set()) | {key}
    if extra:
        model = variant(model, frozenset(extra))
        decision = model.decisions[decision.id]
    evaluation = _Evaluation(decision, variables, model.types)
    try:
        value, rules, outs = evaluation.run(decision, top=True)
    except RecursionError as exc:
        raise DmnDecisionError(
            f"{decision.owner.label}: evaluation nested too deeply", decision_id=decision.id
        ) from exc
    names = decision.output_names
    return DecisionResult(
        decision_id=decision.id,
        decision_name=decision.name,
        result=to_json(value),
        matched_rules=[r.id for r in rules],
        outputs=[{name: to_json(v) for name, v in zip(names, out, strict=True)} for out in outs],
        trace=evaluation.trace,
        value=value,
    )


def _evaluate_service(model: DmnModel, service: DecisionService, variables: Mapping[str, Any]) -> DecisionResult:
    """A decision service invoked on its own: its parameters (input data and input decisions) by name from the
    variables (a missing one is null); the result is a context of its output decisions' values."""
    params = {name: to_feel(variables.get(name)) for name in service.function.params}
    try:
        outputs = service.outputs_for(params, EvalContext())
    except RecursionError as exc:
        raise DmnDecisionError(f"{service.owner.label}: evaluation nested too deeply", decision_id=service.id) from exc
    return DecisionResult(
        decision_id=service.id,
        decision_name=service.name,
        result=to_json(outputs),
        outputs=[{name: to_json(v) for name, v in outputs.items()}],
        value=outputs,
    )
