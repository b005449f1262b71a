"""Operating running orders over HTTP against a real `orderflow serve`: migrating orders between versions, suspend
and resume, fixing variables before a retry, moving a token past a broken step, batches, delegation checks."""

from __future__ import annotations

import time

import requests

from tests.support.diagrams import process
from tests.support.rest import activate, add_user, assert_problem, complete, deploy, start, task_of
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

SCOPE = """<bpmn:subProcess id="ReviewScope" name="Review">
      <bpmn:startEvent id="rs_start"/><bpmn:sequenceFlow id="rs1" sourceRef="rs_start" targetRef="Inspect"/>
      <bpmn:userTask id="Inspect" name="Inspect"/><bpmn:sequenceFlow id="rs2" sourceRef="Inspect" targetRef="rs_end"/>
      <bpmn:endEvent id="rs_end"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="to_scope" sourceRef="route" targetRef="ReviewScope">
      <bpmn:conditionExpression>path == "review"</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="from_scope" sourceRef="ReviewScope" targetRef="charge"/>"""

ORDERS_V1 = f"""<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="route"/>
    <bpmn:exclusiveGateway id="route" default="f1"/>
    <bpmn:sequenceFlow id="f1" sourceRef="route" targetRef="Approve"/>
    <bpmn:userTask id="Approve" name="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Approve" targetRef="charge"/>
    <bpmn:serviceTask id="charge" name="Charge" camunda:type="external" camunda:topic="ops.charge"/>
    <bpmn:sequenceFlow id="f3" sourceRef="charge" targetRef="end"/><bpmn:endEvent id="end"/>{SCOPE}"""

# v2 renames Approve (a new id and name), adds a check after it, and no longer has the review scope.
ORDERS_V2 = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="route"/>
    <bpmn:exclusiveGateway id="route" default="f1"/>
    <bpmn:sequenceFlow id="f1" sourceRef="route" targetRef="ApproveOrder"/>
    <bpmn:userTask id="ApproveOrder" name="Approve the order"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ApproveOrder" targetRef="Check"/>
    <bpmn:userTask id="Check" name="Check the stock"/>
    <bpmn:sequenceFlow id="f2b" sourceRef="Check" targetRef="charge"/>
    <bpmn:serviceTask id="charge" name="Charge" camunda:type="external" camunda:topic="ops.charge"/>
    <bpmn:sequenceFlow id="f3" sourceRef="charge" targetRef="end"/><bpmn:endEvent id="end"/>"""

HELD = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="pause"/>
    <bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="pause" targetRef="end"/><bpmn:endEvent id="end"/>"""

JOB = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="ship"/>
    <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ops.ship"/>
    <bpmn:sequenceFlow id="f1" sourceRef="ship" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/><bpmn:endEvent id="end"/>
    </bpmn:process><bpmn:message id="m" name="ops.delivered"/><bpmn:process id="unused" isExecutable="false">"""

SHARE = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split"/>
    <bpmn:scriptTask id="split"><bpmn:script>share = amount / count</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f1" sourceRef="split" targetRef="end"/><bpmn:endEvent id="end"/>"""

