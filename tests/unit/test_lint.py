"""`orderflow lint`: the deploy-time lint offline, and what orderflow tolerates the way Camunda does (data stores,
plain tasks, async flags, listeners, Java implementations of service tasks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner

from app.cli import main
from app.features import default_features
from processes.core.engine import Engine
from processes.core.models import ProcessDefinition
from processes.deployment.deployments import deploy, lint_files
from processes.deployment.parser import topic_of
from processes.errors import DeploymentRejected
from processes.instances import get_instance, start_instance
from tests.support.diagrams import HEADER, process

# FILE:LINE: error|warning: ELEMENT_ID (ELEMENT_TYPE): message
LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning): "
    r"(?P<element>\S+) \((?P<type>[\w:]+)\): (?P<message>.+)$"
)

ZEEBE_HEADER = HEADER.replace(
    "<bpmn:definitions ", '<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
)


def lint(*paths: Path) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, ["lint", *map(str, paths)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout.splitlines(), result.stderr


def parsed_lines(lines: list[str]) -> list[dict[str, str]]:
    matches = [LINE.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches, strict=True) if m is None]
    return [m.groupdict() for m in matches if m]


def write(tmp_path: Path, name: str, xml: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(xml.encode() if isinstance(xml, str) else xml)
    return path


def diagram(key: str, body: str, header: str = HEADER, extra: str = "") -> str:
    return header + f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process>{extra}</bpmn:definitions>'


def line_of(xml: str, needle: str) -> int:
    return xml[: xml.index(needle)].count("\n") + 1


def straight(task: str) -> str:
    """start -> task (id "t") -> end."""
    return f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  {task}
  <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"""


# -- the command against the conformance diagrams ------------------------------------------------------------


def test_a_clean_diagram_passes_with_exit_code_0(conformance: Path) -> None:
    code, lines, summary = lint(conformance / "camunda8" / "order-process.bpmn")
    assert code == 0 and lines == []
    assert "0 error(s), 0 warning(s)" in summary


def test_errors_are_printed_per_element_with_their_line_and_exit_1(conformance: Path) -> None:
    path = conformance / "bpmn-miwg" / "C.1.1.bpmn"  # its gateway conditions are XPath
    code, lines, _ = lint(path)
    assert code == 1
    problems = parsed_lines(lines)
    assert all(p["file"] == str(path) for p in problems)
    errors = [p for p in problems if p["severity"] == "error"]
    assert {(p["element"], p["type"]) for p in errors} == {
        ("invoice_approved", "bpmn:exclusiveGateway"),
        ("reviewSuccessful_gw", "bpmn:exclusiveGateway"),
    }
    # Each condition is pointed at where it is written, naming its flow.
    assert [p["line"] for p in errors] == ["298", "308", "318", "328"]
    assert "condition of flow 'invoiceApproved'" in errors[0]["message"]


def test_java_bean_calls_are_warnings_per_element_and_exit_0(conformance: Path) -> None:
    path = conformance / "camunda7" / "pizza-order.bpmn"
    code, lines, _ = lint(path)
    assert code == 0
    warnings = [p for p in parsed_lines(lines) if p["severity"] == "warning"]
    gateway = [p for p in warnings if p["element"] == "ExclusiveGateway_07926wc"]
    assert [(p["line"], "orderBusinessLogic.getOrder()" in p["message"]) for p in gateway] == [
        ("24", True),
        ("31", True),
    ]
    assert "condition of flow 'SequenceFlow_10r7cva'" in gateway[0]["message"]
    # The bean calls of its service tasks run in the engine once registered; until then they are topics.
    persist = next(p for p in warnings if p["element"] == "ServiceTask_0lrmoed")
    assert persist["line"] == "8" and persist["type"] == "bpmn:serviceTask"
    assert "topic '${orderBusinessLogic.persistOrder(execution)}'" in persist["message"]


