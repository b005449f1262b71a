"""orderflow's decision engine (processes.dmn): hit policies, types, decision graphs, parse-time problems."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from decimal import Decimal
from xml.sax.saxutils import escape

import pytest

from processes.dmn import DmnDecisionError, DmnParseError, evaluate, parse
from processes.errors import InvalidInput, NotFound
from processes.feel import compile_feel

NS = {
    "1.1": "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "1.2": "https://www.omg.org/spec/DMN/20180521/MODEL/",
    "1.3": "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "1.5": "https://www.omg.org/spec/DMN/20230324/MODEL/",
    "1.6": "https://www.omg.org/spec/DMN/20240513/MODEL/",
}


def dmn(body: str, ns: str = NS["1.3"], extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{ns}" {extra} id="defs" name="test" '
        f'namespace="http://orderflow.test/dmn">\n{body}\n</definitions>'
    ).encode()


def table(
    inputs: list,
    outputs: list,
    rules: list,
    hit: str | None = "UNIQUE",
    aggregation: str | None = None,
    decision_id: str = "decision",
    name: str = "Decision",
    requirements: str = "",
    variable: str = "",
) -> str:
    """A decision with a decision table. inputs: (expression, typeRef, inputValues); outputs: (name, typeRef,
    outputValues, default); rules: (input entries, output entries), rule ids r1, r2, ..."""
    parts = [f'<decision id="{decision_id}" name="{name}">{variable}{requirements}']
    attrs = (f' hitPolicy="{hit}"' if hit else "") + (f' aggregation="{aggregation}"' if aggregation else "")
    parts.append(f'<decisionTable id="{decision_id}_table"{attrs}>')
    for i, (expression, type_ref, values) in enumerate(inputs, 1):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        parts.append(f'<input id="{decision_id}_in{i}" label="{escape(expression)}">')
        parts.append(f"<inputExpression{type_attr}><text>{escape(expression)}</text></inputExpression>")
        if values:
            parts.append(f"<inputValues><text>{escape(values)}</text></inputValues>")
        parts.append("</input>")
    for j, (out_name, type_ref, values, default) in enumerate(outputs, 1):
        attrs = (f' name="{out_name}"' if out_name else "") + (f' typeRef="{type_ref}"' if type_ref else "")
        parts.append(f'<output id="{decision_id}_out{j}"{attrs}>')
        if values:
            parts.append(f"<outputValues><text>{escape(values)}</text></outputValues>")
        if default:
            parts.append(f"<defaultOutputEntry><text>{escape(default)}</text></defaultOutputEntry>")
        parts.append("</output>")
    for n, (entries, results) in enumerate(rules, 1):
        parts.append(f'<rule id="r{n}">')
        for k, entry in enumerate(entries):
            parts.append(f'<inputEntry id="r{n}_i{k}"><text>{escape(entry)}</text></inputEntry>')
        for k, result in enumerate(results):
            parts.append(f'<outputEntry id="r{n}_o{k}"><text>{escape(result)}</text></outputEntry>')
        parts.append("</rule>")
    parts.append("</decisionTable></decision>")
    return "\n".join(parts)


def one_table(*args, **kwargs):
    return parse(dmn(table(*args, **kwargs)))


# A shipping-fee style table reused by several hit-policy tests: two matches for a gold customer over 100.
OVERLAPPING = [
    (['"gold"', ">= 100"], ['"free"']),
    (['"gold", "silver"', "-"], ['"reduced"']),
    (["-", "< 100"], ['"standard"']),
]
TIER_AMOUNT = [("tier", "string", None), ("amount", "number", None)]


# ---------------------------------------------------------------- hit policies


def test_unique_single_match_and_no_match():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING)
    result = evaluate(model, "decision", {"tier": "silver", "amount": 500})
    assert result.result == "reduced"
    assert result.matched_rules == ["r2"]
    assert result.outputs == [{"fee": "reduced"}]
    nothing = evaluate(model, "decision", {"tier": "bronze", "amount": 500})
    assert nothing.result is None and nothing.matched_rules == []


def test_unique_overlap_is_an_error_naming_the_rules():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING)
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "gold", "amount": 150})
    message = str(err.value)
    assert "UNIQUE" in message and "r1 (row 1)" in message and "r2 (row 2)" in message
    assert "'Decision'" in message and err.value.decision_id == "decision"
    assert err.value.rule_ids == ["r1", "r2"]
    assert "amount=number 150" in message
    assert isinstance(err.value, InvalidInput)  # the REST layer answers 422


def test_missing_hit_policy_means_unique():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING, hit=None)
    assert model.decision("decision").hit_policy == "UNIQUE"
    with pytest.raises(DmnDecisionError, match="UNIQUE"):
        evaluate(model, "decision", {"tier": "gold", "amount": 150})


def test_first_takes_the_first_match_in_rule_order():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING, hit="FIRST")
    result = evaluate(model, "decision", {"tier": "gold", "amount": 150})
    assert result.result == "free" and result.matched_rules == ["r1"]


def test_any_with_equal_outputs_and_with_conflicting_outputs():
    rules = [
        (['"gold"', ">= 100"], ['"free"']),
        (['"gold"', ">= 50"], ['"free"']),
        (["-", ">= 1000"], ['"reduced"']),
    ]
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], rules, hit="ANY")
    agreed = evaluate(model, "decision", {"tier": "gold", "amount": 150})
    assert agreed.result == "free" and agreed.matched_rules == ["r1", "r2"]
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "gold", "amount": 1500})
    assert "ANY" in str(err.value) and "r1" in str(err.value) and "r3" in str(err.value)
    assert "different outputs" in str(err.value)


def test_priority_picks_the_output_value_listed_first():
    outputs = [("status", "string", '"declined", "review", "approved"', None)]
    rules = [
        (["-", "< 1000"], ['"approved"']),
        (['"new"', "-"], ['"review"']),
        (["-", "> 5000"], ['"declined"']),
    ]
    model = one_table([("customer", "string", None), ("amount", "number", None)], outputs, rules, hit="PRIORITY")
    assert evaluate(model, "decision", {"customer": "old", "amount": 10}).result == "approved"
    result = evaluate(model, "decision", {"customer": "new", "amount": 10})
    assert result.result == "review" and result.matched_rules == ["r2"]
    assert evaluate(model, "decision", {"customer": "new", "amount": 9000}).result == "declined"


def test_priority_with_several_outputs_ranks_column_by_column():
    outputs = [
        ("status", "string", '"declined", "approved"', None),
        ("rate", "string", '"high", "low"', None),
    ]
    rules = [
        (["-"], ['"approved"', '"low"']),
        (["-"], ['"approved"', '"high"']),
        ([">= 10"], ['"declined"', '"low"']),
    ]
    model = one_table([("score", "number", None)], outputs, rules, hit="PRIORITY")
    assert evaluate(model, "decision", {"score": 1}).result == {"status": "approved", "rate": "high"}
    assert evaluate(model, "decision", {"score": 11}).result == {"status": "declined", "rate": "low"}


def test_rule_order_lists_every_match_in_rule_order():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING, hit="RULE ORDER")
    result = evaluate(model, "decision", {"tier": "gold", "amount": 50})
    assert result.result == ["reduced", "standard"] and result.matched_rules == ["r2", "r3"]
    assert evaluate(model, "decision", {"tier": "bronze", "amount": 500}).result is None


def test_output_order_sorts_by_output_values():
    outputs = [("fee", "string", '"standard", "reduced", "free"', None)]
    model = one_table(TIER_AMOUNT, outputs, OVERLAPPING, hit="OUTPUT ORDER")
    result = evaluate(model, "decision", {"tier": "gold", "amount": 50})
    assert result.result == ["standard", "reduced"] and result.matched_rules == ["r3", "r2"]
    result = evaluate(model, "decision", {"tier": "gold", "amount": 150})
    assert result.result == ["reduced", "free"]


def test_output_order_with_several_outputs_keeps_rule_order_among_equals():
    outputs = [("level", "number", "3, 2, 1", None), ("note", "string", None, None)]
    rules = [(["-"], ["1", '"a"']), (["-"], ["2", '"b"']), (["-"], ["1", '"c"']), (["-"], ["3", '"d"'])]
    model = one_table([("x", None, None)], outputs, rules, hit="OUTPUT ORDER")
    result = evaluate(model, "decision", {"x": 1})
    assert [r["note"] for r in result.result] == ["d", "b", "a", "c"]
    assert result.matched_rules == ["r4", "r2", "r1", "r3"]


def test_collect_without_aggregator_lists_the_outputs():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING, hit="COLLECT")
    assert evaluate(model, "decision", {"tier": "gold", "amount": 150}).result == ["free", "reduced"]
    assert evaluate(model, "decision", {"tier": "bronze", "amount": 150}).result is None


BONUS = [([">= 1"], ["100"]), ([">= 2"], ["200"]), ([">= 3"], ["300.5"]), ([">= 3"], ["null"])]


@pytest.mark.parametrize(
    ("aggregation", "years", "expected"),
    [
        ("SUM", 3, 600.5),
        ("MIN", 3, 100),
        ("MAX", 3, 300.5),
        ("COUNT", 3, 4),
        ("SUM", 1, 100),
        ("SUM", 0, None),
        ("MIN", 0, None),
        ("MAX", 0, None),
        ("COUNT", 0, 0),
    ],
)
def test_collect_aggregations(aggregation, years, expected):
    model = one_table([("years", "number", None)], [("bonus", "number", None, None)], BONUS, "COLLECT", aggregation)
    result = evaluate(model, "decision", {"years": years})
    assert result.result == expected
    assert type(result.result) is type(expected)
    assert len(result.matched_rules) == {3: 4, 1: 1, 0: 0}[years]


def test_collect_sum_keeps_decimal_precision():
    rules = [(["-"], ["0.1"]), (["-"], ["0.2"])]
    model = one_table([("x", None, None)], [("v", None, None, None)], rules, "COLLECT", "SUM")
    result = evaluate(model, "decision", {"x": 1})
    assert result.value == Decimal("0.3") and result.result == 0.3


def test_collect_sum_of_strings_is_an_error():
    rules = [(["-"], ['"a"']), (["-"], ['"b"'])]
    model = one_table([("x", None, None)], [("v", None, None, None)], rules, "COLLECT", "SUM")
    with pytest.raises(DmnDecisionError, match="SUM needs numbers"):
        evaluate(model, "decision", {"x": 1})


def test_collect_max_of_strings_and_dates():
    rules = [(["-"], ['"pear"']), (["-"], ['"apple"'])]
    model = one_table([("x", None, None)], [("v", None, None, None)], rules, "COLLECT", "MAX")
    assert evaluate(model, "decision", {"x": 1}).result == "pear"
    rules = [(["-"], ['date("2024-05-01")']), (["-"], ['date("2023-01-01")'])]
    model = one_table([("x", None, None)], [("v", "date", None, None)], rules, "COLLECT", "MIN")
    assert evaluate(model, "decision", {"x": 1}).result == "2023-01-01"


# ---------------------------------------------------------------- defaults, input/output values, types


def test_default_output_when_no_rule_matches():
    outputs = [("fee", "string", None, '"standard"')]
    model = one_table(TIER_AMOUNT, outputs, OVERLAPPING[:2])
    result = evaluate(model, "decision", {"tier": "bronze", "amount": 5})
    assert result.result == "standard" and result.matched_rules == []
    assert evaluate(model, "decision", {"tier": "silver", "amount": 5}).result == "reduced"


def test_default_outputs_with_several_columns_and_list_policies():
    outputs = [("status", "string", None, '"declined"'), ("rate", "number", None, "amount * 0.1")]
    rules = [(['"gold"', "-"], ['"approved"', "1"])]
    model = one_table(TIER_AMOUNT, outputs, rules)
    assert evaluate(model, "decision", {"tier": "x", "amount": 50}).result == {"status": "declined", "rate": 5}
    model = one_table(TIER_AMOUNT, outputs, rules, hit="COLLECT")
    assert evaluate(model, "decision", {"tier": "x", "amount": 50}).result == [{"status": "declined", "rate": 5}]


def test_input_values_are_enforced():
    model = one_table([("tier", "string", '"gold", "silver"')], [("fee", None, None, None)], [(['"gold"'], ["1"])])
    assert evaluate(model, "decision", {"tier": "gold"}).result == 1
    assert evaluate(model, "decision", {"tier": "silver"}).result is None
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "platinum"})
    assert "input 'tier'" in str(err.value) and "not one of the input values" in str(err.value)
    assert err.value.element_id == "decision_in1"


def test_output_values_are_enforced():
    outputs = [("fee", "string", '"free", "reduced"', None)]
    model = one_table(TIER_AMOUNT, outputs, OVERLAPPING)
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "bronze", "amount": 5})
    assert "rule r3" in str(err.value) and "'fee'" in str(err.value) and "output values" in str(err.value)


def test_number_input_given_a_string_is_an_error_naming_input_and_decision():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING)
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "gold", "amount": "150"})
    message = str(err.value)
    assert "decision 'Decision'" in message and "input 'amount'" in message
    assert "expected a number, got string '150'" in message


def test_string_input_given_a_number_is_an_error():
    model = one_table(TIER_AMOUNT, [("fee", "string", None, None)], OVERLAPPING)
    with pytest.raises(DmnDecisionError, match="input 'tier'.*expected a string, got number 7"):
        evaluate(model, "decision", {"tier": 7, "amount": 1})


def test_null_input_conforms_to_every_type():
    rules = [(["null"], ['"missing"']), (["not(null)"], ['"given"'])]
    model = one_table([("amount", "number", None)], [("v", "string", None, None)], rules)
    assert evaluate(model, "decision", {"amount": None}).result == "missing"
    assert evaluate(model, "decision", {}).result == "missing"  # no input data declared: an unknown name is null


def test_date_inputs_coerce_iso_strings():
    rules = [(['< date("2024-01-01")'], ['"old"']), (['>= date("2024-01-01")'], ['"new"'])]
    model = one_table([("since", "date", None)], [("v", "string", None, None)], rules)
    assert evaluate(model, "decision", {"since": "2023-06-30"}).result == "old"
    assert evaluate(model, "decision", {"since": dt.date(2024, 6, 30)}).result == "new"
    with pytest.raises(DmnDecisionError, match="expected a date, got string '30.06.2024'"):
        evaluate(model, "decision", {"since": "30.06.2024"})
    with pytest.raises(DmnDecisionError, match="expected a date"):
        evaluate(model, "decision", {"since": "2024-06-30T10:00:00"})


@pytest.mark.parametrize(
    ("type_ref", "value", "entry"),
    [
        ("time", "10:30:00", '< time("12:00:00")'),
        ("dateTime", "2024-03-01T10:00:00Z", '< date and time("2024-03-02T00:00:00Z")'),
        ("date and time", "2024-03-01T10:00:00", '< date and time("2024-03-02T00:00:00")'),
        ("dayTimeDuration", "PT36H", '> duration("P1D")'),
        ("yearMonthDuration", "P1Y6M", '> duration("P1Y")'),
        ("boolean", True, "true"),
        ("integer", 3, "3"),
        ("long", 3, "[1..5]"),
        ("double", 2.5, "> 2"),
        ("feel:number", 2.5, "> 2"),
    ],
)
def test_typed_inputs_accept_their_values(type_ref, value, entry):
    model = one_table([("x", type_ref, None)], [("v", "boolean", None, None)], [([entry], ["true"])])
    assert evaluate(model, "decision", {"x": value}).result is True


@pytest.mark.parametrize(
    ("type_ref", "value", "message"),
    [
        ("integer", 1.5, "expected a whole number, got number 1.5"),
        ("boolean", "true", "expected a boolean, got string 'true'"),
        ("time", "25:00", "expected a time"),
        ("dayTimeDuration", "P1Y", "expected a days and time duration"),
        ("yearMonthDuration", 5, "expected a years and months duration, got number 5"),
        ("dateTime", dt.date(2024, 1, 1), "expected a date and time, got date '2024-01-01'"),
    ],
)
def test_typed_inputs_reject_other_values(type_ref, value, message):
    model = one_table([("x", type_ref, None)], [("v", None, None, None)], [(["-"], ["1"])])
    with pytest.raises(DmnDecisionError, match=message):
        evaluate(model, "decision", {"x": value})


def test_output_type_mismatch_names_rule_and_output():
    rules = [(["-"], ['"ten"'])]
    model = one_table([("x", None, None)], [("discount", "number", None, None)], rules)
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"x": 1})
    assert "rule r1 (row 1), output 'discount'" in str(err.value)
    assert "expected a number, got string 'ten'" in str(err.value)
    assert err.value.element_id == "r1"


def test_item_definitions_with_allowed_values_components_and_collections():
    body = """
    <itemDefinition name="tTier"><typeRef>string</typeRef>
      <allowedValues><text>"gold", "silver"</text></allowedValues></itemDefinition>
    <itemDefinition name="tOffer">
      <itemComponent name="tier"><typeRef>tTier</typeRef></itemComponent>
      <itemComponent name="price"><typeRef>number</typeRef></itemComponent>
    </itemDefinition>
    <itemDefinition name="tOffers" isCollection="true"><typeRef>tOffer</typeRef></itemDefinition>
    <inputData id="in_offers" name="offers"><variable name="offers" typeRef="tOffers"/></inputData>
    <decision id="cheapest" name="cheapest">
      <variable name="cheapest" typeRef="number"/>
      <informationRequirement><requiredInput href="#in_offers"/></informationRequirement>
      <literalExpression><text>min(offers.price)</text></literalExpression>
    </decision>"""
    model = parse(dmn(body))
    offers = [{"tier": "gold", "price": 12.5}, {"tier": "silver", "price": 10, "extra": "allowed"}]
    assert evaluate(model, "cheapest", {"offers": offers}).result == 10
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "cheapest", {"offers": [{"tier": "bronze", "price": 1}]})
    assert "input data 'offers'" in str(err.value) and "entry 'tier'" in str(err.value)
    assert "not one of the allowed values" in str(err.value)
    # DMN's singleton-list conversion: one offer where a list is expected is a list of one
    assert evaluate(model, "cheapest", {"offers": {"tier": "gold", "price": 1}}).result == 1
    with pytest.raises(DmnDecisionError, match="entry 'price'.*expected a number"):
        evaluate(model, "cheapest", {"offers": [{"tier": "gold", "price": "1"}]})


def test_decision_variable_type_is_checked():
    body = """<decision id="d" name="d"><variable name="d" typeRef="number"/>
      <literalExpression><text>"not a number"</text></literalExpression></decision>"""
    with pytest.raises(DmnDecisionError, match="decision 'd': result \\(number\\): expected a number"):
        evaluate(parse(dmn(body)), "d", {})


# ---------------------------------------------------------------- decision graphs, several decisions, logic kinds

GRAPH = """
<inputData id="amount_input" name="Order Amount"><variable name="Order Amount" typeRef="number"/></inputData>
<inputData id="tier_input" name="Customer Tier"><variable name="Customer Tier" typeRef="string"/></inputData>
<decision id="band" name="Amount Band">
  <variable name="Amount Band" typeRef="string"/>
  <informationRequirement><requiredInput href="#amount_input"/></informationRequirement>
  <literalExpression><text>if Order Amount &gt;= 1000 then "large" else "small"</text></literalExpression>
