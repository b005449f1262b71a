"""Decisions end to end: deployed with processes, evaluated over REST and the CLI, and by business rule tasks
(Camunda 7 decisionRef + mapDecisionResult, Camunda 8 calledDecision), each evaluation in the audit trail."""

from __future__ import annotations

import json

import pytest

from processes.features.decisions import DecisionError, map_result
from tests.support.diagrams import process
from tests.support.rest import assert_problem, deploy, orderflow
from tests.support.waiting import wait_until_ended

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="approvals" name="Approvals" namespace="orderflow">
  <decision id="approval_level" name="Approval level">
    <informationRequirement><requiredDecision href="#risk"/></informationRequirement>
    <decisionTable id="dt_level" hitPolicy="UNIQUE">
      <input id="in_total" label="Total"><inputExpression typeRef="number"><text>total</text></inputExpression></input>
      <input id="in_risk" label="Risk"><inputExpression typeRef="string"><text>Risk</text></inputExpression></input>
      <output id="out_level" name="level" typeRef="string"/>
      <rule id="r_auto"><inputEntry><text>&lt; 1000</text></inputEntry><inputEntry><text>"low"</text></inputEntry>
        <outputEntry><text>"auto"</text></outputEntry></rule>
      <rule id="r_manager"><inputEntry><text>[1000..10000]</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"manager"</text></outputEntry></rule>
      <rule id="r_director"><inputEntry><text>&gt; 10000</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"director"</text></outputEntry></rule>
      <rule id="r_risky"><inputEntry><text>&lt; 1000</text></inputEntry><inputEntry><text>"high"</text></inputEntry>
        <outputEntry><text>"manager"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="risk" name="Risk">
    <decisionTable id="dt_risk" hitPolicy="FIRST">
      <input id="in_tier"><inputExpression typeRef="string"><text>tier</text></inputExpression></input>
      <output id="out_risk" name="risk" typeRef="string"/>
      <rule id="r_known"><inputEntry><text>"gold","silver"</text></inputEntry>
        <outputEntry><text>"low"</text></outputEntry></rule>
      <rule id="r_new"><inputEntry><text>-</text></inputEntry><outputEntry><text>"high"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""

CAMUNDA7_TASK = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide" camunda:decisionRef="approval_level" camunda:resultVariable="approval"
     camunda:mapDecisionResult="singleEntry"/>
  <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw" default="d"/>
  <bpmn:sequenceFlow id="c" sourceRef="gw" targetRef="auto_end">
    <bpmn:conditionExpression>${approval == 'auto'}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="d" sourceRef="gw" targetRef="review_end"/>
  <bpmn:endEvent id="auto_end"/><bpmn:endEvent id="review_end"/>"""

CAMUNDA8_TASK = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide"><bpmn:extensionElements>
    <zeebe:calledDecision decisionId="approval_level" resultVariable="level"/></bpmn:extensionElements>
  </bpmn:businessRuleTask>
  <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="e"/><bpmn:endEvent id="e"/>"""


def zeebe(name_xml: tuple[str, bytes]) -> tuple[str, bytes]:
    name, xml = name_xml
    return name, xml.replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    )


@pytest.fixture(scope="module")
def deployed(server):
    response = deploy(server, ("approvals.dmn", DMN.encode()))
    assert response.status_code == 201, response.text
    assert {d["key"] for d in response.json()["decisions"]} == {"approval_level", "risk"}
    return server


def evaluate(server, key: str, **variables):
    return server.post(f"/decisions/{key}/evaluate", json={"variables": variables})


def test_evaluate_over_rest_with_a_decision_graph(deployed) -> None:
    body = evaluate(deployed, "approval_level", total=250, tier="gold").json()
    assert body["decision"] == "approval_level" and body["version"] == 1
    assert body["result"] == "auto" and body["matchedRules"] == ["r_auto"]
    assert [t["id"] for t in body["trace"]] == ["risk"]
    assert evaluate(deployed, "approval_level", total=250, tier=None).json()["result"] == "manager"  # new customer
    assert evaluate(deployed, "approval_level", total=50_000, tier="gold").json()["result"] == "director"
    assert evaluate(deployed, "risk", tier="silver").json() == {
        "decision": "risk",
        "version": 1,
        "result": "low",
        "matchedRules": ["r_known"],
        "trace": [],
    }


def test_evaluation_errors_are_clear(deployed) -> None:
    assert_problem(evaluate(deployed, "no_such_decision"), 404, "no_such_decision")
    assert_problem(evaluate(deployed, "approval_level", total="a lot", tier="gold"), 422, "total")


