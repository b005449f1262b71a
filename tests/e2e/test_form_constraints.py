"""Camunda Forms (form-js) whose constraints are FEEL expressions (`"max": "=amount"`): the server evaluates them
with the order's data and what was submitted, as the form-js viewer does, instead of comparing them as text."""

from __future__ import annotations

import json

from tests.support.diagrams import c8
from tests.support.rest import assert_problem, deploy, start, task_of
from tests.support.server import Server

FORM = {
    "id": "refund_form",
    "type": "default",
    "components": [
        {
            "key": "refund",
            "type": "number",
            "label": "Refund",
            "validate": {"required": True, "min": 1, "max": "=amount"},
        },
        {
            "key": "reason",
            "type": "textfield",
            "label": "Reason",
            "validate": {"minLength": "=if refund > 100 then 10 else null"},
        },
        {"key": "note", "type": "textfield", "label": "Note", "validate": {"maxLength": "=noteLimit"}},
    ],
}


def refund_process(key: str) -> tuple[str, bytes]:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="refund_task"/>
    <bpmn:userTask id="refund_task" name="Refund">
      <bpmn:extensionElements><zeebe:formDefinition formKey="camunda-forms:bpmn:refund_form"/></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="b" sourceRef="refund_task" targetRef="e"/><bpmn:endEvent id="e"/>"""
    name, xml = c8(key, body)
    form = f'<bpmn:extensionElements><zeebe:userTaskForm id="refund_form">{json.dumps(FORM)}</zeebe:userTaskForm>'
    return name, xml.replace(
        b'isExecutable="true">', b'isExecutable="true">' + form.encode() + b"</bpmn:extensionElements>", 1
    )


def test_feel_constraints_of_a_form_are_evaluated_with_the_orders_data(server: Server) -> None:
    assert deploy(server, refund_process("refund")).status_code == 201
    task = task_of(server, start(server, "refund", amount=250))
    too_much = server.post(
        f"/tasks/{task['id']}/complete", json={"variables": {"refund": 300, "reason": "arrived broken"}}
    )
    assert_problem(too_much, 422)
    assert too_much.json()["errors"] == {"refund": ["must be at most 250"]}
    # The submitted values count too: a refund over 100 needs a ten-character reason; noteLimit is not set (null),
    # so the note has no limit.
    short = server.post(f"/tasks/{task['id']}/complete", json={"variables": {"refund": 200, "reason": "broken"}})
    assert short.json()["errors"] == {"reason": ["must be at least 10 characters"]}
    done = server.post(
        f"/tasks/{task['id']}/complete",
        json={"variables": {"refund": 200, "reason": "arrived broken", "note": "x" * 500}},
    )
    assert done.status_code == 200, done.text

    small = task_of(server, start(server, "refund", amount=50, noteLimit=3))
    answer = server.post(f"/tasks/{small['id']}/complete", json={"variables": {"refund": 60, "note": "long"}})
    assert answer.json()["errors"] == {"refund": ["must be at most 50"], "note": ["must be at most 3 characters"]}
    assert server.post(f"/tasks/{small['id']}/complete", json={"variables": {"refund": 50}}).status_code == 200
