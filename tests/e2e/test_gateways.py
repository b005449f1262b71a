"""Exclusive and inclusive gateways as Camunda 7 runs them, over HTTP: flows drawn without a condition, and
variables whose names start with an underscore."""

from __future__ import annotations

from tests.support.diagrams import process
from tests.support.rest import assert_problem, deploy, start
from tests.support.server import Server
from tests.support.waiting import wait_until_ended


def gateway(kind: str, flows: list[tuple[str, str | None]], default: str | None = None) -> str:
    """A gateway whose flows (id, condition or None), listed in this order, each lead to a script that marks it."""
    marker = f' default="{default}"' if default else ""
    body = '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="in" sourceRef="s" targetRef="g"/>'
    body += f'<bpmn:{kind} id="g"{marker}/>'
    for flow, condition in flows:
        expression = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        body += f"""<bpmn:sequenceFlow id="{flow}" sourceRef="g" targetRef="to_{flow}">{expression}</bpmn:sequenceFlow>
        <bpmn:scriptTask id="to_{flow}"><bpmn:script>took_{flow} = True</bpmn:script></bpmn:scriptTask>
        <bpmn:sequenceFlow id="out_{flow}" sourceRef="to_{flow}" targetRef="end_{flow}"/>
        <bpmn:endEvent id="end_{flow}"/>"""
    return body


def taken(server: Server, key: str, **variables) -> list[str]:
    view = wait_until_ended(server, start(server, key, **variables))
    assert view["status"] == "completed", view
    return sorted(name.removeprefix("took_") for name in view["variables"] if name.startswith("took_"))


def test_a_flow_without_a_condition_out_of_an_exclusive_gateway_is_taken_when_no_flow_before_it_matches(
    server: Server,
) -> None:
    body = gateway("exclusiveGateway", [("big", "${amount &gt; 1000}"), ("other", None)])
    assert deploy(server, process("xor_plain", body)).status_code == 201
    assert taken(server, "xor_plain", amount=5000) == ["big"]
    assert taken(server, "xor_plain", amount=10) == ["other"]
    # Camunda 7 tries the flows in the order the XML lists them: listed first, a flow without a condition always wins.
    first = gateway("exclusiveGateway", [("other", None), ("big", "${amount &gt; 1000}")])
    assert deploy(server, process("xor_plain_first", first)).status_code == 201
    assert taken(server, "xor_plain_first", amount=5000) == ["other"]
    # The default flow is still the last resort, after a flow without a condition.
    with_default = gateway("exclusiveGateway", [("big", "=amount &gt; 1000"), ("other", None), ("dflt", None)], "dflt")
    assert deploy(server, process("xor_plain_default", with_default)).status_code == 201
    assert taken(server, "xor_plain_default", amount=1) == ["other"]


def test_an_inclusive_gateway_takes_every_flow_without_a_condition_and_the_default_only_when_none_matches(
    server: Server,
) -> None:
    body = gateway("inclusiveGateway", [("audit", None), ("big", "${amount &gt; 1000}"), ("dflt", None)], "dflt")
    assert deploy(server, process("or_plain", body)).status_code == 201
    assert taken(server, "or_plain", amount=5000) == ["audit", "big"]
    assert taken(server, "or_plain", amount=10) == ["audit"]


def test_gateways_read_variables_whose_names_start_with_an_underscore(server: Server) -> None:
    flows = [("juel", "${_approved}"), ("feel", "=_total &gt; 100"), ("python", "_total &lt; 50")]
    assert deploy(server, process("or_underscore", gateway("inclusiveGateway", flows))).status_code == 201
    assert taken(server, "or_underscore", _approved=True, _total=500) == ["feel", "juel"]
    assert taken(server, "or_underscore", _approved=False, _total=20) == ["python"]
    xor = gateway("exclusiveGateway", [("yes", "${_approved}"), ("no", "${!_approved}")])
    assert deploy(server, process("xor_underscore", xor)).status_code == 201
    assert taken(server, "xor_underscore", _approved=False) == ["no"]
    # Dunder names and the sandbox's own guards stay refused, as variables and in Python conditions.
    refused = server.post("/process-definitions/xor_underscore/instances", json={"variables": {"__class__": 1}})
    assert_problem(refused, 422, "__class__")
    hostile = gateway("exclusiveGateway", [("a", "_of_pow(2, 3)"), ("b", None)])
    assert_problem(deploy(server, process("guard", hostile)), 422, "_of_pow")