</decision>
<decision id="risk" name="Risk">
  <informationRequirement><requiredDecision href="#band"/></informationRequirement>
  <informationRequirement><requiredInput href="#tier_input"/></informationRequirement>
  <decisionTable id="risk_table" hitPolicy="UNIQUE">
    <input id="risk_in1" label="Band"><inputExpression typeRef="string"><text>Amount Band</text></inputExpression>
    </input>
    <input id="risk_in2" label="Tier"><inputExpression typeRef="string"><text>Customer Tier</text></inputExpression>
      <inputValues><text>"gold","silver","bronze"</text></inputValues></input>
    <output id="risk_out" name="risk" typeRef="string"/>
    <rule id="risk_r1"><inputEntry><text>"small"</text></inputEntry><inputEntry><text>-</text></inputEntry>
      <outputEntry><text>"low"</text></outputEntry></rule>
    <rule id="risk_r2"><inputEntry><text>"large"</text></inputEntry><inputEntry><text>"gold"</text></inputEntry>
      <outputEntry><text>"medium"</text></outputEntry></rule>
    <rule id="risk_r3"><inputEntry><text>"large"</text></inputEntry>
      <inputEntry><text>not("gold")</text></inputEntry><outputEntry><text>"high"</text></outputEntry></rule>
  </decisionTable>
