"""A connector's answer that does not match what was asked goes to a person, never silently accepted."""

from __future__ import annotations

from tests.support.orders import order_with_skewed_payment
from tests.support.server import Server
from tests.support.waiting import wait_until_ended


def test_a_wrong_amount_creates_a_review_task_that_a_person_accepts(server: Server, sandbox_url: str) -> None:
    instance_id, task = order_with_skewed_payment(server, sandbox_url, "REVIEW-1")
    assert task["kind"] == "review" and task["elementId"] == "Task_AuthorizePayment"
    details = task["details"]
    assert details["code"] == "PAYMENT_DISCREPANCY"
    assert details["asked"] != details["got"]  # both values are shown to the reviewer
    view = server.get(f"/process-instances/{instance_id}").json()
    assert view["status"] == "waiting"  # nothing moves on before the person decides
    assert any(j["status"] == "review" for j in view["jobs"])

    done = server.post(f"/tasks/{task['id']}/complete", json={"userId": "rita", "variables": {"accept": True}})
    assert done.status_code == 200, done.text
    final = wait_until_ended(server, instance_id)
    assert final["status"] == "completed" and final["variables"]["paymentAuthorizationId"]
    events = [e["type"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    assert "review_requested" in events and "review_decided" in events


def test_a_rejected_review_throws_the_discrepancy_as_a_bpmn_error(server: Server, sandbox_url: str) -> None:
    instance_id, task = order_with_skewed_payment(server, sandbox_url, "REVIEW-2")
    body = {"userId": "rita", "variables": {"accept": False, "comment": "charged too much"}}
    assert server.post(f"/tasks/{task['id']}/complete", json=body).status_code == 200
    view = wait_until_ended(server, instance_id)
    # The shipped workflow draws no boundary for it yet: the order stops with an incident naming the code.
    assert view["status"] == "incident"
    assert (
        "PAYMENT_DISCREPANCY" in view["incidents"][0]["message"]
        and "charged too much" in view["incidents"][0]["message"]
    )


def test_a_review_needs_a_decision(server: Server, sandbox_url: str) -> None:
    instance_id, task = order_with_skewed_payment(server, sandbox_url, "REVIEW-3")
    response = server.post(f"/tasks/{task['id']}/complete", json={"userId": "rita", "variables": {}})
    assert response.status_code == 422 and "accept" in response.json()["errors"]
    server.post(f"/process-instances/{instance_id}/cancel")
    assert server.get(f"/tasks/{task['id']}").json()["status"] == "cancelled"
