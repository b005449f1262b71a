"""Gateway conditions and timer values in each dialect, run by the engine (not only parsed)."""

from __future__ import annotations

import pytest

from processes import expressions
from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from processes.instances import get_instance, instance_events, start_instance
from tests.support.diagrams import process

ROUTE = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw"/>
  <bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="manual">
    <bpmn:conditionExpression>{big}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="auto">
    <bpmn:conditionExpression>{small}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:endEvent id="manual"/><bpmn:endEvent id="auto"/>"""

DIALECTS = {
    "python": ("amount &gt; 1000 and tier != 'gold'", "amount &lt;= 1000 or tier == 'gold'"),
    "juel": ("${amount gt 1000 &amp;&amp; tier != 'gold'}", "${amount &lt;= 1000 || tier == 'gold'}"),
    "feel": ('=amount &gt; 1000 and tier != "gold"', '=amount &lt;= 1000 or tier = "gold"'),
}


def ended_at(engine: Engine, key: str, **variables) -> str:
    view = get_instance(engine, start_instance(engine, key, variables=variables).instance["id"])
    assert view["status"] == "completed", view
    ends = [e["elementId"] for e in instance_events(engine, view["id"]) if e["elementId"] in ("manual", "auto")]
    return ends[0]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_gateway_conditions_route_in_every_dialect(engine: Engine, dialect: str) -> None:
    big, small = DIALECTS[dialect]
    deploy(engine, [process(f"route_{dialect}", ROUTE.format(big=big, small=small))])
    assert ended_at(engine, f"route_{dialect}", amount=5000, tier="silver") == "manual"
    assert ended_at(engine, f"route_{dialect}", amount=5000, tier="gold") == "auto"
    assert ended_at(engine, f"route_{dialect}", amount=10, tier="silver") == "auto"


def test_juel_sees_the_execution(engine: Engine) -> None:
    body = ROUTE.format(
        big="${execution.getBusinessKey() == 'VIP-1'}", small="${execution.getVariable('amount') != null}"
    )
    deploy(engine, [process("juel_execution", body)])
    view = start_instance(engine, "juel_execution", business_key="VIP-1", variables={"amount": 1}).instance
    assert "manual" in [e["elementId"] for e in instance_events(engine, view["id"])]


def test_timer_values_in_feel_and_juel(engine: Engine) -> None:
    timer = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="w"/>
      <bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition><bpmn:timeDuration>{value}</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="b" sourceRef="w" targetRef="e"/><bpmn:endEvent id="e"/>"""
    deploy(engine, [process("feel_timer", timer.format(value='=duration("PT2H")'))])
    deploy(engine, [process("juel_timer", timer.format(value="${reminder}"))])
    for key, variables in (("feel_timer", {}), ("juel_timer", {"reminder": "PT2H"})):
        view = get_instance(engine, start_instance(engine, key, variables=variables).instance["id"])
        due = next(j["dueAt"] for j in view["jobs"] if j["kind"] == "timer")
        created_hour, due_hour = int(view["createdAt"][11:13]), int(due[11:13])
        assert view["status"] == "waiting" and (due_hour - created_hour) % 24 == 2, (key, view["createdAt"], due)


@pytest.mark.parametrize(
    "condition, fragment",
    [
        ("=amount >", "FEEL"),
        ("=amount == 5", "single '='"),
        ("${''.getClass()}", "getClass"),
        ("${amount > }", "JUEL"),
        ("__import__('os')", "__import__"),
    ],
)
def test_bad_or_hostile_conditions_are_refused_at_deploy(engine: Engine, condition: str, fragment: str) -> None:
    body = ROUTE.format(big=condition.replace(">", "&gt;").replace("<", "&lt;"), small="true")
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("refused", body)])
    assert any(p.element_id == "gw" and fragment in p.message for p in rejected.value.problems), rejected.value.problems


@pytest.mark.parametrize(
    ("script", "value"),
    [
        ("subtotal = price * quantity\nsubtotal * 1.19", 119.0),  # the last line's value, as Groovy gives it
        ("a = 1; a + price", 101),  # the last statement shares its line
        ("total = price", None),  # no expression at the end: no value
        ("[q for q in range(quantity)]", [0]),
        ("", None),
    ],
)
def test_a_parameter_script_gives_its_last_line_and_keeps_its_assignments(script: str, value) -> None:
    variables = {"price": 100, "quantity": 1}
    assert expressions.run_script(script, variables) == value


@pytest.mark.parametrize(
    ("script", "fragment"),
    [("__import__('os')", "__import__"), ("x = (", "syntax"), ("_of_iter([1])", "_of_iter"), ("1\n" * 20000, "long")],
)
def test_a_parameter_script_the_sandbox_refuses_never_runs(script: str, fragment: str) -> None:
    with pytest.raises(expressions.ExpressionError, match=f"(?i){fragment}"):
        expressions.run_script(script, {})