def test_references_outside_the_files_are_warnings_and_resolve_within_them(conformance: Path) -> None:
    onboarding = conformance / "bpmn-miwg" / "C.9.0.bpmn"
    code, lines, _ = lint(onboarding)
    # No error: its event subprocess started by an error event runs (tests/e2e/test_thrown_events.py).
    assert code == 0 and not [p for p in parsed_lines(lines) if p["severity"] == "error"]
    # ManualCheck and the risk_check decision may be deployed already: warnings.
    warnings = {p["element"]: p for p in parsed_lines(lines)}
    assert warnings["Activity_ManualCheck"]["severity"] == "warning"
    assert warnings["Activity_ManualCheck"]["line"] == "174"
    assert "'ManualCheck', which is not in these files" in warnings["Activity_ManualCheck"]["message"]
    rule_task = warnings["BusinessRuleTask_CheckApplicationAutomatically"]
    assert "decision 'risk_check' is not in these files" in rule_task["message"]

    # Linted together with the files that define ManualCheck and requestDocument_en, the calls resolve (C.9.2's
    # call activity is a Camunda 8 multi-instance); only the decision, deployed separately, is left to warn about.
    code, lines, _ = lint(
        onboarding, conformance / "bpmn-miwg" / "C.9.1.bpmn", conformance / "bpmn-miwg" / "C.9.2.bpmn"
    )
    assert not any("not in these files" in line and "call activity" in line for line in lines)
    # Left: the decision deployed separately (a warning); the error and timer event subprocesses run.
    assert [p["element"] for p in parsed_lines(lines)] == ["BusinessRuleTask_CheckApplicationAutomatically"]


def test_data_stores_are_warnings_at_their_line(conformance: Path) -> None:
    code, lines, _ = lint(conformance / "bpmn-miwg" / "C.4.0.bpmn")
    problems = parsed_lines(lines)
    stores = [p for p in problems if p["type"] == "bpmn:dataStoreReference"]
    assert [p["line"] for p in stores] == ["107", "275", "276", "346", "347", "391"]
    assert all(p["severity"] == "warning" and "data store is ignored" in p["message"] for p in stores)
    # Refused only for its own precise reasons, each with the fix.
    errors = [p for p in problems if p["severity"] == "error"]
    assert code == 1 and [p["message"] for p in errors if "set a loop condition or a loop maximum" in p["message"]]
    # Its two yes/no gateways have no condition on any flow: orders always take the first, the other is named too.
    flows = [p for p in problems if p["type"] == "bpmn:sequenceFlow"]
    assert [p["severity"] for p in flows] == ["warning"] * 4
    assert flows[0]["message"].startswith(
        "the flow 'Yes' from 'Contract terms accepted ?' to 'Get signature on contract and notify responsible "
        "department': it has no condition, so every order that gets here takes it"
    )
    assert flows[1]["message"].startswith(
        "the flow 'No' from 'Contract terms accepted ?' to 'Review terms of contract': no order ever takes it"
    )


def test_files_that_are_not_diagrams_are_errors_and_the_rest_is_still_linted(tmp_path: Path, conformance) -> None:
    broken = write(tmp_path, "broken.bpmn", "<bpmn:definitions>\n<unclosed>\n")
    nothing = conformance / "bpmn-miwg" / "A.1.0.bpmn"
    code, lines, _ = lint(broken, nothing)
    assert code == 1
    assert lines[0].startswith(f"{broken}:") and ": error: not well-formed XML" in lines[0]
    assert re.match(rf"^{re.escape(str(broken))}:\d+: error: ", lines[0])
    assert lines[1].startswith(f"{nothing}: error: no executable process found")
    assert 'isExecutable="true"' in lines[1]


