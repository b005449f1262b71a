"""The task inbox over HTTP: candidates, claim, delegate, complete with a validated form, due dates and escalation."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from tests.support.diagrams import ESCALATING, process
from tests.support.rest import add_user, assert_problem, complete, deploy, drive_external_jobs, start, task_of
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

APPROVAL = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="approve"/>
  <bpmn:userTask id="approve" name="Approve order" camunda:candidateGroups="sales, ${region}"
      camunda:dueDate="${dateTime().plusDays(2).toDate()}" camunda:priority="${total &gt; 1000 ? 80 : 40}">
    <bpmn:documentation>Check the order and its margin.</bpmn:documentation>
    <bpmn:extensionElements><camunda:formData>
      <camunda:formField id="approved" label="Approve?" type="boolean">
        <camunda:validation><camunda:constraint name="required"/></camunda:validation></camunda:formField>
      <camunda:formField id="comment" label="Comment" type="string">
        <camunda:validation><camunda:constraint name="maxlength" config="20"/></camunda:validation></camunda:formField>
      <camunda:formField id="level" label="Level" type="enum">
        <camunda:value id="standard" name="Standard"/><camunda:value id="express" name="Express"/></camunda:formField>
    </camunda:formData></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="b" sourceRef="approve" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw" default="no"/>
  <bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="approved_end">
    <bpmn:conditionExpression>${approved}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="no" sourceRef="gw" targetRef="rejected_end"/>
  <bpmn:endEvent id="approved_end"/><bpmn:endEvent id="rejected_end"/>"""


