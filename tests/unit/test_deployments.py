"""Deploying: versions, call activities across files and deployments, lint that names elements."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.deployment.parser import load_xml
from processes.errors import DeploymentRejected, InvalidInput, TooLarge
from processes.instances import get_instance, start_instance
from tests.support.diagrams import process

CHILD = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="t"/>
  <bpmn:scriptTask id="t"><bpmn:script>child_saw = amount + 1</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="b" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"""

PARENT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
  <bpmn:callActivity id="call" calledElement="child"><bpmn:extensionElements>
    <camunda:in variables="all"/><camunda:out variables="all"/></bpmn:extensionElements></bpmn:callActivity>
  <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_call_activity_resolves_within_one_deployment(engine: Engine) -> None:
    result = deploy(engine, [process("parent", PARENT), process("child", CHILD)])
    assert {d["key"] for d in result.definitions} == {"parent", "child"}
    view = get_instance(engine, start_instance(engine, "parent", variables={"amount": 1}).instance["id"])
    assert view["status"] == "completed" and view["variables"]["child_saw"] == 2


def test_call_activity_resolves_against_an_earlier_deployment(engine: Engine) -> None:
    deploy(engine, [process("child", CHILD)])
    result = deploy(engine, [process("parent", PARENT)])
    assert result.definitions[0]["calls"] == ["child"]
    view = get_instance(engine, start_instance(engine, "parent", variables={"amount": 41}).instance["id"])
    assert view["status"] == "completed" and view["variables"]["child_saw"] == 42


def test_call_activity_to_an_unknown_process_is_a_lint_error(engine: Engine) -> None:
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("parent", PARENT)])
    assert "child" in str(rejected.value.problems[0].message)


def test_every_problem_is_listed_at_once_with_element_ids(engine: Engine) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>
      <bpmn:exclusiveGateway id="gw"/>
      <bpmn:sequenceFlow id="b" sourceRef="gw" targetRef="t1">
        <bpmn:conditionExpression>${amount > }</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="c" sourceRef="gw" targetRef="t2">
        <bpmn:conditionExpression>amount &lt;= 5</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:scriptTask id="t1"><bpmn:script>x = open('/etc/passwd')</bpmn:script></bpmn:scriptTask>
      <bpmn:scriptTask id="t2"><bpmn:script>y = (</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="d" sourceRef="t1" targetRef="e"/><bpmn:sequenceFlow id="f" sourceRef="t2" targetRef="e"/>
      <bpmn:endEvent id="e"/>"""
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("lint", body)])
    by_element = {p.element_id: p.message for p in rejected.value.problems}
    assert "JUEL" in by_element["gw"] and "position" in by_element["gw"]
    assert "open" in by_element["t1"]
    assert "syntax" in by_element["t2"]


def test_service_task_without_a_topic_is_a_warning(engine: Engine) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="svc"/>
      <bpmn:serviceTask id="svc"/><bpmn:sequenceFlow id="b" sourceRef="svc" targetRef="e"/><bpmn:endEvent id="e"/>"""
    result = deploy(engine, [process("unbound", body)])
    assert [w.element_id for w in result.warnings] == ["svc"]
    view = get_instance(engine, start_instance(engine, "unbound").instance["id"])
    assert view["status"] == "incident" and "svc" in view["incidents"][0]["message"]


def test_timer_literals_as_modelers_write_them(engine: Engine) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="w"/>
      <bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="b" sourceRef="w" targetRef="e"/><bpmn:endEvent id="e"/>"""
    deploy(engine, [process("five_minutes", body)])
    view = get_instance(engine, start_instance(engine, "five_minutes").instance["id"])
    assert view["status"] == "waiting"
    timer = next(j for j in view["jobs"] if j["kind"] == "timer")
    # Five minutes after the timer was reached, which is within the start's step (compared as times: a start just
    # before midnight has its timer the next day).
    waited = datetime.fromisoformat(timer["dueAt"].rstrip("Z")) - datetime.fromisoformat(view["createdAt"].rstrip("Z"))
    assert timedelta(minutes=5) <= waited < timedelta(minutes=6), waited


def test_dmn_files_are_versioned_as_decisions(engine: Engine, conformance: Path) -> None:
    dmn = (conformance / "dmn-tck" / "0004-simpletable-U.dmn").read_bytes()
    first = deploy(engine, [("0004.dmn", dmn)])
    again = deploy(engine, [("0004.dmn", dmn)])
    assert first.decisions and first.decisions[0]["isNew"] and first.decisions[0]["version"] == 1
    assert not again.decisions[0]["isNew"] and again.decisions[0]["id"] == first.decisions[0]["id"]


def test_load_xml_refuses_hostile_and_foreign_documents() -> None:
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        load_xml("x.bpmn", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:1/">]><x>&e;</x>')
    with pytest.raises(InvalidInput, match="not a BPMN or DMN"):
        load_xml("x.bpmn", b"<svg/>")
    with pytest.raises(InvalidInput, match="well-formed"):
        load_xml("x.bpmn", b"\xff\xfe garbage")
    with pytest.raises(TooLarge):
        load_xml("x.bpmn", b"<a>" + b" " * (3 * 1024 * 1024) + b"</a>")
    with pytest.raises(InvalidInput, match="no files"):
        deploy(None, [])  # type: ignore[arg-type]