</decision>
<decision id="approval" name="Approval Level">
  <informationRequirement><requiredDecision href="#risk"/></informationRequirement>
  <informationRequirement><requiredDecision href="#band"/></informationRequirement>
  <decisionTable id="approval_table" hitPolicy="FIRST">
    <input id="approval_in1" label="Risk"><inputExpression><text>Risk</text></inputExpression></input>
    <input id="approval_in2" label="Band (by id)"><inputExpression><text>band</text></inputExpression></input>
    <output id="approval_out1" name="level" typeRef="string"/>
    <output id="approval_out2" name="approvers" typeRef="number"/>
    <rule id="approval_r1"><inputEntry><text>"high"</text></inputEntry><inputEntry><text>-</text></inputEntry>
      <outputEntry><text>"director"</text></outputEntry><outputEntry><text>2</text></outputEntry></rule>
    <rule id="approval_r2"><inputEntry><text>"medium"</text></inputEntry><inputEntry><text>"large"</text></inputEntry>
      <outputEntry><text>"manager"</text></outputEntry><outputEntry><text>1</text></outputEntry></rule>
    <rule id="approval_r3"><inputEntry><text>-</text></inputEntry><inputEntry><text>-</text></inputEntry>
      <outputEntry><text>"none"</text></outputEntry><outputEntry><text>0</text></outputEntry></rule>
  </decisionTable>
