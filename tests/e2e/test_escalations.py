"""Escalation of user tasks by timer boundary events, as drawn: a reminder, reassignment to a group, a raised
priority, or (interrupting) routing to a manager's task; each firing in the audit trail."""

from __future__ import annotations

import time

from tests.support.diagrams import process
from tests.support.rest import deploy, start, task_of
from tests.support.server import Server

REASSIGNING = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="approve"/>
  <bpmn:userTask id="approve" name="Approve" camunda:candidateGroups="sales" camunda:priority="40"/>
  <bpmn:boundaryEvent id="escalate" name="Not approved in time" attachedToRef="approve" cancelActivity="false">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="candidateGroups" value="${escalationGroup}"/>
      <camunda:property name="priority" value="+30"/>
    </camunda:properties></bpmn:extensionElements>
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT0.5S</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="b" sourceRef="approve" targetRef="done"/><bpmn:endEvent id="done"/>
  <bpmn:sequenceFlow id="c" sourceRef="escalate" targetRef="noted"/><bpmn:endEvent id="noted"/>"""

REMINDING = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="check"/>
  <bpmn:userTask id="check" name="Check" camunda:assignee="rita"/>
  <bpmn:boundaryEvent id="remind" name="Reminder" attachedToRef="check" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R2/PT0.3S</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="b" sourceRef="check" targetRef="done"/><bpmn:endEvent id="done"/>
  <bpmn:sequenceFlow id="c" sourceRef="remind" targetRef="reminded"/><bpmn:endEvent id="reminded"/>"""


def events_of(server: Server, instance_id: str, *types: str) -> list[dict]:
    items = server.get(f"/process-instances/{instance_id}/events").json()["items"]
    return [e for e in items if e["type"] in types]


def wait_for_events(server: Server, instance_id: str, type_: str, count: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events_of(server, instance_id, type_)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {count} {type_} events: {events_of(server, instance_id, type_)}")


def test_a_late_approval_goes_to_the_escalation_group_with_a_higher_priority(server: Server):
    assert deploy(server, process("reassigning", REASSIGNING)).status_code == 201
    instance_id = start(server, "reassigning", escalationGroup="management")
    task = task_of(server, instance_id)
    server.post(f"/tasks/{task['id']}/claim", json={"userId": "sally"})
    escalated = wait_for_events(server, instance_id, "task_escalated", 1)[0]
    assert escalated["data"]["changes"] == {"candidateGroups": ["management"], "assignee": None, "priority": 70}
    assert escalated["data"]["interrupting"] is False and escalated["elementId"] == "approve"
    now = server.get(f"/tasks/{task['id']}").json()
    # Still the same open task, now offered to management, given back by Sally, more urgent.
    assert (now["status"], now["candidateGroups"], now["assignee"], now["priority"]) == (
        "open", ["management"], None, 70
    )  # fmt: skip
    assert [t["id"] for t in server.get("/tasks", params={"candidateGroup": "management"}).json()["items"]
            if t["instanceId"] == instance_id] == [task["id"]]  # fmt: skip
    assert server.post(f"/tasks/{task['id']}/complete", json={"userId": "mike"}).status_code == 200


def test_a_cycle_reminder_fires_each_time_and_leaves_the_task_alone(server: Server):
    assert deploy(server, process("reminding", REMINDING)).status_code == 201
    instance_id = start(server, "reminding")
    task = task_of(server, instance_id)
    reminders = wait_for_events(server, instance_id, "task_reminder", 2)
    assert [r["data"]["taskId"] for r in reminders] == [task["id"], task["id"]]
    time.sleep(0.8)  # a third tick would be due by now: R2 means two
    assert len(events_of(server, instance_id, "task_reminder")) == 2
    assert server.get(f"/tasks/{task['id']}").json()["assignee"] == "rita"


def test_an_interrupting_timer_records_the_escalation(server: Server):
    from tests.support.diagrams import ESCALATING

    assert deploy(server, process("escalating_audit", ESCALATING)).status_code == 201
    instance_id = start(server, "escalating_audit")
    task = task_of(server, instance_id)
    escalated = wait_for_events(server, instance_id, "task_escalated", 1)[0]
    assert escalated["data"] == {"taskId": task["id"], "boundary": "late", "interrupting": True}
    assert server.get(f"/tasks/{task['id']}").json()["status"] == "cancelled"
