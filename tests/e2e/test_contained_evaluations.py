"""No diagram can stall or strand an order (issue #15, items 1 and 2), over HTTP against a real `orderflow serve`:

- an expression over its time, step or size budget is an incident at its element naming the expression, while
  other orders start and complete (on the embedded default, SQLite, and on PostgreSQL);
- a value that cannot be saved (not data, or over ORDERFLOW_MAX_VARIABLES_BYTES) is an incident at the element
  naming the variable, whether it is made at the start, after a user task, a job or a timer; no answer is a 500;
- SQLite takes deployments, decision evaluations and starts back to back without "database is locked"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.support.diagrams import HEADER, c8, process
from tests.support.postgres import fresh_database
from tests.support.rest import activate, complete, deploy, start, task_of
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended


def script_process(key: str, script: str) -> tuple[str, bytes]:
    return process(
        key,
        f"""<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  <bpmn:scriptTask id="work"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/><bpmn:endEvent id="end"/>""",
    )


def gateway_process(key: str, condition: str) -> tuple[str, bytes]:
    return process(
        key,
        f"""<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route"/>
  <bpmn:exclusiveGateway id="route" default="other"/>
  <bpmn:sequenceFlow id="check" sourceRef="route" targetRef="yes">
    <bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="other" sourceRef="route" targetRef="no"/>
  <bpmn:endEvent id="yes"/><bpmn:endEvent id="no"/>""",
    )


def decision_process(key: str, decision: str) -> tuple[str, bytes]:
    return process(
        key,
        f"""<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide" camunda:decisionRef="{decision}" camunda:resultVariable="outcome"
     camunda:mapDecisionResult="singleEntry"/>
  <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end"/><bpmn:endEvent id="end"/>""",
    )


def dmn(key: str, input_entry: str, output: str = '"ok"') -> tuple[str, bytes]:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="{key}_file" name="{key}" namespace="t">
  <decision id="{key}" name="{key}">
    <decisionTable id="{key}_table" hitPolicy="FIRST">
      <input id="{key}_in"><inputExpression typeRef="string"><text>note</text></inputExpression></input>
      <output id="{key}_out" name="result" typeRef="string"/>
      <rule id="{key}_rule"><inputEntry><text>{input_entry}</text></inputEntry>
        <outputEntry><text>{output}</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""
    return f"{key}.dmn", xml.encode()