def test_an_approval_through_the_inbox(server: Server) -> None:
    assert deploy(server, process("approval", APPROVAL)).status_code == 201
    instance_id = start(server, "approval", total=2500, region="emea")
    task = task_of(server, instance_id, candidateGroup="emea")
    assert task["name"] == "Approve order" and task["documentation"] == "Check the order and its margin."
    assert task["candidateGroups"] == ["sales", "emea"] and task["priority"] == 80 and task["assignee"] is None
    due = datetime.fromisoformat(task["dueAt"].rstrip("Z"))
    assert timedelta(days=1, hours=23) < due - datetime.utcnow() < timedelta(days=2, hours=1)
    assert [f["id"] for f in task["formFields"]] == ["approved", "comment", "level"]
    assert task["formFields"][0]["required"] and task["formFields"][2]["options"][1]["id"] == "express"
    elsewhere = server.get("/tasks", params={"candidateGroup": "apac"}).json()["items"]
    assert all(t["instanceId"] != instance_id for t in elsewhere)  # not offered to another region

    assert server.post(f"/tasks/{task['id']}/claim", json={"userId": "alice"}).json()["assignee"] == "alice"
    assert_problem(server.post(f"/tasks/{task['id']}/claim", json={"userId": "bob"}), 409, "alice")
    assert_problem(complete(server, task["id"], "bob", approved=True), 409, "alice")

    body = assert_problem(complete(server, task["id"], "alice", comment="x" * 30, level="overnight"), 422)
    assert set(body["errors"]) == {"approved", "comment", "level"}
    assert "required" in body["errors"]["approved"][0]
    assert server.get(f"/process-instances/{instance_id}").json()["status"] == "waiting"  # nothing changed

    done = complete(server, task["id"], "alice", approved=True, comment="fine", level="express")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed" and done.json()["completedBy"] == "alice"
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["level"] == "express"
    ended = [e["elementId"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    assert "approved_end" in ended
    assert_problem(complete(server, task["id"], "alice", approved=False), 409, "completed")


def test_concurrent_completions_have_one_winner(server: Server) -> None:
    deploy(server, process("approval", APPROVAL))
    instance_id = start(server, "approval", total=10, region="emea")
    task = task_of(server, instance_id)
    codes: list[int] = []
    barrier = threading.Barrier(6)

    def attempt(n: int) -> None:
        barrier.wait()
        codes.append(complete(server, task["id"], f"user{n}", approved=n % 2 == 0).status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * 5
    assert wait_until_ended(server, instance_id)["status"] == "completed"


def test_delegate_and_unclaim(server: Server) -> None:
    deploy(server, process("approval", APPROVAL))
    task = task_of(server, start(server, "approval", total=10, region="emea"))
    server.post(f"/tasks/{task['id']}/claim", json={"userId": "carol"})
    # Nobody can be handed a task who does not exist: it would be stranded.
    assert_problem(server.post(f"/tasks/{task['id']}/delegate", json={"userId": "dave"}), 422, "no user 'dave'")
    add_user(server, "dave", ["approver"])
    assert server.post(f"/tasks/{task['id']}/delegate", json={"userId": "dave"}).json()["assignee"] == "dave"
    assert server.get("/tasks", params={"assignee": "dave"}).json()["total"] >= 1
    assert_problem(server.post(f"/tasks/{task['id']}/unclaim", json={"userId": "carol"}), 409)
    assert server.post(f"/tasks/{task['id']}/unclaim", json={"userId": "dave"}).json()["assignee"] is None
    assert_problem(server.post("/tasks/nope/claim", json={}), 404)


def test_a_due_date_timer_escalates_to_a_manager(server: Server) -> None:
    assert deploy(server, process("escalating", ESCALATING)).status_code == 201
    instance_id = start(server, "escalating")
    review = task_of(server, instance_id, assignee="alice")
    assert review["overdue"] is True
    assert any(t["id"] == review["id"] for t in server.get("/tasks", params={"overdue": True}).json()["items"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.get(f"/tasks/{review['id']}").json()["status"] == "open":
        time.sleep(0.05)
    assert server.get(f"/tasks/{review['id']}").json()["status"] == "cancelled"
    manager = task_of(server, instance_id, candidateGroup="managers")
    assert manager["priority"] == 90 and manager["elementId"] == "manager"
    assert_problem(complete(server, review["id"], "alice"), 409, "cancelled")
    assert complete(server, manager["id"], "erin").status_code == 200
    ended = [e["elementId"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    assert "escalated" in ended and "done" not in ended


def test_cancelling_the_instance_cancels_its_tasks(server: Server) -> None:
    deploy(server, process("approval", APPROVAL))
    instance_id = start(server, "approval", total=10, region="emea")
    task = task_of(server, instance_id)
    server.post(f"/process-instances/{instance_id}/cancel")
    assert server.get(f"/tasks/{task['id']}").json()["status"] == "cancelled"


def test_camunda7_invoice_payment_runs_through_its_user_task(server: Server, conformance) -> None:
    name = "invoicePayment.bpmn"
    response = deploy(server, (name, (conformance / "camunda7" / name).read_bytes()))
    key = response.json()["definitions"][0]["key"]
    instance_id = start(server, key, amount=30)
    task = task_of(server, instance_id)
    assert task["name"] == "Pay Invoice"
    assert complete(server, task["id"], "accounting").status_code == 200
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed"


def test_camunda8_send_email_runs_through_its_user_task_and_worker(server: Server, conformance) -> None:
    response = deploy(server, ("send-email.bpmn", (conformance / "camunda8" / "send-email.bpmn").read_bytes()))
    key = response.json()["definitions"][0]["key"]
    instance_id = start(server, key)
    task = task_of(server, instance_id)
    assert task["formKey"] == "camunda-forms:bpmn:userTaskForm_15j79nd"
    assert complete(server, task["id"], "clerk", message_content="Hello").status_code == 200
    assert drive_external_jobs(server, instance_id)["status"] == "completed"


DUE_AT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="t"/>
  <bpmn:userTask id="t" name="Check" camunda:candidateGroups="filters" camunda:dueDate="${due}"
      camunda:priority="${prio}"/>
  <bpmn:sequenceFlow id="b" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_the_inbox_filters_by_due_date_and_claim_and_sorts(server: Server):
    assert deploy(server, process("due_filters", DUE_AT)).status_code == 201
    ids = {}
    for name, due, prio in (("soon", "2030-01-01T08:00:00Z", 10), ("later", "2030-06-01T08:00:00Z", 90),
                            ("latest", "2031-01-01T08:00:00Z", 50)):  # fmt: skip
        ids[name] = start(server, "due_filters", due=due, prio=prio)

    def names(**params) -> list[str]:
        items = server.get("/tasks", params={"processKey": "due_filters", **params}).json()["items"]
        by_instance = {v: k for k, v in ids.items()}
        return [by_instance[t["instanceId"]] for t in items]

    assert names(sort="due") == ["soon", "later", "latest"]
    assert names(sort="priority") == ["later", "latest", "soon"]
    assert names(dueBefore="2030-12-31T00:00:00+00:00", sort="due") == ["soon", "later"]
    soon = task_of(server, ids["soon"])
    server.post(f"/tasks/{soon['id']}/claim", json={"userId": "zoe"})
    assert names(unassigned="true", sort="due") == ["later", "latest"]
    assert server.get("/tasks", params={"sort": "random"}).status_code == 422