def overlapping(manager_rule: str) -> str:
    return (
        DMN.replace('id="approvals"', 'id="approvals2"')
        .replace("approval_level", "overlap")
        .replace("[1000..10000]", manager_rule)
        .replace('id="risk"', 'id="risk2"')
        .replace('href="#risk"', 'href="#risk2"')
    )


def test_a_unique_table_with_overlapping_rules_is_refused_naming_them(server) -> None:
    body = assert_problem(deploy(server, ("overlap.dmn", overlapping("[500..10000]").encode())), 422)
    manager, risky = body["problems"]  # [500..10000] meets the first rule (low risk) and the last (high risk)
    assert manager["elementId"] == "r_manager" and manager["elementName"] == "rule 2 of decision 'Approval level'"
    assert manager["message"].startswith('it overlaps rule 1 [r_auto]: both match an input where Total is 500 and '
                                         'Risk is "low"')  # fmt: skip
    assert risky["elementId"] == "r_risky" and "it overlaps rule 2 [r_manager]" in risky["message"]


def test_rules_that_lint_cannot_compare_deploy_and_their_overlap_is_an_error_naming_them(server) -> None:
    """not(...) is beyond what lint compares: a warning that the rules may overlap, and the evaluation that meets
    the overlap names both rules."""
    deployed = deploy(server, ("overlap.dmn", overlapping("not(&lt; 500)").encode()))
    assert deployed.status_code == 201, deployed.text
    warned = {w["elementId"]: w["message"] for w in deployed.json()["warnings"]}
    assert set(warned) == {"r_manager", "r_director", "r_risky"}  # each may meet a rule above it
    assert warned["r_manager"].startswith("it may overlap rule 1 [r_auto]: orderflow cannot compare their entries")
    body = assert_problem(evaluate(server, "overlap", total=600, tier="gold"), 422)
    assert "r_auto" in body["detail"] and "r_manager" in body["detail"]


def test_a_feel_syntax_error_refuses_only_its_decision(server) -> None:
    broken = (
        DMN.replace("&gt; 10000", "&gt;&gt; 10000")
        .replace('id="approvals"', 'id="broken"')
        .replace("approval_level", "broken_level")
        .replace('id="risk"', 'id="broken_risk"')
        .replace('href="#risk"', 'href="#broken_risk"')
    )
    response = deploy(server, ("broken.dmn", broken.encode()))
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert any("broken_level" in w["message"] and "&gt;" not in w["message"] for w in warnings), warnings
    assert any("'&gt;&gt; 10000'".replace("&gt;", ">") in w["message"] for w in warnings), warnings
    assert evaluate(server, "broken_risk", tier="gold").json()["result"] == "low"  # the other decision runs
    body = assert_problem(evaluate(server, "broken_level", total=1, tier="gold"), 422, "broken_level")
    assert ">> 10000" in body["detail"]


def test_a_file_whose_only_decision_is_broken_is_refused_at_deploy(server) -> None:
    broken = DMN.replace("&gt; 10000", "&gt;&gt; 10000").replace('id="approvals"', 'id="broken2"')
    only = broken[: broken.index('  <decision id="risk"')] + "</definitions>\n"
    only = only.replace('<informationRequirement><requiredDecision href="#risk"/></informationRequirement>', "")
    body = assert_problem(deploy(server, ("broken2.dmn", only.encode())), 422)
    assert any("r_director" in (p["elementId"] or "") + p["message"] for p in body["problems"]), body["problems"]


SPACED_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/DMN/20151101/dmn11.xsd" id="vacation" name="Vacation" namespace="hr">
  <decision id="vacation_days" name="Vacation days">
    <decisionTable id="dt_vacation" hitPolicy="FIRST">
      <input id="in_years" label="Years of Service">
        <inputExpression typeRef="number"><text>Years of Service</text></inputExpression></input>
      <input id="in_part" label="Part time"><inputExpression typeRef="boolean"><text>Part time</text></inputExpression>
      </input>
      <output id="out_days" name="days" typeRef="number"/>
      <rule id="r_part"><inputEntry><text>-</text></inputEntry><inputEntry><text>true</text></inputEntry>
        <outputEntry><text>15</text></outputEntry></rule>
      <rule id="r_senior"><inputEntry><text>&gt;= 10</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>30</text></outputEntry></rule>
      <rule id="r_other"><inputEntry><text>-</text></inputEntry><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>25</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <inputData id="in_department" name="Department"/>