SPACES = " " * 150
# Each of these held every other order for 10-20 s before budgets and RE2 (issue #15).
HOSTILE = {
    "python_builtins": script_process("python_builtins", "x = sum(map(sum, [range(100000)] * 4000))"),
    "python_join": script_process("python_join", "x = ' '.join(['a' * 1000] * 200000)"),
    "feel_loop": gateway_process("feel_loop", "=count(for a in 1..1000000, b in 1..1000000 return 1) &gt; 0"),
    "feel_regex": gateway_process("feel_regex", '=matches(note, "\\s*\\s*\\s*\\s*x")'),
}
QUICK = script_process("quick", "doubled = amount * 2")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def busy_server(request, sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on the embedded default (SQLite) and one on PostgreSQL, each with embedded workers."""
    with ExitStack() as stack:
        env: dict[str, str] = {}
        if request.param == "postgresql":
            env["ORDERFLOW_DATABASE_URL"] = stack.enter_context(fresh_database("orderflow_contain"))
        server = start_server(tmp_path_factory.mktemp(f"contain_{request.param}"), sandbox_url, **env)
        stack.callback(stop, server.proc)
        yield server


def _incident(view: dict) -> dict:
    assert view["status"] == "incident", view
    open_ = [i for i in view["incidents"] if i["resolvedAt"] is None]
    assert len(open_) == 1, view["incidents"]
    return open_[0]


def test_other_orders_start_and_complete_while_hostile_expressions_run(busy_server: Server) -> None:
    server = busy_server
    response = deploy(server, QUICK, *HOSTILE.values())
    assert response.status_code == 201, response.text
    hostile: dict[str, dict] = {}
    errors: list[str] = []

    def run_hostile() -> None:
        for key in HOSTILE:
            answer = server.post(f"/process-definitions/{key}/instances", json={"variables": {"note": SPACES}})
            if answer.status_code != 201:
                errors.append(f"{key}: {answer.status_code} {answer.text}")
            else:
                hostile[key] = answer.json()

    thread = threading.Thread(target=run_hostile)
    thread.start()
    quick: list[str] = []
    while thread.is_alive() or len(quick) < 5:
        quick.append(start(server, "quick", amount=len(quick)))
    thread.join()
    assert errors == []
    # Every quick order ran to its end, while and after the hostile ones ran.
    for n, instance_id in enumerate(quick):
        view = wait_until_ended(server, instance_id)
        assert view["status"] == "completed" and view["variables"]["doubled"] == 2 * n
    # Each hostile order that goes over a budget stops at its element, naming the expression and the budget.
    views = {key: wait_until_ended(server, hostile[key]["id"]) for key in HOSTILE}
    builtins = _incident(views["python_builtins"])
    assert builtins["elementId"] == "work"
    assert "sum(map(sum, [range(100000)] * 4000))" in builtins["message"] and "step budget" in builtins["message"]
    join = _incident(views["python_join"])
    assert join["elementId"] == "work" and "too much data" in join["message"]
    loop = _incident(views["feel_loop"])
    assert "count(for a in 1..1000000" in loop["message"] and "ORDERFLOW_EXPRESSION" in loop["message"]
    # A regular expression that backtracked for seconds runs on RE2 in linear time: the order just completes.
    assert views["feel_regex"]["status"] == "completed"


def test_hostile_dmn_cells_are_refused_at_deploy_or_contained(busy_server: Server) -> None:
    server = busy_server
    refused = deploy(server, dmn("backref", 'matches(?, "(a)\\1")'))
    assert refused.status_code == 422 and "back-references" in refused.text and "backref" in refused.text
    response = deploy(
        server,
        dmn("regex_cell", 'matches(?, "' + "\\s*" * 4 + 'x")'),
        dmn("loop_cell", "count(for a in 1..1000000, b in 1..1000000 return 1) &gt; 0"),
        decision_process("uses_regex_cell", "regex_cell"),
        decision_process("uses_loop_cell", "loop_cell"),
    )
    assert response.status_code == 201, response.text
    answer = server.post("/decisions/regex_cell/evaluate", json={"variables": {"note": SPACES}})
    assert answer.status_code == 200 and answer.json()["result"] is None
    answer = server.post("/decisions/loop_cell/evaluate", json={"variables": {"note": "x"}})
    assert answer.status_code == 422 and "count(for a in 1..1000000" in answer.json()["detail"]
    regex_order = wait_until_ended(server, start(server, "uses_regex_cell", note=SPACES))
    assert regex_order["status"] == "completed"
    loop_order = wait_until_ended(server, start(server, "uses_loop_cell", note="x"))
    incident = _incident(loop_order)
    assert incident["elementId"] == "decide" and "count(for a in 1..1000000" in incident["message"]


# -- nothing strands ------------------------------------------------------------------------------------------

UNSAVABLE_AFTER = {
    "start": '<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>',
    "user_task": """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="approve"/>
  <bpmn:userTask id="approve" camunda:candidateGroups="approvers"/>
  <bpmn:sequenceFlow id="f1" sourceRef="approve" targetRef="work"/>""",
    "job": """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="charge"/>
  <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="contain.charge"/>
  <bpmn:sequenceFlow id="f1" sourceRef="charge" targetRef="work"/>""",
    "timer": """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="pause"/>
  <bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition><bpmn:timeDuration>PT0.2S</bpmn:timeDuration>
  </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="pause" targetRef="work"/>""",
    "message": """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="go"/>
  <bpmn:intermediateCatchEvent id="go"><bpmn:messageEventDefinition messageRef="Msg_go"/></bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="go" targetRef="work"/>""",
}
UNSAVABLE = {
    "type": ("x = map.mro()", "'x'", "not data"),
    "huge": ("x = ['a' * 100000] * 50", "'x'", "ORDERFLOW_MAX_VARIABLES_BYTES"),
}


def _unsavable_process(key: str, before: str, script: str) -> tuple[str, bytes]:
    xml = (
        HEADER
        + f'<bpmn:message id="Msg_go" name="{key}-go"/><bpmn:process id="{key}" isExecutable="true">'
        + before
        + f"""<bpmn:scriptTask id="work"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/><bpmn:endEvent id="end"/>"""
        + "</bpmn:process></bpmn:definitions>"
    )
    return f"{key}.bpmn", xml.encode()


@pytest.mark.parametrize("value", sorted(UNSAVABLE))
@pytest.mark.parametrize("path", sorted(UNSAVABLE_AFTER))
def test_a_value_that_cannot_be_saved_is_an_incident_naming_the_variable(server: Server, path: str, value: str):
    script, variable, why = UNSAVABLE[value]
    key = f"unsavable_{path}_{value}"
    assert deploy(server, _unsavable_process(key, UNSAVABLE_AFTER[path], script)).status_code == 201
    answer = server.post(f"/process-definitions/{key}/instances", json={"variables": {}, "businessKey": key})
    assert answer.status_code == 201, answer.text
    instance_id = answer.json()["id"]
    if path == "message":
        sent = server.post("/messages", json={"name": f"{key}-go", "businessKey": key})
        assert sent.status_code == 200 and sent.json()["instanceId"] == instance_id, sent.text
    elif path == "user_task":
        task = task_of(server, instance_id)
        done = complete(server, task["id"], "admin")
        # The approval was given and stays given: the order stops after it, at the script.
        assert done.status_code == 200, done.text
        assert server.get(f"/tasks/{task['id']}").json()["status"] == "completed"
    elif path == "job":
        (job,) = activate(server, "contain.charge", worker="contain")
        done = server.post(f"/jobs/{job['id']}/complete", json={"workerId": "contain", "variables": {"paid": True}})
        assert done.status_code in (200, 204), done.text
    view = wait_until_ended(server, instance_id)
    incident = _incident(view)
    assert incident["elementId"] == "work"
    assert variable in incident["message"] and why in incident["message"]
    # Retrying runs the script again, which fails again: a new incident, never a 500 or a stuck order.
    retried = server.post(f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert _incident(server.get(f"/process-instances/{instance_id}").json())["elementId"] == "work"


def test_a_feel_function_value_is_an_incident_naming_the_variable(server: Server) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="make"/>
  <bpmn:scriptTask id="make"><bpmn:extensionElements>
    <zeebe:script expression="=function(x) x + 1" resultVariable="increment"/>
  </bpmn:extensionElements></bpmn:scriptTask>
  <bpmn:sequenceFlow id="b" sourceRef="make" targetRef="e"/><bpmn:endEvent id="e"/>"""
    assert deploy(server, c8("feel_function_value", body)).status_code == 201
    answer = server.post("/process-definitions/feel_function_value/instances", json={"variables": {}})
    assert answer.status_code == 201, answer.text
    incident = _incident(answer.json() | server.get(f"/process-instances/{answer.json()['id']}").json())
    assert incident["elementId"] == "make" and "'increment'" in incident["message"]


# -- SQLite under back-to-back writes -------------------------------------------------------------------------


def test_sqlite_takes_100_decision_deployments_and_evaluations_while_orders_start(server: Server) -> None:
    assert deploy(server, QUICK).status_code == 201
    failures: list[str] = []
    stop_starting = threading.Event()
    started: list[str] = []

    def start_orders() -> None:
        while not stop_starting.is_set():
            answer = server.post("/process-definitions/quick/instances", json={"variables": {"amount": 1}})
            if answer.status_code != 201:
                failures.append(f"start: {answer.status_code} {answer.text}")
            else:
                started.append(answer.json()["id"])

    starters = [threading.Thread(target=start_orders) for _ in range(2)]
    for thread in starters:
        thread.start()
    try:
        for n in range(100):
            key = f"back_to_back_{n}"
            deployed = deploy(server, dmn(key, f'"{n}"', f'"{n}"'))
            if deployed.status_code != 201:
                failures.append(f"deploy {n}: {deployed.status_code} {deployed.text}")
                continue
            answer = server.post(f"/decisions/{key}/evaluate", json={"variables": {"note": str(n)}})
            if answer.status_code != 200 or answer.json()["result"] != str(n):
                failures.append(f"evaluate {n}: {answer.status_code} {answer.text}")
    finally:
        stop_starting.set()
        for thread in starters:
            thread.join()
    assert failures == []
    assert started and all(wait_until_ended(server, i)["status"] == "completed" for i in started)
