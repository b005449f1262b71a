"""Simulated customer messaging (e-mail and SMS behind one API, like a notification service).

``POST /notify/messages`` {orderId, customerId, template, to?, channel?, data?} -> 201 {messageId, orderId,
customerId, to, channel, template, subject, status: "sent", createdAt}. ``template`` must be one of TEMPLATES
(else 422 UNKNOWN_TEMPLATE); without ``to`` the message goes to the customer's address on file.
``GET /notify/messages?orderId=`` lists what was sent, oldest first, so tests and demos can see it.
Runs under the state lock (via ``SandboxState.execute``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.state import Reply, SandboxState, error

# Template -> subject line, as the customer reads it.
TEMPLATES = {
    "order_received": "We have your order",
    "order_in_review": "Your order is being checked",
    "order_rejected": "We could not accept your order",
    "order_not_approved": "Your order was not approved",
    "order_blocked": "Your order cannot be shipped",
    "payment_declined": "Your payment was declined: please update your payment details",
    "payment_not_received": "Your order was cancelled: no valid payment",
    "backordered": "Part of your order is on backorder",
    "order_shipped": "Your order is on its way",
    "order_cancelled": "Your order was cancelled",
}
CHANNELS = ("email", "sms")


def send(state: SandboxState, body: Mapping[str, Any]) -> Reply:
    template, channel = body.get("template"), body.get("channel") or "email"
    order_id, customer_id = body.get("orderId"), body.get("customerId")
    if not isinstance(order_id, str) or not order_id or not isinstance(customer_id, str) or not customer_id:
        return error(422, "INVALID_REQUEST", "need orderId and customerId")
    if template not in TEMPLATES:
        return error(422, "UNKNOWN_TEMPLATE", f"unknown template {template!r}; known: {sorted(TEMPLATES)}")
    if channel not in CHANNELS:
        return error(422, "INVALID_REQUEST", f"channel must be one of {list(CHANNELS)}")
    data = body.get("data") if isinstance(body.get("data"), Mapping) else {}
    record = {
        "messageId": f"MSG-{len(state.notifications) + 1:08d}",
        "orderId": order_id,
        "customerId": customer_id,
        "to": body.get("to") or f"customer-{customer_id}@example.com",
        "channel": channel,
        "template": template,
        "subject": TEMPLATES[template],
        "data": dict(data),
        "status": "sent",
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    state.notifications.append(record)
    state.stats["notifications"] += 1
    return 201, dict(record)


def sent(state: SandboxState, order_id: str | None) -> Reply:
    messages = [dict(m) for m in state.notifications if order_id is None or m["orderId"] == order_id]
    return 200, {"items": messages}
