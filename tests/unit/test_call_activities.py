"""Which variables a called process gets and which come back: Camunda 7 `camunda:in`/`camunda:out` (nothing without
them), Camunda 8 propagation flags and mappings, plain BPMN (everything)."""

from __future__ import annotations

from typing import Any

import pytest

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.instances import get_instance, start_instance
from processes.jobs.service import ClaimedJob, JobService
from tests.support.diagrams import c8, process

PLAIN_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">\n'
)

# The called process hands its variables to a worker, which reports what it saw, sets `result` and doubles `amount`.
CHILD = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="look"/>
  <bpmn:serviceTask id="look" camunda:type="external" camunda:topic="look"/>
  <bpmn:sequenceFlow id="b" sourceRef="look" targetRef="e"/><bpmn:endEvent id="e"/>"""
CHILD_C8 = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="look"/>
  <bpmn:serviceTask id="look"><bpmn:extensionElements><zeebe:taskDefinition type="look"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="b" sourceRef="look" targetRef="e"/><bpmn:endEvent id="e"/>"""


def look(job: ClaimedJob) -> dict[str, Any]:
    seen = sorted(k for k in ("amount", "customer", "limit", "note") if k in job.variables)
    result: dict[str, Any] = {"saw": seen, "result": "checked"}
    if "amount" in job.variables:
        result["amount"] = job.variables["amount"] * 2
    return result


def caller(mappings: str, attributes: str = 'calledElement="child"') -> str:
    return f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
  <bpmn:callActivity id="call" {attributes}><bpmn:extensionElements>{mappings}</bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/><bpmn:endEvent id="e"/>"""


def run(engine: Engine, parent: tuple[str, bytes], child: tuple[str, bytes], **variables: Any) -> dict[str, Any]:
    deploy(engine, [parent, child])
    started = start_instance(engine, "parent", variables=variables, business_key="ORDER-1")
    jobs = JobService(engine, look)
    for job in jobs.claim("worker", topics=["look"]):
        jobs.run(job)
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "completed", view
    return view["variables"]


START = {"amount": 10, "customer": "Ada", "limit": 50}


def test_camunda7_without_in_or_out_passes_nothing_either_way(engine: Engine) -> None:
    # Camunda 7's default: the called process starts empty and its variables stay there.
    variables = run(engine, process("parent", caller("")), process("child", CHILD), **START)
    assert variables == START


def test_camunda7_source_target_and_expressions(engine: Engine) -> None:
    mappings = """<camunda:in source="amount" target="amount"/>
      <camunda:in sourceExpression="${customer} (gold)" target="customer"/>
      <camunda:in source="missing" target="note"/>
      <camunda:out source="saw" target="childSaw"/>
      <camunda:out sourceExpression="${amount + 1}" target="doubledPlusOne"/>"""
    variables = run(engine, process("parent", caller(mappings)), process("child", CHILD), **START)
    assert variables["childSaw"] == ["amount", "customer", "note"]  # a missing source arrives as null
    assert variables["doubledPlusOne"] == 21
    assert variables["amount"] == 10 and "result" not in variables  # only what camunda:out returns comes back


def test_camunda7_all_variables_in_and_out(engine: Engine) -> None:
    mappings = '<camunda:in variables="all"/><camunda:out variables="all"/>'
    variables = run(engine, process("parent", caller(mappings)), process("child", CHILD), **START)
    assert variables["saw"] == ["amount", "customer", "limit"]
    assert variables["amount"] == 20 and variables["result"] == "checked"


def test_camunda7_local_passes_only_the_call_activitys_own_variables(engine: Engine) -> None:
    mappings = """<camunda:inputOutput><camunda:inputParameter name="note">${customer} asks</camunda:inputParameter>
      </camunda:inputOutput>
      <camunda:in variables="all" local="true"/><camunda:out source="saw" target="childSaw"/>"""
    variables = run(engine, process("parent", caller(mappings)), process("child", CHILD), **START)
    assert variables["childSaw"] == ["note"]
    assert "note" not in variables  # an input mapping is the call activity's own: it does not reach the caller


def test_camunda7_local_out_feeds_output_parameters_only(engine: Engine) -> None:
    mappings = """<camunda:inputOutput>
        <camunda:outputParameter name="verdict">${r} for ${customer}</camunda:outputParameter></camunda:inputOutput>
      <camunda:in variables="all"/><camunda:out source="result" target="r" local="true"/>"""
    variables = run(engine, process("parent", caller(mappings)), process("child", CHILD), **START)
    assert variables["verdict"] == "checked for Ada"
    assert "r" not in variables and "result" not in variables


def test_camunda7_business_key_reaches_the_called_process_only_when_passed(engine: Engine) -> None:
    # The called process branches on the business key it sees.
    child = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>
      <bpmn:exclusiveGateway id="gw" default="none"/>
      <bpmn:sequenceFlow id="has" sourceRef="gw" targetRef="yes">
        <bpmn:conditionExpression>${execution.processBusinessKey == 'ORDER-1'}</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="none" sourceRef="gw" targetRef="no"/>
      <bpmn:scriptTask id="yes"><bpmn:script>keyed = True</bpmn:script></bpmn:scriptTask>
      <bpmn:scriptTask id="no"><bpmn:script>keyed = False</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="y" sourceRef="yes" targetRef="e"/><bpmn:sequenceFlow id="n" sourceRef="no" targetRef="e2"/>
      <bpmn:endEvent id="e"/><bpmn:endEvent id="e2"/>"""
    deploy(engine, [process("child", child)])
    back = '<camunda:out source="keyed" target="keyed"/>'
    deploy(engine, [process("parent", caller('<camunda:in businessKey="#{execution.processBusinessKey}"/>' + back))])
    with_key = get_instance(engine, start_instance(engine, "parent", business_key="ORDER-1").instance["id"])
    deploy(engine, [process("parent", caller(back))])  # version 2: no business key passed
    without_key = get_instance(engine, start_instance(engine, "parent", business_key="ORDER-1").instance["id"])
    assert with_key["variables"]["keyed"] is True
    assert without_key["variables"]["keyed"] is False


