"""Orders for the shipped order_fulfillment workflow, and what starting them over HTTP leads to."""

from __future__ import annotations

import time

import requests

from tests.support.server import Server

ORDER = {
    "items": [
        {"sku": "SKU-1001", "quantity": 2, "unitPrice": 600.0},
        {"sku": "SKU-1002", "quantity": 1, "unitPrice": 25},
    ],
    "shippingAddress": {"street": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"},
    "customer": {"id": "C-1", "tier": "gold"},
}


def review_task(server: Server, instance_id: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in server.get("/tasks", params={"candidateGroup": "reviewers"}).json()["items"]:
            if task["instanceId"] == instance_id:
                return task
        time.sleep(0.05)
    raise AssertionError(f"no review task for {instance_id}: {server.get(f'/process-instances/{instance_id}').json()}")


def order_with_skewed_payment(server: Server, sandbox_url: str, business_key: str) -> tuple[str, dict]:
    requests.post(f"{sandbox_url}/_control", json={"amountSkew": 5}, timeout=5).raise_for_status()
    try:
        response = server.post(
            "/process-definitions/order_fulfillment/instances", json={"businessKey": business_key, "variables": ORDER}
        )
        instance_id = response.json()["id"]
        task = review_task(server, instance_id)
    finally:
        requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    return instance_id, task
