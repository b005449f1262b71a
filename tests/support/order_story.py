"""The order-management story over HTTP: start orders, follow them, work the approvers' inbox, read the sandbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.support.server import Server
from tests.support.waiting import wait_until_ended

KEY = "order_management"


# Every wait of the diagram in seconds, so a test never sits out a real timeout (order_settings.dmn reads them).
FAST = {"paymentUpdateTimeout": "PT30S", "approvalTimeout": "PT60S", "restockCheckInterval": "PT0.3S"}


BERLIN = {
    "name": "Ada Lovelace",
    "street": "Unter den Linden 5",
    "city": "Berlin",
    "postalCode": "10117",
    "country": "DE",
}


def order(**variables: Any) -> dict[str, Any]:
    """A regular web customer's small order to Berlin, changed by `variables`."""
    return {
        "channel": "web",
        "customer": {"id": "C-100", "name": "Ada Lovelace", "email": "ada@example.com", "tier": "standard",
                     "accountType": "regular"},
        "items": [{"sku": "SKU-1001", "quantity": 2, "unitPrice": 24.5}, {"sku": "SKU-1004", "quantity": 1,
                                                                           "unitPrice": 12.9}],
        "shippingAddress": dict(BERLIN),
        "currency": "EUR",
        **FAST,
        **variables,
    }  # fmt: skip


def start(server: Server, **variables: Any) -> tuple[str, str]:
    """Start an order; (instance id, business key)."""
    business_key = f"ORD-{uuid.uuid4().hex[:10]}"
    response = server.post(
        f"/process-definitions/{KEY}/instances", json={"businessKey": business_key, "variables": order(**variables)}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], business_key


def view(server: Server, instance_id: str) -> dict[str, Any]:
    return server.get(f"/process-instances/{instance_id}").json()


def wait_for(server: Server, instance_id: str, ready: Callable[[dict], bool], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = view(server, instance_id)
        if ready(current):
            return current
        if current["endedAt"] or current["status"] == "incident":
            raise AssertionError(f"the order ended or stopped instead: {current['status']}, {incidents(current)}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting; the order is at {active(current)}")


def active(current: dict) -> list[str]:
    return [e["elementId"] for e in current["activeElements"]]


def incidents(current: dict) -> list[str]:
    return [i.get("message") for i in current.get("incidents", [])]


def waiting_at(server: Server, instance_id: str, element: str, timeout: float = 30) -> dict:
    return wait_for(server, instance_id, lambda v: element in active(v), timeout)


def finished(server: Server, instance_id: str, timeout: float = 30) -> dict:
    ended = wait_until_ended(server, instance_id, timeout)
    assert ended["status"] == "completed", (ended["status"], incidents(ended), active(ended))
    return ended


def events(server: Server, instance_id: str) -> list[dict]:
    return server.get(f"/process-instances/{instance_id}/events").json()["items"]


def completed(server: Server, instance_id: str) -> list[str]:
    """The elements the order passed, in order."""
    return [e["elementId"] for e in events(server, instance_id) if e["type"] == "element_completed"]


def decisions(server: Server, instance_id: str) -> dict[str, Any]:
    return {e["data"]["decision"]: e["data"]["result"] for e in events(server, instance_id)
            if e["type"] == "decision_evaluated"}  # fmt: skip


def sent(sandbox_url: str, business_key: str) -> list[str]:
    """The templates of the messages the customer got, oldest first (the sandbox's customer messaging)."""
    answer = requests.get(f"{sandbox_url}/notify/messages", params={"orderId": business_key}, timeout=5)
    return [m["template"] for m in answer.json()["items"]]


def stats(sandbox_url: str) -> dict[str, int]:
    return requests.get(f"{sandbox_url}/_stats", timeout=5).json()


def control(sandbox_url: str, **settings: Any) -> None:
    requests.post(f"{sandbox_url}/_control", json=settings, timeout=5).raise_for_status()


def inbox(person: requests.Session, server: Server, business_key: str) -> list[dict]:
    answer = person.get(f"{server.api}/tasks", params={"businessKey": business_key}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def work(person: requests.Session, server: Server, task: dict, **variables: Any) -> dict:
    """Claim and complete a task as a person would, with the form's values."""
    claimed = person.post(f"{server.api}/tasks/{task['id']}/claim", json={}, timeout=10)
    assert claimed.status_code == 200, claimed.text
    done = person.post(f"{server.api}/tasks/{task['id']}/complete", json={"variables": variables}, timeout=10)
    assert done.status_code == 200, done.text
    return done.json()