def test_a_failing_in_expression_is_an_incident_on_the_call_activity(engine: Engine) -> None:
    mappings = '<camunda:in sourceExpression="${nowhere.size()}" target="x"/>'
    deploy(engine, [process("parent", caller(mappings)), process("child", CHILD)])
    view = get_instance(engine, start_instance(engine, "parent").instance["id"])
    assert view["status"] == "incident"
    assert view["incidents"][0]["elementId"] == "call"
    assert "camunda:in sourceExpression" in view["incidents"][0]["message"]


def zeebe_call(attributes: str, mappings: str) -> str:
    return f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
  <bpmn:callActivity id="call"><bpmn:extensionElements><zeebe:calledElement processId="child" {attributes}/>
  {mappings}</bpmn:extensionElements></bpmn:callActivity>
  <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/><bpmn:endEvent id="e"/>"""


@pytest.mark.parametrize(
    "attributes, saw, comes_back",
    [
        ("", ["amount", "customer", "limit", "note"], True),
        ('propagateAllParentVariables="false"', ["note"], True),
        ('propagateAllChildVariables="false"', ["amount", "customer", "limit", "note"], False),
    ],
)
def test_camunda8_propagation_flags(engine: Engine, attributes: str, saw: list[str], comes_back: bool) -> None:
    mappings = """<zeebe:ioMapping><zeebe:input source="=customer + &quot; asks&quot;" target="note"/>
      <zeebe:output source="=saw" target="childSaw"/></zeebe:ioMapping>"""
    parent = c8("parent", zeebe_call(attributes, mappings))
    variables = run(engine, parent, c8("child", CHILD_C8), **START)
    assert variables["childSaw"] == saw  # output mappings apply either way
    assert ("result" in variables) is comes_back
    assert "note" not in variables


def test_plain_bpmn_passes_everything_both_ways(engine: Engine) -> None:
    def plain(key: str, body: str) -> tuple[str, bytes]:
        xml = PLAIN_HEADER + f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
        return f"{key}.bpmn", xml.encode()

    parent = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
      <bpmn:callActivity id="call" calledElement="child"/>
      <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/><bpmn:endEvent id="e"/>"""
    # What counts is the caller's file: no Camunda namespace there.
    variables = run(engine, plain("parent", parent), process("child", CHILD), **START)
    assert variables["saw"] == ["amount", "customer", "limit"] and variables["amount"] == 20
