"""Customer messaging: tell the customer what happened to their order (e-mail or SMS, by template).

Reads `notificationTemplate` (which message: "payment_declined", "order_shipped", ...), `customer` (`id`, and
`email` or `phone` when known), `orderId`, and optionally `notificationChannel` ("email" or "sms") and
`notificationData` (values the template shows). Sets `notificationId`. Verification: the message sent is the one
asked for, to the customer asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors._values import order_id, required, response_field
from connectors.errors import ConnectorError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext


def send(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    template = str(required(variables, "notificationTemplate", ctx.topic))
    customer = variables.get("customer")
    if not isinstance(customer, Mapping) or customer.get("id") in (None, ""):
        raise ConnectorError(f"{ctx.topic}: variable 'customer' must be an object with an 'id'")
    channel = str(variables.get("notificationChannel") or "email")
    body: dict[str, Any] = {
        "orderId": order_id(variables, ctx),
        "customerId": str(customer["id"]),
        "template": template,
        "channel": channel,
    }
    to = customer.get("phone") if channel == "sms" else customer.get("email")
    if to:
        body["to"] = str(to)
    data = variables.get("notificationData")
    if isinstance(data, Mapping):
        body["data"] = dict(data)
    response = client.post("/messages", body, idempotency_key=ctx.idempotency_key)
    message_id = response_field(response, "messageId", client.system)
    result = {"notificationId": message_id}
    verify(
        "NOTIFICATION_DISCREPANCY",
        [
            Expect("template", template, response.get("template")),
            Expect("customerId", body["customerId"], response.get("customerId")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"message {message_id}",
    )
    return result
