"""Camunda 8 user tasks that link a Camunda Form by id (`zeebe:formDefinition formId`), the `.form` file deployed
alongside the diagram or earlier: the task carries the form, and completion is checked against it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import DIAGRAMS
from tests.support.rest import assert_problem, deploy, start, task_of
from tests.support.server import Server

FORM = DIAGRAMS / "linked_form_check.form"
ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def linked(key: str, form_id: str = "payment_check_form") -> tuple[str, bytes]:
    return (
        f"{key}.bpmn",
        f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" {ZEEBE} id="d" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="check"/>
    <bpmn:userTask id="check" name="Check the payment">
      <bpmn:extensionElements><zeebe:formDefinition formId="{form_id}"/></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="b" sourceRef="check" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>""".encode(),
    )


def test_a_linked_form_deployed_alongside_is_the_tasks_form(server: Server):
    response = deploy(server, linked("linked_form"), (FORM.name, FORM.read_bytes()))
    assert response.status_code == 201, response.text
    assert [(f["key"], f["version"], f["isNew"]) for f in response.json()["forms"]] == [
        ("payment_check_form", 1, True)
    ]  # fmt: skip
    task = task_of(server, start(server, "linked_form"))
    assert task["formKey"] == "payment_check_form"
    assert task["formSchema"]["id"] == "payment_check_form"
    assert [f["id"] for f in task["formFields"]] == ["amount", "verdict"]
    bad = server.post(f"/tasks/{task['id']}/complete", json={"variables": {"amount": -5, "verdict": "keep"}})
    assert_problem(bad, 422)
    assert bad.json()["errors"] == {"amount": ["must be at least 0"], "verdict": ["must be one of accept, refund"]}
    good = server.post(f"/tasks/{task['id']}/complete", json={"variables": {"amount": 12.5, "verdict": "refund"}})
    assert good.status_code == 200


def test_a_later_diagram_links_the_deployed_form_and_a_missing_one_is_refused(server: Server):
    assert deploy(server, linked("linked_form_first"), (FORM.name, FORM.read_bytes())).status_code == 201
    later = deploy(server, linked("linked_form_later"))  # the form was deployed before
    assert later.status_code == 201, later.text
    assert task_of(server, start(server, "linked_form_later"))["formSchema"]["id"] == "payment_check_form"
    missing = deploy(server, linked("linked_form_missing", form_id="no_such_form"))
    assert_problem(missing, 422)
    problem = missing.json()["problems"][0]
    assert problem["elementId"] == "check" and "links form 'no_such_form'" in problem["message"]
    # The same form again is the same version; a form that is not one is refused with the reason.
    again = deploy(server, (FORM.name, FORM.read_bytes()))
    assert [(f["version"], f["isNew"]) for f in again.json()["forms"]] == [(1, False)]
    assert_problem(deploy(server, ("broken.form", b'{"id": "x"}')), 422)
    assert_problem(deploy(server, ("broken.form", b"not json")), 422)


def test_lint_reads_form_files_too(tmp_path: Path):
    diagram = tmp_path / "check.bpmn"
    diagram.write_bytes(linked("linted")[1])
    alone = subprocess.run([sys.executable, "-m", "app.cli", "lint", str(diagram)], capture_output=True, text=True)
    assert alone.returncode == 0 and "links form 'payment_check_form'" in alone.stdout  # a warning offline
    both = subprocess.run([sys.executable, "-m", "app.cli", "lint", str(diagram), str(FORM)], capture_output=True,
                          text=True)  # fmt: skip
    assert both.returncode == 0 and "warning" not in both.stdout