</decision>
"""


def test_required_decisions_are_evaluated_first_and_visible_by_name_and_id():
    model = parse(dmn(GRAPH), "approval.dmn")
    assert set(model.decisions) == {"band", "risk", "approval"}
    result = evaluate(model, "approval", {"Order Amount": 1500, "Customer Tier": "silver", "unused": object()})
    assert result.result == {"level": "director", "approvers": 2}
    assert result.matched_rules == ["approval_r1"]
    assert result.decision_id == "approval" and result.decision_name == "Approval Level"
    assert result.trace == [
        {"id": "band", "name": "Amount Band", "result": "large", "matchedRules": []},
        {"id": "risk", "name": "Risk", "result": "high", "matchedRules": ["risk_r3"]},
    ]  # "band" is required twice (a diamond) and evaluated once
    assert evaluate(model, "Approval Level", {"Order Amount": 1500, "Customer Tier": "gold"}).result == {
        "level": "manager",
        "approvers": 1,
    }
    assert evaluate(model, "approval", {"Order Amount": 10, "Customer Tier": "gold"}).result["level"] == "none"
    assert json.loads(json.dumps(result.as_dict()))["matchedRules"] == ["approval_r1"]


def test_a_required_decision_result_wins_over_a_variable_of_the_same_name():
    model = parse(dmn(GRAPH))
    result = evaluate(model, "approval", {"Order Amount": 1500, "Customer Tier": "gold", "Risk": "high"})
    assert result.result["level"] == "manager"


def test_errors_in_required_decisions_name_that_decision():
    model = parse(dmn(GRAPH))
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "approval", {"Order Amount": 1500, "Customer Tier": "platinum"})
    assert err.value.decision_id == "risk" and "decision 'Risk' (risk)" in str(err.value)


def test_missing_required_input_is_an_error():
    model = parse(dmn(GRAPH))
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "approval", {"Order Amount": 1500})
    assert "required input 'Customer Tier' was not given" in str(err.value)
    assert err.value.decision_id == "risk" and err.value.element_id == "tier_input"
    with pytest.raises(DmnDecisionError, match="input data 'Order Amount' \\(number\\): expected a number"):
        evaluate(model, "band", {"Order Amount": "lots"})


def test_several_decisions_per_file_and_lookup_by_name():
    model = parse(dmn(GRAPH))
    assert model.decision("Risk") is model.decision("risk")
    assert evaluate(model, "band", {"Order Amount": 5}).result == "small"
    assert evaluate(model, "Risk", {"Order Amount": 5, "Customer Tier": "gold"}).trace[0]["id"] == "band"
    with pytest.raises(NotFound, match="no decision 'nope'.*band \\(Amount Band\\)"):
        evaluate(model, "nope", {})


def test_literal_expression_decision_returns_json_friendly_values():
    body = """<decision id="due" name="Due">
      <literalExpression typeRef="date"><text>date(ordered) + duration("P30D")</text></literalExpression>
    </decision>
    <decision id="total" name="Total">
      <literalExpression><text>{net: price * quantity, gross: price * quantity * 1.19, lines: [1, 2.5]}</text>
      </literalExpression>
    </decision>"""
    model = parse(dmn(body))
    due = evaluate(model, "due", {"ordered": "2024-01-15"})
    assert due.result == "2024-02-14" and due.value == dt.date(2024, 2, 14) and due.matched_rules == []
    total = evaluate(model, "total", {"price": Decimal("10.10"), "quantity": 3})
    assert total.result == {"net": 30.3, "gross": 36.057, "lines": [1, 2.5]}
    assert total.value["gross"] == Decimal("36.0570")
    json.dumps(total.result)


def test_context_decision_and_knowledge_models():
    body = """
    <businessKnowledgeModel id="fee_bkm" name="shipping fee">
      <encapsulatedLogic>
        <formalParameter name="weight" typeRef="number"/>
        <formalParameter name="zone" typeRef="string"/>
        <decisionTable hitPolicy="FIRST">
          <input label="zone"><inputExpression><text>zone</text></inputExpression></input>
          <input label="weight"><inputExpression><text>weight</text></inputExpression></input>
          <output name="fee"/>
          <rule id="fee_r1"><inputEntry><text>"EU"</text></inputEntry><inputEntry><text>&lt;= 2</text></inputEntry>
            <outputEntry><text>4.9</text></outputEntry></rule>
          <rule id="fee_r2"><inputEntry><text>-</text></inputEntry><inputEntry><text>-</text></inputEntry>
            <outputEntry><text>weight * 3</text></outputEntry></rule>
        </decisionTable>
      </encapsulatedLogic>
    </businessKnowledgeModel>
    <decision id="quote" name="Quote">
      <knowledgeRequirement><requiredKnowledge href="#fee_bkm"/></knowledgeRequirement>
      <context>
        <contextEntry><variable name="fee"/>
          <literalExpression><text>shipping fee(weight, zone)</text></literalExpression></contextEntry>
        <contextEntry><variable name="fee by invocation"/>
          <invocation><literalExpression><text>shipping fee</text></literalExpression>
            <binding><parameter name="zone"/><literalExpression><text>"US"</text></literalExpression></binding>
            <binding><parameter name="weight"/><literalExpression><text>weight</text></literalExpression></binding>
          </invocation></contextEntry>
        <contextEntry><variable name="total"/>
          <literalExpression><text>price + fee</text></literalExpression></contextEntry>
      </context>
    </decision>"""
    model = parse(dmn(body))
    result = evaluate(model, "quote", {"weight": 2, "zone": "EU", "price": 100})
    assert result.result == {"fee": 4.9, "fee by invocation": 6, "total": 104.9}
    with pytest.raises(DmnDecisionError, match="business knowledge model 'shipping fee'.*parameter 'weight'"):
        evaluate(model, "quote", {"weight": "heavy", "zone": "EU", "price": 100})


def test_names_with_spaces_and_punctuation():
    body = table(
        [("Customer Tier", "string", None), ("order-total", "number", None)],
        [("Approved/Declined", "string", None, None), ("Rate", "string", None, None)],
        [(['"gold"', "> 100"], ['"Approved"', '"Best"']), (["-", "-"], ['"Declined"', '"Standard"'])],
        hit="FIRST",
    )
    model = parse(dmn(body))
    result = evaluate(model, "decision", {"Customer Tier": "gold", "order-total": 150})
    assert result.result == {"Approved/Declined": "Approved", "Rate": "Best"}
    # a caller variable that contains punctuation is one name, not "order" minus "total"
    assert evaluate(model, "decision", {"Customer Tier": "gold", "order-total": 50}).result["Rate"] == "Standard"


def test_camunda_style_table_with_cell_input_and_no_input_data():
    body = """<decision id="d" name="d">
      <decisionTable id="t" hitPolicy="COLLECT">
        <input id="i" label="Items" camunda:inputVariable="items">
          <inputExpression typeRef="integer"><text>order.items</text></inputExpression></input>
        <input id="i2" label="Country"><inputExpression typeRef="string"><text>order.country</text>
          </inputExpression></input>
        <output id="o" name="flag" typeRef="string"/>
        <rule id="a"><inputEntry><text>items &gt; 10</text></inputEntry><inputEntry><text>-</text></inputEntry>
          <outputEntry><text>"bulk"</text></outputEntry></rule>
        <rule id="b"><inputEntry><text>-</text></inputEntry><inputEntry><text>cellInput != "DE"</text></inputEntry>
          <outputEntry><text>"export"</text></outputEntry></rule>
        <rule id="c"><inputEntry><text>? &gt; 0</text></inputEntry><inputEntry><text></text></inputEntry>
          <outputEntry><text>"any"</text></outputEntry></rule>
      </decisionTable></decision>"""
    model = parse(dmn(body, extra='xmlns:camunda="http://camunda.org/schema/1.0/dmn"'))
    result = evaluate(model, "d", {"order": {"items": 12, "country": "FR"}})
    assert result.result == ["bulk", "export", "any"] and result.matched_rules == ["a", "b", "c"]


@pytest.mark.parametrize("version", sorted(NS))
def test_every_dmn_version_namespace(version):
    prefix = 'xmlns:feel="http://www.omg.org/spec/FEEL/20140401"' if version == "1.1" else ""
    body = table([("x", "feel:number" if prefix else "number", None)], [("y", None, None, None)], [(["> 1"], ["x"])])
    model = parse(dmn(body, NS[version], prefix))
    assert evaluate(model, "decision", {"x": 5}).result == 5


def test_evaluation_uses_the_compiled_model_only():
    model = parse(dmn(GRAPH))
    before = compile_feel.cache_info()
    for amount in range(50):
        evaluate(model, "approval", {"Order Amount": amount * 100, "Customer Tier": "gold"})
    after = compile_feel.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


# ---------------------------------------------------------------- parse-time problems


def test_feel_syntax_errors_are_reported_with_rule_id_and_column():
    rules = [(['"gold"', "> > 5"], ['"a"']), (['"silver', "-"], ['"b"']), (["-", "-"], ["1 +"])]
    with pytest.raises(DmnParseError) as err:
        parse(dmn(table(TIER_AMOUNT, [("fee", None, None, None)], rules)), "fees.dmn")
    problems = err.value.problems
    assert [p.element_id for p in problems] == ["r1", "r2", "r3"]
    assert "rule r1 (row 1), input 'amount'" in problems[0].message and "FEEL syntax error" in problems[0].message
    assert "'> > 5'" in problems[0].message
    assert "rule r2 (row 2), input 'tier'" in problems[1].message
    assert "rule r3 (row 3), output 'fee'" in problems[2].message
    assert all(isinstance(p.line, int) and p.line > 1 for p in problems)
    assert (problems[0].file, problems[0].element_type) == ("fees.dmn", "dmn")  # Problems, as deploy-time lint
    assert str(err.value).startswith("fees.dmn: ") and "(and 2 more problems)" in str(err.value)
    assert [p.element_id for p in err.value.as_problems()] == ["r1", "r2", "r3"]


def test_syntax_errors_in_expressions_and_value_lists_are_reported():
    inputs = [("amount >", "number", None), ("tier", "string", '"a", "b')]
    outputs = [("fee", None, '"x" "y"', "1 *")]
    with pytest.raises(DmnParseError) as err:
        parse(dmn(table(inputs, outputs, [(["-", "-"], ['"x"'])])))
    messages = " | ".join(p.message for p in err.value.problems)
    assert "input 'amount >'" in messages and "input values of 'tier'" in messages
    assert "output values of 'fee'" in messages and "default of output 'fee'" in messages
    assert {p.element_id for p in err.value.problems} == {"decision_in1", "decision_in2", "decision_out1"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hit": "SOMETIMES"}, "unknown hit policy 'SOMETIMES'"),
        ({"hit": "FIRST", "aggregation": "SUM"}, "aggregation SUM needs hit policy COLLECT"),
        ({"hit": "COLLECT", "aggregation": "AVG"}, "unknown aggregation 'AVG'"),
        ({"hit": "PRIORITY"}, "hit policy PRIORITY needs output values"),
    ],
)
def test_table_problems(kwargs, message):
    with pytest.raises(DmnParseError, match=message):
        parse(dmn(table(TIER_AMOUNT, [("fee", None, None, None)], OVERLAPPING, **kwargs)))


def test_each_decision_with_a_problem_is_refused_on_its_own():
    body = (
        table(
            TIER_AMOUNT,
            [("a", None, None, None), ("a", None, None, None)],
            [(["-"], ["1", "2"])],
            requirements='<informationRequirement><requiredDecision href="#ghost"/></informationRequirement>',
            variable='<variable name="Decision" typeRef="tUnknown"/>',
        )
        + '<decision id="js" name="js"><literalExpression expressionLanguage="javascript"><text>1</text>'
        + "</literalExpression></decision>"
        + '<decision id="typo" name="typo"><literalExpression><text>1 +* 2</text></literalExpression></decision>'
        + '<decision id="fine" name="fine"><literalExpression><text>1 + 2</text></literalExpression></decision>'
    )
    model = parse(dmn(body))
    messages = "\n".join(p.message for p in model.refusals)
    assert "two outputs are named 'a'" in messages
    assert "rule r1 (row 1) has 1 input and 2 output entries; the table has 2 inputs" in messages
    assert "requires decision 'ghost', which is not in this file" in messages
    assert "unknown type 'tUnknown'" in messages
    assert "expression language 'javascript' is not supported" in messages
    assert {p.severity for p in model.refusals} == {"warning"}
    assert evaluate(model, "fine", {}).result == 3
    with pytest.raises(
        DmnDecisionError, match=r"decision 'typo': cannot be evaluated: .*FEEL syntax error in '1 \+\* 2'"
    ):
        evaluate(model, "typo", {})
    with pytest.raises(DmnDecisionError, match="decision 'js': cannot be evaluated: .*'javascript'"):
        evaluate(model, "js", {})


def test_a_file_whose_decisions_all_have_problems_is_refused_with_every_problem():
    body = (
        '<decision id="loop1" name="loop1"><informationRequirement><requiredDecision href="#loop2"/>'
        + "</informationRequirement><literalExpression><text>1</text></literalExpression></decision>"
        + '<decision id="loop2" name="loop2"><informationRequirement><requiredDecision href="#loop1"/>'
        + "</informationRequirement><literalExpression><text>2</text></literalExpression></decision>"
        + '<decision id="js" name="js"><literalExpression expressionLanguage="javascript"><text>1</text>'
        + "</literalExpression></decision>"
    )
    with pytest.raises(DmnParseError) as err:
        parse(dmn(body))
    messages = "\n".join(p.message for p in err.value.problems)
    assert "required decisions form a cycle: loop1 -> loop2 -> loop1" in messages
    with pytest.raises(DmnParseError) as err:
        parse(
            dmn(
                '<decision id="js" name="js"><literalExpression expressionLanguage="javascript"><text>1</text>'
                "</literalExpression></decision>"
            )
        )
    assert "expression language 'javascript' is not supported" in str(err.value)


def test_a_decision_without_logic_fails_when_evaluated():
    model = parse(dmn('<decision id="empty" name="empty"/>'))
    with pytest.raises(DmnDecisionError, match="has no decision logic"):
        evaluate(model, "empty", {})


# ---------------------------------------------------------------- hostile XML

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="&lol3;" namespace="x"/>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="x" namespace="x">
<decision id="a" name="a"><literalExpression><text>"&xxe;"</text></literalExpression></decision></definitions>"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LAUGHS, "DOCTYPE declarations are not allowed"),
        (XXE, "DOCTYPE declarations are not allowed"),
        (b"<definitions", "not well-formed XML"),
        (b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>', "not a DMN 1.1-1.5 document"),
        (b'<decision xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"/>', "not a DMN 1.1-1.5 document"),
        (b"<x>" + b" " * (6 * 1024 * 1024) + b"</x>", "over the limit"),
    ],
)
def test_hostile_or_foreign_xml_is_refused(data, message):
    with pytest.raises(DmnParseError, match=message) as err:
        parse(data, "evil.dmn")
    assert "root:" not in str(err.value)  # nothing from /etc/passwd


def test_imports_are_refused():
    body = '<import namespace="http://other" locationURI="other.dmn" importType="http://www.omg.org/spec/DMN/"/>'
    with pytest.raises(DmnParseError, match="imports are not supported"):
        parse(dmn(body + '<decision id="a" name="a"><literalExpression><text>1</text></literalExpression></decision>'))


# ---------------------------------------------------------------- speed


def test_a_twenty_rule_unique_table_takes_microseconds():
    rules = []
    for tier in ("bronze", "silver", "gold", "platinum", "diamond"):
        for low, high in ((None, 100), (100, 500), (500, 1000), (1000, None)):
            rules.append(
                ([f'"{tier}"', f">= {low}" if low else "-", f"< {high}" if high else "-"], [str(len(rules) + 1)])
            )
    inputs = [("tier", "string", None), ("amount", "number", None), ("amount", "number", None)]
    model = one_table(inputs, [("discount", "number", None, None)], rules)
    variables = {"tier": "diamond", "amount": 5000}
    assert evaluate(model, "decision", variables).result == 20
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            evaluate(model, "decision", variables)
        timings.append((time.perf_counter() - start) / 200)
    assert statistics.median(timings) < 0.001  # typically about 20 µs; SpiffWorkflow's engine takes ~0.5 ms


def test_feel_errors_while_matching_name_the_rule_and_column():
    rules = [(['"gold"', "-"], ['"a"']), (["-", "> string length(1, 2, 3)"], ['"b"'])]
    model = one_table(TIER_AMOUNT, [("fee", None, None, None)], rules)
    with pytest.raises(DmnDecisionError) as err:
        evaluate(model, "decision", {"tier": "silver", "amount": 1})
    assert "rule r2 (row 2), input 'amount'" in str(err.value) and "string length" in str(err.value)
    assert err.value.element_id == "r2" and err.value.decision_id == "decision"


# ---------------------------------------------------------------- DMN level 3 constructs (issue 17)


def literal(decision_id: str, text: str, extra: str = "") -> str:
    return (
        f'<decision id="{decision_id}" name="{decision_id}">{extra}'
        f"<literalExpression><text>{escape(text)}</text></literalExpression></decision>"
    )


def test_names_with_spaces_are_decision_inputs():
    model = parse(
        dmn(
            table(
                [("Years of Service", "number", None), ("Another boolean", "boolean", None)],
                [("Vacation Days", "number", None, None)],
                [(["< 5", "true"], ["22"]), (["< 5", "false"], ["20"]), ([">= 5", "-"], ["25"])],
            )
        )
    )
    assert evaluate(model, "decision", {"Years of Service": 3, "Another boolean": True}).result == 22
    assert evaluate(model, "decision", {"Years of Service": 30, "Another boolean": None}).result == 25


def test_a_dmn_11_file_in_the_dmn11_xsd_namespace_runs():
    model = parse(dmn(literal("d", "1 + 1"), ns="http://www.omg.org/spec/DMN/20151101/dmn11.xsd"))
    assert evaluate(model, "d", {}).result == 2


def test_input_data_drawn_only_in_the_diagram_is_not_required():
    body = '<inputData id="season_data" name="Season"/><inputData id="guests_data" name="Guests"/>' + literal(
        "dish",
        'if Guests > 4 then "stew" else "salad"',
        '<informationRequirement><requiredInput href="#season_data"/></informationRequirement>'
        '<informationRequirement><requiredInput href="#guests_data"/></informationRequirement>',
    )
    model = parse(dmn(body))
    assert evaluate(model, "dish", {"Guests": 6}).result == "stew"  # nothing reads Season
    with pytest.raises(DmnDecisionError, match="required input 'Guests' was not given"):
        evaluate(model, "dish", {"Season": "winter"})


def test_boxed_conditional_filter_and_iterators():
    def boxed(decision_id: str, xml: str) -> str:
        return f'<decision id="{decision_id}" name="{decision_id}">{xml}</decision>'

    def lit(text: str) -> str:
        return f"<literalExpression><text>{escape(text)}</text></literalExpression>"

    big, small, numbers = lit('"big"'), lit('"small"'), lit("[1, 2, 3]")
    body = (
        boxed("cond", f"<conditional><if>{lit('x > 1')}</if><then>{big}</then><else>{small}</else></conditional>")
        + boxed("bad_cond", f"<conditional><if>{big}</if><then>{big}</then><else>{small}</else></conditional>")
        + boxed("filtered", f"<filter><in>{lit('[{a: 1}, {a: 5}, {a: 7}]')}</in><match>{lit('a > x')}</match></filter>")
        + boxed("doubled", f'<for iteratorVariable="n"><in>{numbers}</in><return>{lit("n * 2")}</return></for>')
        + boxed("any_big", f'<some iteratorVariable="n"><in>{numbers}</in><satisfies>{lit("n > x")}</satisfies></some>')
        + boxed(
            "all_big", f'<every iteratorVariable="n"><in>{numbers}</in><satisfies>{lit("n > x")}</satisfies></every>'
        )
    )
    model = parse(dmn(body))
    assert evaluate(model, "cond", {"x": 2}).result == "big"
    assert evaluate(model, "cond", {"x": 1}).result == "small"
    with pytest.raises(DmnDecisionError, match="'if' must give a boolean"):
        evaluate(model, "bad_cond", {})
    assert evaluate(model, "filtered", {"x": 4}).result == [{"a": 5}, {"a": 7}]
    assert evaluate(model, "doubled", {}).result == [2, 4, 6]
    assert evaluate(model, "any_big", {"x": 2}).result is True
    assert evaluate(model, "all_big", {"x": 2}).result is False
    assert evaluate(model, "all_big", {"x": 0}).result is True


def test_decision_services_run_on_their_own_and_as_functions():
    body = (
        '<decisionService id="price_service" name="Price service">'
        '<outputDecision href="#price"/><encapsulatedDecision href="#base"/><inputData href="#qty"/>'
        "</decisionService>"
        '<inputData id="qty" name="Quantity"><variable name="Quantity" typeRef="number"/></inputData>'
        + literal("base", "10", "")
        + literal(
            "price",
            "base * Quantity",
            '<informationRequirement><requiredDecision href="#base"/></informationRequirement>'
            '<informationRequirement><requiredInput href="#qty"/></informationRequirement>',
        )
        + literal(
            "quote",
            "Price service(3) + Price service(Quantity: 1)",
            '<knowledgeRequirement><requiredKnowledge href="#price_service"/></knowledgeRequirement>',
        )
    )
    model = parse(dmn(body))
    assert evaluate(model, "quote", {}).result == 40
    assert evaluate(model, "Price service", {"Quantity": 2}).result == {"price": 20}
    assert evaluate(model, "Price service", {"Quantity": ["4"]}).result == {"price": None}  # not a number: null


def test_a_bkm_invoked_from_a_decision_and_a_boxed_invocation():
    body = (
        '<businessKnowledgeModel id="fee_bkm" name="fee"><encapsulatedLogic>'
        '<formalParameter name="Order Total" typeRef="number"/>'
        "<literalExpression><text>Order Total * 0.1</text></literalExpression>"
        "</encapsulatedLogic></businessKnowledgeModel>"
        + literal(
            "direct",
            "fee(200)",
            '<knowledgeRequirement><requiredKnowledge href="#fee_bkm"/></knowledgeRequirement>',
        )
        + '<decision id="boxed" name="boxed"><knowledgeRequirement><requiredKnowledge href="#fee_bkm"/>'
        "</knowledgeRequirement><invocation><literalExpression><text>fee</text></literalExpression>"
        '<binding><parameter name="Order Total"/><literalExpression><text>Order Total</text></literalExpression>'
        "</binding></invocation></decision>"
    )
    model = parse(dmn(body))
    assert evaluate(model, "direct", {}).result == 20
    assert evaluate(model, "boxed", {"Order Total": 50}).result == 5
