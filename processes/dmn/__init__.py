"""orderflow's decision engine: DMN 1.1-1.5 decision models (Camunda Modeler, Trisotech, ...) evaluated with
orderflow's FEEL (``processes.feel``). It replaces SpiffWorkflow's DMN engine.

    model = parse(xml_bytes, "pricing.dmn")            # safe XML; every FEEL text compiled once; DmnParseError
    result = evaluate(model, "discount", {"amount": 1200, "tier": "gold"})
    result.result, result.matched_rules                 # JSON-friendly result, ids of the rules that made it

Supported:
* ``<decision>``s (several per file) whose logic is a decision table, a literal expression, a context, an
  invocation, a list, a relation or a function definition; ``<inputData>`` (typeRef checked, ISO strings coerced to
  dates/times/durations); ``<itemDefinition>`` (base type, allowed values, isCollection, components);
  ``<businessKnowledgeModel>`` (FEEL functions, callable from FEEL or a boxed invocation);
  ``<informationRequirement>`` graphs: required decisions are evaluated first (once each) and their results are
  visible to the requiring decision by name and by id; a required input that is not given is an error.
* Decision tables: every hit policy - UNIQUE (overlap -> error naming the rules), ANY (differing outputs -> error),
  FIRST, PRIORITY and OUTPUT ORDER (ranked by the order of the output values, column by column), RULE ORDER,
  COLLECT with SUM / MIN / MAX / COUNT or none. Input values and output values are enforced (a value outside ->
  error); typeRefs on input expressions, outputs and the decision's variable are checked; default output entries;
  Camunda's ``camunda:inputVariable`` (``cellInput``) besides ``?``.
* Result shape: one output column -> its value; several -> an object keyed by output name; COLLECT (no aggregator),
  RULE ORDER, OUTPUT ORDER -> a list; no match -> null, or the default outputs (a one-element list for the list
  policies). COUNT of nothing is 0; SUM/MIN/MAX of nothing is null, and they skip null outputs.
* Boxed conditional, filter and iterators (for / some / every); ``<decisionService>``s, callable as functions and
  on their own (``evaluate(model, service_id_or_name, params)`` gives a context of its output decisions).
* A value of the wrong type is an error (DmnDecisionError naming the decision and the input/output/rule), not DMN's
  silent null: a business rule fed the wrong type should stop, not decide something else. DMN's singleton-list
  conversions apply (a one-element list for a single value, a single value for a list).

Not supported: imports, non-FEEL expression languages (JUEL, JavaScript, ...), Java/PMML functions. A decision (or
knowledge model) that uses one, or has a FEEL syntax error, is refused on its own: ``model.refusals`` lists it as a
warning naming it and the expression, and evaluating it raises DmnDecisionError with that message. Only a file none
of whose decisions can be used is refused as a whole (DmnParseError).
"""

from .engine import DecisionResult, evaluate
from .errors import DmnDecisionError, DmnParseError
from .model import Decision, DecisionTable, DmnModel
from .reader import DMN_NAMESPACES, parse

__all__ = [
    "DMN_NAMESPACES",
    "Decision",
    "DecisionResult",
    "DecisionTable",
    "DmnDecisionError",
    "DmnModel",
    "DmnParseError",
    "evaluate",
    "parse",
]