BROKEN = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="charge"/>
    <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="ops.broken"/>
    <bpmn:sequenceFlow id="f1" sourceRef="charge" targetRef="note"/>
    <bpmn:scriptTask id="note"><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="end"/><bpmn:endEvent id="end"/>"""


def patch(server: Server, path: str, **kwargs) -> requests.Response:
    return server.http.patch(server.api + path, timeout=30, **kwargs)


def view(server: Server, instance_id: str) -> dict:
    return server.get(f"/process-instances/{instance_id}").json()


def at(server: Server, instance_id: str) -> list[str]:
    return [e["elementId"] for e in view(server, instance_id)["activeElements"]]


def wait_for(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def finished_batch(server: Server, batch_id: str) -> dict:
    def done():
        batch = server.get(f"/batches/{batch_id}").json()
        return batch if batch["status"] == "completed" else None

    return wait_for(done, f"batch {batch_id}")


def work_job(server: Server, topic: str, variables: dict | None = None) -> None:
    jobs = wait_for(lambda: activate(server, topic, worker="ops"), f"a job of {topic}")
    for job in jobs:
        response = server.post(f"/jobs/{job['id']}/complete", json={"workerId": "ops", "variables": variables or {}})
        assert response.status_code == 200, response.text


def test_running_orders_move_to_a_new_version(server: Server) -> None:
    assert deploy(server, process("ops_orders", ORDERS_V1)).status_code == 201
    orders = [
        server.post(
            "/process-definitions/ops_orders/instances",
            json={"businessKey": f"MIG-{n}", "variables": {"path": "normal", "n": n}},
        ).json()["id"]
        for n in range(20)
    ]
    in_scope = server.post(
        "/process-definitions/ops_orders/instances", json={"businessKey": "MIG-scope", "variables": {"path": "review"}}
    ).json()["id"]
    assert all(at(server, o) == ["Approve"] for o in orders) and at(server, in_scope) == ["ReviewScope", "Inspect"]
    assert deploy(server, process("ops_orders", ORDERS_V2)).status_code == 201

    request = {
        "processKey": "ops_orders",
        "sourceVersion": 1,
        "targetVersion": 2,
        "mapping": {"Approve": "ApproveOrder"},
    }
    dry = server.post("/migrations", json={**request, "dryRun": True})
    assert dry.status_code == 200, dry.text
    checks = {c["id"]: c for c in dry.json()["instances"]}
    assert sorted(o for o, c in checks.items() if c["migratable"]) == sorted(orders)
    assert not checks[in_scope]["migratable"] and "ReviewScope" in checks[in_scope]["reason"]
    assert all(view(server, o)["definitionVersion"] == 1 for o in orders)  # a dry run changes nothing

    assert_problem(server.post("/migrations", json={**request, "mapping": {"Approve": "Nowhere"}}), 422, "Nowhere")
    started = server.post("/migrations", json={**request, "comment": "v2 checks stock"})
    assert started.status_code == 202, started.text
    batch = finished_batch(server, started.json()["batchId"])
    results = {item["instanceId"]: item for item in batch["items"]}
    assert batch["counts"] == {"done": 20, "failed": 1, "skipped": 0}, batch["items"][:2]
    assert results[in_scope]["result"] == "failed" and "ReviewScope" in results[in_scope]["detail"]
    assert view(server, in_scope)["definitionVersion"] == 1 and "Inspect" in at(server, in_scope)

    for order in orders:
        moved = view(server, order)
        assert moved["definitionVersion"] == 2 and at(server, order) == ["ApproveOrder"]
        assert moved["variables"]["n"] == orders.index(order)  # the variables came along
        task = task_of(server, order)
        assert task["elementId"] == "ApproveOrder" and task["name"] == "Approve the order"
        assert complete(server, task["id"], "admin").status_code == 200
        assert at(server, order) == ["Check"]
        assert complete(server, task_of(server, order)["id"], "admin").status_code == 200
    for _ in orders:
        work_job(server, "ops.charge")
    for order in orders:
        assert wait_until_ended(server, order)["status"] == "completed"
    trail = server.get(f"/process-instances/{orders[0]}/events").json()["items"]
    migrated = next(e for e in trail if e["type"] == "instance_migrated")
    assert migrated["data"]["before"]["version"] == 1 and migrated["data"]["comment"] == "v2 checks stock"
    assert [e["type"] for e in trail][0] == "instance_started"  # the audit trail is kept


def test_suspend_holds_a_due_timer_and_a_job_until_resumed(server: Server) -> None:
    deploy(server, process("ops_held", HELD))
    deploy(server, process("ops_job", JOB))
    timer_order, job_order = start(server, "ops_held"), start(server, "ops_job")
    for order in (timer_order, job_order):
        suspended = server.post(f"/process-instances/{order}/suspend", json={"comment": "customer on hold"})
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["status"] == "suspended"
    assert_problem(server.post(f"/process-instances/{job_order}/suspend", json={}), 409, "already suspended")

    time.sleep(2)  # the timer falls due meanwhile
    assert activate(server, "ops.ship", worker="ops") == []  # nobody gets the held job
    assert view(server, timer_order)["status"] == "suspended" and at(server, timer_order) == ["pause"]
    assert [j["status"] for j in view(server, job_order)["jobs"]] == ["held"]
    # Messages and task completions are refused while suspended.
    message = server.post("/messages", json={"name": "ops.delivered", "businessKey": None})
    assert message.status_code in (404, 409)

    assert server.post(f"/process-instances/{timer_order}/resume", json={}).status_code == 200
    assert wait_until_ended(server, timer_order)["status"] == "completed"  # the due timer fired on resume
    server.post(f"/process-instances/{job_order}/resume", json={"comment": "go on"})
    work_job(server, "ops.ship")
    wait_for(lambda: at(server, job_order) == ["wait"], "the order to wait for its message")
    trail = [e["type"] for e in server.get(f"/process-instances/{job_order}/events").json()["items"]]
    assert "instance_suspended" in trail and "instance_resumed" in trail


def test_a_suspended_order_refuses_tasks_and_messages(server: Server) -> None:
    deploy(server, process("ops_orders_s", ORDERS_V1.replace("ops.charge", "ops.charge_s")))
    order = server.post(
        "/process-definitions/ops_orders_s/instances", json={"businessKey": "SUS-1", "variables": {"path": "x"}}
    ).json()["id"]
    task = task_of(server, order)
    server.post(f"/process-instances/{order}/suspend", json={})
    assert_problem(complete(server, task["id"], "admin"), 409, "suspended")
    server.post(f"/process-instances/{order}/resume", json={})
    assert complete(server, task["id"], "admin").status_code == 200


def test_a_suspended_definition_version_starts_nothing(server: Server) -> None:
    deploy(server, process("ops_paused", HELD))
    path = "/process-definitions/ops_paused/versions/1"
    assert server.post(f"{path}/suspend", json={"comment": "bad release"}).json()["suspended"] is True
    assert_problem(server.post("/process-definitions/ops_paused/instances", json={}), 409, "suspended")
    assert server.post(f"{path}/resume", json={}).json()["suspended"] is False
    assert server.post("/process-definitions/ops_paused/instances", json={}).status_code == 201


def test_a_variable_fix_then_a_retry_completes_the_order(server: Server) -> None:
    deploy(server, process("ops_share", SHARE))
    order = start(server, "ops_share", amount=10, count=0)
    assert wait_until_ended(server, order)["status"] == "incident"
    incident = view(server, order)["incidents"][0]

    assert_problem(patch(server, f"/process-instances/{order}/variables", json={"delete": ["nope"]}), 422, "nope")
    fixed = patch(server, f"/process-instances/{order}/variables", json={"set": {"count": 4}, "comment": "typo"})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["variables"]["count"] == 4
    retried = server.post(f"/incidents/{incident['id']}/retry")
    assert retried.json()["result"] == "retried", retried.text
    done = wait_until_ended(server, order)
    assert done["status"] == "completed"
    event = next(
        e for e in server.get(f"/process-instances/{order}/events").json()["items"] if e["type"] == "variables_changed"
    )
    assert event["data"]["before"] == {"count": 0} and event["data"]["after"] == {"count": 4}
    assert event["data"]["comment"] == "typo" and event["actor"]
    assert_problem(patch(server, f"/process-instances/{order}/variables", json={"set": {"x": 1}}), 409, "completed")


def test_a_bulk_retry_with_a_variable_fix_runs_as_a_batch(server: Server) -> None:
    deploy(server, process("ops_share_bulk", SHARE))
    orders = [start(server, "ops_share_bulk", amount=10, count=0) for _ in range(3)]
    for order in orders:
        wait_until_ended(server, order)
    response = server.post(
        "/incidents/retry-batch", json={"filter": {"processKey": "ops_share_bulk"}, "variables": {"count": 5}}
    )
    assert response.status_code == 202, response.text
    batch = finished_batch(server, response.json()["batchId"])
    assert batch["operation"] == "retry" and batch["counts"]["done"] == 3, batch
    for order in orders:
        assert wait_until_ended(server, order)["variables"]["share"] == 2


def test_a_token_moved_past_a_failing_service_task_completes_the_order(server: Server) -> None:
    deploy(server, process("ops_broken", BROKEN))
    order = start(server, "ops_broken")
    job = wait_for(lambda: activate(server, "ops.broken", worker="ops"), "the job")[0]
    server.post(f"/jobs/{job['id']}/fail", json={"workerId": "ops", "errorMessage": "down", "retries": 0})
    assert wait_until_ended(server, order)["status"] == "incident"

    body = {"instructions": [{"cancel": "charge"}, {"startBefore": "ghost"}]}
    assert_problem(server.post(f"/process-instances/{order}/modify", json=body), 422, "ghost")
    assert_problem(
        server.post(f"/process-instances/{order}/modify", json={"instructions": [{"cancel": "note"}]}), 422, "note"
    )
    moved = server.post(
        f"/process-instances/{order}/modify",
        json={"instructions": [{"cancel": "charge"}, {"startBefore": "note"}], "comment": "charged by phone"},
    )
    assert moved.status_code == 200, moved.text
    done = wait_until_ended(server, order)
    assert done["status"] == "completed" and done["variables"]["noted"] is True
    assert all(i["resolvedAt"] for i in done["incidents"])
    trail = server.get(f"/process-instances/{order}/events").json()["items"]
    assert any(e["type"] == "element_completed" and e["elementId"] == "end" for e in trail)  # it ran to its end
    moved_event = next(e for e in trail if e["type"] == "instance_modified")
    assert moved_event["data"]["comment"] == "charged by phone" and moved_event["data"]["before"]["activeElements"] == [
        "charge"
    ]
    assert [j["status"] for j in done["jobs"]] == ["cancelled"] or all(j["status"] != "ready" for j in done["jobs"])


def test_batches_cancel_the_orders_a_filter_selects(server: Server) -> None:
    deploy(server, process("ops_bulk", HELD.replace("PT1S", "PT1H")))
    keys = [f"BULK-{n}" for n in range(3)]
    orders = [
        server.post("/process-definitions/ops_bulk/instances", json={"businessKey": k}).json()["id"] for k in keys
    ]
    response = server.post(
        "/process-instances/batch",
        json={"operation": "suspend", "filter": {"businessKeys": keys[:2]}, "comment": "hold two"},
    )
    assert response.status_code == 202, response.text
    batch = finished_batch(server, response.json()["batchId"])
    assert sorted(i["instanceId"] for i in batch["items"]) == sorted(orders[:2])
    assert [view(server, o)["status"] for o in orders] == ["suspended", "suspended", "waiting"]
    again = finished_batch(
        server,
        server.post("/process-instances/batch", json={"operation": "suspend", "filter": {"businessKeys": keys}}).json()[
            "batchId"
        ],
    )
    assert again["counts"] == {"done": 1, "failed": 0, "skipped": 2}
    cancel = server.post("/process-instances/batch", json={"operation": "cancel", "filter": {"processKey": "ops_bulk"}})
    assert finished_batch(server, cancel.json()["batchId"])["counts"]["done"] == 3
    assert all(view(server, o)["status"] == "cancelled" for o in orders)
    assert_problem(server.get("/batches/nope"), 404)


def test_operators_act_and_approvers_may_not(server: Server) -> None:
    deploy(server, process("ops_roles", HELD.replace("PT1S", "PT1H")))
    order = start(server, "ops_roles")
    approver = add_user(server, "ops_approver", ["approver"])
    assert approver.post(f"{server.api}/process-instances/{order}/suspend", json={}, timeout=10).status_code == 403
    operator = add_user(server, "ops_operator", ["operator"])
    answer = operator.post(f"{server.api}/process-instances/{order}/suspend", json={"comment": "c"}, timeout=10)
    assert answer.status_code == 200
    event = [
        e for e in server.get(f"/process-instances/{order}/events").json()["items"] if e["type"] == "instance_suspended"
    ]
    assert event[0]["actor"] == "ops_operator" and event[0]["data"]["comment"] == "c"