</definitions>
"""

SPACED_TASK = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide" camunda:decisionRef="vacation_days" camunda:resultVariable="days"
     camunda:mapDecisionResult="singleEntry"/>
  <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_names_with_spaces_in_a_dmn_11_file_over_rest_and_in_a_business_rule_task(server) -> None:
    assert deploy(server, ("vacation.dmn", SPACED_DMN.encode())).status_code == 201
    answer = server.post(
        "/decisions/vacation_days/evaluate", json={"variables": {"Years of Service": 12, "Part time": False}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == 30 and answer.json()["matchedRules"] == ["r_senior"]
    assert deploy(server, process("spaced_decides", SPACED_TASK)).status_code == 201
    started = server.post(
        "/process-definitions/spaced_decides/instances",
        json={"variables": {"Years of Service": 2, "Part time": True}},
    )
    assert started.status_code == 201, started.text
    view = wait_until_ended(server, started.json()["id"])
    assert view["status"] == "completed" and view["variables"]["days"] == 15
    assert_problem(
        server.post("/decisions/vacation_days/evaluate", json={"variables": {" Years": 1}}), 422, "not allowed"
    )


def test_camunda7_business_rule_task_routes_on_the_decision(deployed) -> None:
    assert deploy(deployed, process("c7_decides", CAMUNDA7_TASK)).status_code == 201
    for variables, end in (
        ({"total": 100, "tier": "gold"}, "auto_end"),
        ({"total": 5000, "tier": "gold"}, "review_end"),
    ):
        started = deployed.post("/process-definitions/c7_decides/instances", json={"variables": variables}).json()
        view = wait_until_ended(deployed, started["id"])
        assert view["status"] == "completed"
        events = deployed.get(f"/process-instances/{started['id']}/events").json()["items"]
        assert end in [e["elementId"] for e in events if e["type"] == "element_completed"]
        decision = next(e for e in events if e["type"] == "decision_evaluated")
        assert decision["elementId"] == "decide" and decision["data"]["decision"] == "approval_level"
        assert decision["data"]["version"] == 1 and len(decision["data"]["matchedRules"]) == 1


def test_camunda8_called_decision_stores_the_result(deployed) -> None:
    assert deploy(deployed, zeebe(process("c8_decides", CAMUNDA8_TASK))).status_code == 201
    started = deployed.post(
        "/process-definitions/c8_decides/instances", json={"variables": {"total": 20_000, "tier": "silver"}}
    ).json()
    assert wait_until_ended(deployed, started["id"])["variables"]["level"] == "director"


def test_a_failing_decision_opens_an_incident_naming_the_task(deployed) -> None:
    response = deployed.post(
        "/process-definitions/c7_decides/instances", json={"variables": {"total": "lots", "tier": "gold"}}
    )
    assert response.status_code == 201, response.text  # the order is started; its decision fails in it
    view = wait_until_ended(deployed, response.json()["id"])
    assert view["status"] == "incident" and view["incidents"][0]["elementId"] == "decide"
    assert "approval_level" in view["incidents"][0]["message"]


def test_a_task_naming_an_undeployed_decision_is_refused(server) -> None:
    xml = CAMUNDA7_TASK.replace('camunda:decisionRef="approval_level"', 'camunda:decisionRef="not_deployed"')
    body = assert_problem(deploy(server, process("c7_missing", xml)), 422, "not_deployed")
    assert body["problems"][0]["elementId"] == "decide"


def test_decide_from_the_shell(deployed) -> None:
    result = orderflow(deployed, "decide", "approval_level", "--var", "total=99", "--var", "tier=gold")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "auto"


@pytest.mark.parametrize(
    "mapping, expected",
    [
        (None, "RESULT"),
        ("resultList", [{"level": "manager"}]),
        ("singleResult", {"level": "manager"}),
        ("collectEntries", ["manager"]),
        ("singleEntry", "manager"),
    ],
)
def test_map_decision_result(mapping, expected) -> None:
    assert map_result({"result": "RESULT", "ruleOutputs": [{"level": "manager"}]}, mapping) == expected


def test_map_decision_result_refuses_what_does_not_fit() -> None:
    two = {"result": [], "ruleOutputs": [{"a": 1}, {"a": 2}]}
    with pytest.raises(DecisionError):
        map_result(two, "singleEntry")
    with pytest.raises(DecisionError):
        map_result(two, "singleResult")
    with pytest.raises(DecisionError):
        map_result({"result": {}, "ruleOutputs": [{"a": 1, "b": 2}]}, "collectEntries")
    assert map_result({"result": None, "ruleOutputs": []}, "singleEntry") is None
