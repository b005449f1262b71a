"""The sandbox systems answer business calls without Flask's request machinery (server.BusinessCalls); what a client
sees must be what Flask's routes answer, call for call, misbehaviour and idempotency included."""

from __future__ import annotations

import json
import re
from typing import Any

from connectors.sandbox.server import create_sandbox_app

ORDER = {"orderId": "O-1", "amount": 120.5, "currency": "EUR", "customerId": "C-1"}
ITEMS = {"orderId": "O-1", "items": [{"sku": "SKU-1001", "quantity": 2}]}


def _calls(auth_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, body or raw text, headers) of a session that walks the shortcut's every branch."""
    json = {"Content-Type": "application/json"}
    return [
        ("/payment/authorizations", ORDER, {**json, "Idempotency-Key": "a-1"}),
        ("/payment/authorizations", ORDER, {**json, "Idempotency-Key": "a-1"}),  # a replay
        ("/payment/authorizations", {**ORDER, "amount": 1}, {**json, "Idempotency-Key": "a-1"}),  # key reused
        ("/payment/authorizations", {**ORDER, "amount": 666.66}, json),  # declined
        (f"/payment/authorizations/{auth_id}/capture", {"amount": 120.5}, {**json, "Idempotency-Key": "c-1"}),
        ("/payment/authorizations/NOPE/capture", {"amount": 1}, json),
        ("/wms/reservations", ITEMS, {**json, "Idempotency-Key": "r-1"}),
        ("/wms/reservations", {"orderId": "O-2", "items": [{"sku": "SKU-OUT", "quantity": 1}]}, json),
        ("/wms/orders/O%201%C3%A9/status", {"status": "shipped"}, json),  # a path value that is escaped
        ("/wms/availability", ITEMS, json),
        ("/tax/calculations", {"country": "XX"}, json),
        ("/payment/authorizations", "not json", json),
        ("/payment/authorizations", "[1, 2]", json),
        ("/payment/authorizations", ORDER, {"Content-Type": "text/plain"}),
        ("/payment/authorizations/", ORDER, json),  # no such route
        ("/nowhere", ORDER, json),
        ("/_control", {"errorRate": 0.5, "latencyMs": 1}, json),
        *[("/payment/authorizations", {**ORDER, "orderId": f"O-{n}"}, json) for n in range(6)],  # random 503s
        ("/_control", {"outageSystems": ["wms"], "errorRate": 0}, json),
        ("/wms/shipments", {"reservationId": "R", "orderId": "O-1", "address": {}}, json),
    ]


def _session(app) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    client = app.test_client()
    answers = []
    first = client.post("/payment/authorizations", json=ORDER)
    auth_id = first.get_json()["authorizationId"]
    for path, body, headers in _calls(auth_id):
        if isinstance(body, str):
            response = client.post(path, data=body, headers=headers)
        else:
            response = client.post(path, data=json.dumps(body), headers=headers)
        answers.append((response.status, list(response.headers), _timeless(response.data)))
    answers.append(("stats", [], client.get("/_stats").data))
    answers.append(("ledger", [], client.get("/_ledger").data))
    return answers


def _timeless(data: bytes) -> bytes:
    """The two sessions run a moment apart: timestamps in replies may differ by a second."""
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\"]*", b"<time>", data)


def test_business_calls_answer_as_flask_routes_do():
    shortcut = create_sandbox_app(seed=3)
    flask_only = create_sandbox_app(seed=3)
    flask_only.before_request(lambda: None)  # any request hook sends every call through Flask
    assert _session(shortcut) == _session(flask_only)
