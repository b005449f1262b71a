"""Camunda Forms (form-js) whose constraints are FEEL expressions (`"max": "=amount"`): the server evaluates them
with the order's data and what was submitted, as the form-js viewer does, instead of comparing them as text; a field
hidden by a FEEL condition (`"conditional": {"hide": "=…"}`) is not checked, as form-js checks nothing hidden."""

from __future__ import annotations

from tests.support.diagrams import refund_with_form
from tests.support.rest import assert_problem, deploy, start, task_of
from tests.support.server import Server


def test_feel_constraints_of_a_form_are_evaluated_with_the_orders_data(server: Server) -> None:
    assert deploy(server, refund_with_form("refund")).status_code == 201
    task = task_of(server, start(server, "refund", amount=250))
    too_much = server.post(
        f"/tasks/{task['id']}/complete", json={"variables": {"refund": 300, "reason": "arrived broken"}}
    )
    assert_problem(too_much, 422)
    # "max": "=amount" is 250 here; a refund of 200 or more shows the approval code, which is then required.
    assert too_much.json()["errors"] == {"refund": ["must be at most 250"], "approvalCode": ["is required"]}
    # The submitted values count too: a refund over 100 needs a ten-character reason; noteLimit is not set (null),
    # so the note has no limit; under 200 the approval code is hidden, and form-js checks nothing hidden.
    short = server.post(f"/tasks/{task['id']}/complete", json={"variables": {"refund": 150, "reason": "broken"}})
    assert short.json()["errors"] == {"reason": ["must be at least 10 characters"]}
    done = server.post(
        f"/tasks/{task['id']}/complete",
        json={"variables": {"refund": 220, "reason": "arrived broken", "note": "x" * 500, "approvalCode": "A-1"}},
    )
    assert done.status_code == 200, done.text

    small = task_of(server, start(server, "refund", amount=50, noteLimit=3))
    answer = server.post(f"/tasks/{small['id']}/complete", json={"variables": {"refund": 60, "note": "long"}})
    assert answer.json()["errors"] == {"refund": ["must be at most 50"], "note": ["must be at most 3 characters"]}
    assert server.post(f"/tasks/{small['id']}/complete", json={"variables": {"refund": 50}}).status_code == 200