def test_lint_runs_as_a_command_without_server_or_database(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.bpmn", diagram("plain", straight('<bpmn:task id="t"/>')))
    env = {
        **os.environ,
        "ORDERFLOW_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "ORDERFLOW_URL": "http://127.0.0.1:1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "lint", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


# -- crafted diagrams: what is tolerated, with which warning ----------------------------------------------------


def test_listeners_are_skipped_with_a_warning_naming_them(tmp_path: Path) -> None:
    body = straight(
        """<bpmn:userTask id="t">
      <bpmn:extensionElements>
        <camunda:executionListener class="org.acme.AuditListener" event="start"/>
        <camunda:taskListener expression="${mailer.notify(task)}" event="create"/>
        <camunda:executionListener event="end"><camunda:script scriptFormat="javascript">print('done')</camunda:script>
        </camunda:executionListener>
      </bpmn:extensionElements>
    </bpmn:userTask>"""
    )
    xml = diagram("listening", body)
    code, lines, _ = lint(write(tmp_path, "listening.bpmn", xml))
    assert code == 0
    problems = parsed_lines(lines)
    assert all(p["element"] == "t" and p["type"] == "bpmn:userTask" and p["severity"] == "warning" for p in problems)
    messages = [p["message"] for p in problems]
    assert "class 'org.acme.AuditListener'" in messages[0] and "on 'start'" in messages[0]
    assert messages[1].startswith("task listener") and "expression '${mailer.notify(task)}'" in messages[1]
    assert "javascript script 'print('done')'" in messages[2]
    assert all("listeners are not run; model the work as a service or script task" in m for m in messages)
    assert problems[0]["line"] == str(line_of(xml, "<camunda:executionListener class"))


def test_camunda8_execution_listeners_are_skipped_with_a_warning(tmp_path: Path) -> None:
    body = straight(
        """<bpmn:serviceTask id="t"><bpmn:extensionElements>
      <zeebe:taskDefinition type="ship"/>
      <zeebe:executionListeners><zeebe:executionListener eventType="start" type="audit-log"/></zeebe:executionListeners>
    </bpmn:extensionElements></bpmn:serviceTask>"""
    )
    code, lines, _ = lint(write(tmp_path, "c8.bpmn", diagram("c8", body, header=ZEEBE_HEADER)))
    assert code == 0
    [problem] = parsed_lines(lines)
    assert problem["element"] == "t" and "type 'audit-log'" in problem["message"]


@pytest.mark.parametrize(
    "attributes, topic",
    [
        ('camunda:class="org.acme.ChargeCard"', "org.acme.ChargeCard"),
        ('camunda:delegateExpression="${chargeCard}"', "${chargeCard}"),
        ('camunda:expression="${payments.charge(execution)}"', "${payments.charge(execution)}"),
    ],
)
def test_java_implementations_become_topics_with_a_warning(tmp_path: Path, attributes: str, topic: str) -> None:
    xml = diagram("java", straight(f'<bpmn:serviceTask id="t" {attributes}/>'))
    code, lines, _ = lint(write(tmp_path, "java.bpmn", xml))
    assert code == 0
    [problem] = parsed_lines(lines)
    assert problem["severity"] == "warning" and problem["element"] == "t"
    assert f"external-worker job on topic '{topic}'" in problem["message"]
    _, _, parsed = lint_files([("java.bpmn", xml.encode())], features=default_features())
    assert topic_of(parsed.processes[0].spec.task_specs["t"]) == topic


def test_async_flags_are_accepted_silently(tmp_path: Path) -> None:
    task = '<bpmn:task id="t" camunda:asyncBefore="true" camunda:asyncAfter="true" camunda:exclusive="false"/>'
    code, lines, _ = lint(write(tmp_path, "async.bpmn", diagram("async", straight(task))))
    assert (code, lines) == (0, [])


def test_an_unbound_service_task_warns_with_the_fix(tmp_path: Path) -> None:
    xml = diagram("unbound", straight('<bpmn:serviceTask id="t"/>'))
    code, lines, _ = lint(write(tmp_path, "unbound.bpmn", xml))
    assert code == 0
    [problem] = parsed_lines(lines)
    assert 'set camunda:type="external" and camunda:topic' in problem["message"]
    assert problem["line"] == str(line_of(xml, "<bpmn:serviceTask"))


def test_a_business_rule_task_finds_its_decision_among_the_files(tmp_path: Path, conformance: Path) -> None:
    decision = "_3b2953a3-745f-4d2e-b55d-75c8c5ae653c"  # "Approval Status" in the DMN TCK's table 0004
    task = f'<bpmn:businessRuleTask id="t" camunda:decisionRef="{decision}" camunda:resultVariable="r"/>'
    bpmn = write(tmp_path, "rules.bpmn", diagram("rules", straight(task)))
    dmn = conformance / "dmn-tck" / "0004-simpletable-U.dmn"
    assert lint(bpmn, dmn)[:2] == (0, [])
    code, lines, _ = lint(bpmn)
    assert code == 0 and f"decision '{decision}' is not in these files" in lines[0]


def test_error_code_and_message_variables_are_kept_on_the_boundary_event() -> None:
    body = (
        straight('<bpmn:serviceTask id="t" camunda:type="external" camunda:topic="pay"/>')
        + """
      <bpmn:boundaryEvent id="failed" attachedToRef="t">
        <bpmn:errorEventDefinition camunda:errorCodeVariable="code" camunda:errorMessageVariable="reason"/>
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f3" sourceRef="failed" targetRef="e2"/><bpmn:endEvent id="e2"/>"""
    )
    errors, warnings, parsed = lint_files([process("caught", body)], features=default_features())
    assert (errors, warnings) == ([], [])
    extensions = parsed.processes[0].spec.task_specs["failed"].extensions
    assert extensions == {"errorCodeVariable": "code", "errorMessageVariable": "reason"}


# -- the same lint at deploy time, and what now runs -------------------------------------------------------------


def test_a_plain_task_is_passed_straight_through(engine: Engine) -> None:
    body = straight('<bpmn:task id="t" name="Check by hand"/>')
    result = deploy(engine, [process("plain", body)])
    assert result.warnings == []
    engine.specs._entries.clear()  # run on the spec as stored, not as parsed
    view = get_instance(engine, start_instance(engine, "plain").instance["id"])
    assert view["status"] == "completed", view


def test_a_diagram_with_a_data_store_deploys_with_a_warning(engine: Engine) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
      <bpmn:scriptTask id="t">
        <bpmn:dataInputAssociation id="in"><bpmn:sourceRef>Store_Orders</bpmn:sourceRef></bpmn:dataInputAssociation>
        <bpmn:dataOutputAssociation id="out"><bpmn:targetRef>Store_Orders</bpmn:targetRef></bpmn:dataOutputAssociation>
        <bpmn:script>stored = True</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>
      <bpmn:dataStoreReference id="Store_Orders" dataStoreRef="Orders"/>"""
    name, xml = process("stores", body)
    xml = xml.replace(b"</bpmn:definitions>", b'<bpmn:dataStore id="Orders" name="Orders DB"/></bpmn:definitions>')
    result = deploy(engine, [(name, xml)])
    [warning] = result.warnings
    assert (warning.element_id, warning.element_type, warning.severity) == (
        "Store_Orders",
        "bpmn:dataStoreReference",
        "warning",
    )
    assert warning.message == "data store is ignored; the process keeps its data in variables"
    assert warning.line == xml.decode()[: xml.decode().index("<bpmn:dataStoreReference")].count("\n") + 1
    with engine.read_session() as session:
        assert session.get(ProcessDefinition, "stores:1").xml == xml.decode()  # stored as drawn
    view = get_instance(engine, start_instance(engine, "stores").instance["id"])
    assert view["status"] == "completed" and view["variables"]["stored"] is True


def test_a_java_class_becomes_a_job_on_its_topic(engine: Engine) -> None:
    deploy(engine, [process("java", straight('<bpmn:serviceTask id="t" camunda:class="org.acme.ChargeCard"/>'))])
    view = get_instance(engine, start_instance(engine, "java").instance["id"])
    assert view["status"] == "running"
    assert [(j["kind"], j["topic"]) for j in view["jobs"]] == [("service", "org.acme.ChargeCard")]


def test_deploy_and_lint_are_the_same_lint(engine: Engine) -> None:
    parent = straight('<bpmn:callActivity id="t" calledElement="child"/>')
    offline_errors, offline_warnings, _ = lint_files([process("parent", parent)], features=default_features())
    assert offline_errors == [] and [w.element_id for w in offline_warnings] == ["t"]
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("parent", parent)])
    [problem] = rejected.value.problems
    assert (problem.element_id, problem.severity, problem.line) == ("t", "error", offline_warnings[0].line)
    assert "'child'" in problem.message


def test_a_rejection_also_lists_the_ignored_elements(engine: Engine) -> None:
    body = straight('<bpmn:scriptTask id="t"><bpmn:script>x = (</bpmn:script></bpmn:scriptTask>')
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("broken", body + '<bpmn:dataStoreReference id="Store"/>')])
    assert [(p.element_id, p.severity) for p in rejected.value.problems] == [("t", "error"), ("Store", "warning")]


def test_a_business_rule_task_calling_a_refused_decision_is_an_error_the_other_decisions_deploy():
    dmn_xml = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="t">
  <decision id="broken" name="broken"><literalExpression><text>1 +* 2</text></literalExpression></decision>
  <decision id="fine" name="fine"><literalExpression><text>1 + 2</text></literalExpression></decision>
</definitions>"""
    calls = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide"/>
      <bpmn:businessRuleTask id="decide" camunda:decisionRef="REF" camunda:resultVariable="r"
        camunda:mapDecisionResult="singleEntry"/>
      <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="e"/><bpmn:endEvent id="e"/>"""
    errors, warnings, _ = lint_files(
        [("d.dmn", dmn_xml.encode()), process("uses_broken", calls.replace("REF", "broken"))],
        features=default_features(),
    )
    assert [(e.element_id, e.element_type) for e in errors] == [("decide", "bpmn:businessRuleTask")]
    assert "decision 'broken' cannot be used" in errors[0].message and "'1 +* 2'" in errors[0].message
    assert any("decision 'broken'" in w.message for w in warnings)
    errors, _, _ = lint_files(
        [("d.dmn", dmn_xml.encode()), process("uses_fine", calls.replace("REF", "fine"))],
        features=default_features(),
    )
    assert errors == []


# -- the drawing's flows: bare gateway flows, elements no order reaches, dead ends --------------------------------

STOCK_CHECK = """<bpmn:startEvent id="s" name="Order in"/>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
  <bpmn:scriptTask id="check" name="Check stock"><bpmn:script>in_stock = True</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw" name="In stock?"/>
  <bpmn:sequenceFlow id="Flow_0v6jmcy" sourceRef="gw" targetRef="ship"/>
  <bpmn:sequenceFlow id="Flow_1backord" sourceRef="gw" targetRef="backorder"/>
  <bpmn:scriptTask id="ship" name="Ship"><bpmn:script>shipped = True</bpmn:script></bpmn:scriptTask>
  <bpmn:scriptTask id="backorder" name="Backorder"><bpmn:script>backordered = True</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f3" sourceRef="ship" targetRef="done"/>
  <bpmn:sequenceFlow id="f4" sourceRef="backorder" targetRef="done"/>
  <bpmn:endEvent id="done" name="Order done"/>"""


def test_flows_out_of_an_exclusive_gateway_that_no_order_takes_are_named_with_what_to_do(tmp_path: Path) -> None:
    """A flow without a condition always holds (as in Camunda 7, the first that holds is taken): the flows after it
    and the default flow are dead. Both the flow that takes every order and the ones it starves are named."""
    code, lines, summary = lint(write(tmp_path, "stock.bpmn", diagram("stock", STOCK_CHECK)))
    assert code == 0 and "0 error(s), 2 warning(s)" in summary
    problems = parsed_lines(lines)
    assert [(p["element"], p["severity"]) for p in problems] == [("Flow_0v6jmcy", "warning"), ("Flow_1backord",
                                                                  "warning")]  # fmt: skip
    assert problems[0]["message"] == (
        "the flow from 'In stock?' to 'Ship': it has no condition, so every order that gets here takes it: the "
        "gateway tries its flows in the order they are listed and takes the first that holds, so the flow from "
        "'In stock?' to 'Backorder' is never taken: give it a condition, or make it the default flow (taken when no "
        "other condition holds)"
    )
    assert problems[1]["message"].startswith(
        "the flow from 'In stock?' to 'Backorder': no order ever takes it: the flow from 'In stock?' to 'Ship' has "
        "no condition, so orders always take that one (it is listed after it): give that flow a condition"
    )
    # The default flow is dead too while a flow without a condition is there.
    with_default = STOCK_CHECK.replace('name="In stock?"', 'name="In stock?" default="Flow_1backord"')
    _, lines, _ = lint(write(tmp_path, "stock2.bpmn", diagram("stock2", with_default)))
    assert [p["element"] for p in parsed_lines(lines)] == ["Flow_0v6jmcy", "Flow_1backord"]
    assert "(it is the default flow, taken only when no other flow holds)" in lines[1]
    # A condition on the first: fine, with or without a default.
    fixed = STOCK_CHECK.replace(
        'targetRef="ship"/>',
        'targetRef="ship"><bpmn:conditionExpression>in_stock</bpmn:conditionExpression></bpmn:sequenceFlow>',
    )
    assert lint(write(tmp_path, "stock3.bpmn", diagram("stock3", fixed)))[:2] == (0, [])
    fixed_with_default = fixed.replace('name="In stock?"', 'name="In stock?" default="Flow_1backord"')
    assert lint(write(tmp_path, "stock4.bpmn", diagram("stock4", fixed_with_default)))[:2] == (0, [])


def test_the_modeler_lint_names_the_flow_by_its_ends(engine: Engine) -> None:
    from processes.modeling import lint as modeler_lint

    result = modeler_lint(engine, [("stock.bpmn", diagram("stock", STOCK_CHECK).encode())])
    names = [p["elementName"] for p in result["warnings"]]
    assert names == ["the flow from 'In stock?' to 'Ship'", "the flow from 'In stock?' to 'Backorder'"]


def test_elements_no_order_reaches_and_dead_ends_are_warnings(tmp_path: Path) -> None:
    body = """<bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="pack"/>
      <bpmn:userTask id="pack" name="Pack"/>
      <bpmn:sequenceFlow id="f2" sourceRef="pack" targetRef="split"/>
      <bpmn:parallelGateway id="split"/>
      <bpmn:sequenceFlow id="f5" sourceRef="split" targetRef="done"/>
      <bpmn:endEvent id="done" name="Packed"/>
      <bpmn:userTask id="stray" name="Call customer"/>
      <bpmn:sequenceFlow id="f3" sourceRef="stray" targetRef="never"/>
      <bpmn:endEvent id="never" name="Customer called"/>
      <bpmn:userTask id="nowhere" name="Gift wrap"/>
      <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="nowhere"/>"""
    code, lines, summary = lint(write(tmp_path, "packing.bpmn", diagram("packing", body)))
    assert code == 0 and "0 error(s), 3 warning(s)" in summary
    found = {p["element"]: p["message"] for p in parsed_lines(lines)}
    assert found["stray"].startswith("the task 'Call customer': no flow from a start leads here")
    assert found["never"].startswith("the end event 'Customer called': no flow from a start leads to this end event")
    assert "the flows into it come only from steps that are not reached either" in found["never"]
    assert found["nowhere"].startswith("the task 'Gift wrap': nothing goes out of it")
    assert "draw a flow on to the next step, or to an end event" in found["nowhere"]


def test_boundary_links_event_subprocesses_and_compensation_are_reached(tmp_path: Path) -> None:
    """No false alarms for what flows do not connect: boundary events (reached with their task), link events (by
    the link's name), event subprocesses, compensation handlers."""
    body = """<bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="pay"/>
      <bpmn:serviceTask id="pay" camunda:type="external" camunda:topic="pay"/>
      <bpmn:boundaryEvent id="late" attachedToRef="pay"><bpmn:timerEventDefinition>
        <bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="late" targetRef="late_end"/>
      <bpmn:endEvent id="late_end"/>
      <bpmn:boundaryEvent id="undo" attachedToRef="pay"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
      <bpmn:serviceTask id="refund" isForCompensation="true" camunda:type="external" camunda:topic="refund"/>
      <bpmn:association id="a1" sourceRef="undo" targetRef="refund"/>
      <bpmn:sequenceFlow id="f3" sourceRef="pay" targetRef="jump"/>
      <bpmn:intermediateThrowEvent id="jump"><bpmn:linkEventDefinition name="ship"/></bpmn:intermediateThrowEvent>
      <bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="ship"/></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f4" sourceRef="land" targetRef="done"/>
      <bpmn:endEvent id="done"/>
      <bpmn:subProcess id="on_cancel" triggeredByEvent="true">
        <bpmn:startEvent id="cancel_start"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
        <bpmn:sequenceFlow id="f5" sourceRef="cancel_start" targetRef="cancel_end"/>
        <bpmn:endEvent id="cancel_end"/>
      </bpmn:subProcess>"""
    xml = diagram("linked", body, extra='<bpmn:message id="m" name="cancel"/>')
    code, lines, _ = lint(write(tmp_path, "linked.bpmn", xml))
    assert not [line for line in lines if "no flow from a start" in line or "nothing goes out" in line], lines


# -- rules of a UNIQUE decision table that can match the same input ----------------------------------------------


def discount_table(*rules: tuple[str, str], policy: str = "") -> str:
    """A decision table over Customer tier and Amount, one rule per (tier entry, amount entry)."""
    hit = f' hitPolicy="{policy}"' if policy else ""
    rows = "".join(
        f'<rule id="r{n}"><inputEntry id="r{n}a"><text>{escape(tier)}</text></inputEntry>'
        f'<inputEntry id="r{n}b"><text>{escape(amount)}</text></inputEntry>'
        f'<outputEntry id="r{n}c"><text>{n}</text></outputEntry></rule>\n'
        for n, (tier, amount) in enumerate(rules, 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" namespace="x">
  <decision id="discount" name="Discount"><decisionTable id="t"{hit}>
    <input id="i1" label="Customer tier"><inputExpression id="e1" typeRef="string"><text>tier</text></inputExpression>
    </input>
    <input id="i2" label="Amount"><inputExpression id="e2" typeRef="number"><text>amount</text></inputExpression>
    </input>
    <output id="o" name="discount" typeRef="number"/>
{rows}  </decisionTable></decision>
</definitions>"""


def test_overlapping_rules_of_a_unique_table_are_refused_with_an_input_both_match(engine: Engine, tmp_path) -> None:
    xml = discount_table(('"gold"', ">= 100"), ('"gold","silver"', "[50..500]"), ('"bronze"', "-"))
    code, lines, _ = lint(write(tmp_path, "discount.dmn", xml))
    assert code == 1
    (problem,) = parsed_lines(lines)
    assert problem["element"] == "r2" and problem["severity"] == "error"
    assert problem["message"].startswith("rule 2 of decision 'Discount': it overlaps rule 1 [r1]: both match an input")
    assert 'Customer tier is "gold" and Amount is 100' in problem["message"]
    assert "narrow one of the two rules" in problem["message"]
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [("discount.dmn", xml.encode())])
    assert [p.element_id for p in rejected.value.problems] == ["r2"]
    # The same rules under hit policy FIRST are meant to overlap.
    assert deploy(engine, [("discount.dmn", discount_table(('"gold"', ">= 100"), ('"gold"', "[50..500]"),
                                                           policy="FIRST").encode())]).warnings == []  # fmt: skip


def test_rules_kept_apart_by_one_column_pass(tmp_path) -> None:
    xml = discount_table(
        ('"gold"', "[0..100["),
        ('"gold"', "[100..200]"),  # touches the first at 100, which the first leaves out
        ('"gold"', "> 200"),
        ('"silver","bronze"', ">= 0"),
        ("-", "< 0"),  # every tier, but only amounts below zero, which no other rule takes
        ('"silver"', "<= -1"),  # ...except this one: the only overlap
    )
    code, lines, _ = lint(write(tmp_path, "tiers.dmn", xml))
    found = [(p["element"], p["message"][:40]) for p in parsed_lines(lines)]
    assert code == 1 and [element for element, _ in found] == ["r6"], found
    assert 'overlaps rule 5 [r5]: both match an input where Customer tier is "silver" and Amount is -1' in lines[0]


def test_rules_that_only_may_overlap_are_a_warning_and_deploy(engine: Engine, tmp_path) -> None:
    xml = discount_table(('starts with(tier, "g")', "> 100"), ('"gold"', "[50..500]"), ('"silver"', "< 10"))
    code, lines, summary = lint(write(tmp_path, "maybe.dmn", xml))
    assert code == 0 and "0 error(s), 1 warning(s)" in summary
    (problem,) = parsed_lines(lines)
    assert problem["element"] == "r2" and problem["severity"] == "warning"
    assert problem["message"].endswith(
        "it may overlap rule 1 [r1]: orderflow cannot compare their entries for 'Customer tier', and otherwise both "
        "match an input where Amount is 500; under hit policy UNIQUE an input both match fails the evaluation: make "
        "sure they never match the same input, or choose another hit policy (FIRST takes the first rule that matches)"
    )
    result = deploy(engine, [("maybe.dmn", xml.encode())])
    assert [w.element_id for w in result.warnings] == ["r2"] and result.decisions
