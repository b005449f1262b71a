"""Payment gateway: authorize, capture, void (release a hold), refund (give captured money back).

Verification: the gateway must report the amount and currency it was asked for and act on the
authorization or capture it was given; anything else is a PAYMENT_DISCREPANCY for human review.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors._values import currency, money, money_or_none, order_id, required, response_field
from connectors.errors import ConnectorError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext

DISCREPANCY = "PAYMENT_DISCREPANCY"
REFUND_STATUSES = ("refunded", "partially_refunded")


def authorize(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    amount, asked_currency = money(variables.get("total"), "total"), currency(variables)
    body: dict[str, Any] = {
        "orderId": order_id(variables, ctx),
        "amount": float(amount),
        "currency": asked_currency,
    }
    customer = variables.get("customer")
    if isinstance(customer, dict) and customer.get("id") is not None:
        body["customerId"] = str(customer["id"])
    response = client.post("/authorizations", body, idempotency_key=ctx.idempotency_key)
    authorization_id = response_field(response, "authorizationId", client.system)
    result = {"paymentAuthorizationId": authorization_id, "paymentStatus": "authorized"}
    # The money is already held remotely, so the reference names the authorization: void it or accept it.
    verify(
        DISCREPANCY,
        [
            Expect("amount", amount, money_or_none(response.get("amount"))),
            Expect("currency", asked_currency, response.get("currency")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"authorization {authorization_id}",
    )
    return result


def capture(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    authorization_id = str(required(variables, "paymentAuthorizationId", ctx.topic))
    amount = money(variables.get("total"), "total")
    path = f"/authorizations/{quote(authorization_id, safe='')}/capture"
    response = client.post(path, {"amount": float(amount)}, idempotency_key=ctx.idempotency_key)
    capture_id = response_field(response, "captureId", client.system)
    result = {"paymentCaptureId": capture_id, "paymentStatus": "captured"}
    verify(
        DISCREPANCY,
        [
            Expect("authorizationId", authorization_id, response.get("authorizationId")),
            Expect("amount", amount, money_or_none(response.get("amount"))),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"capture {capture_id}",
    )
    return result


def void(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Release an authorization that will not be captured (order cancelled before shipping)."""
    authorization_id = str(required(variables, "paymentAuthorizationId", ctx.topic))
    body: dict[str, Any] = {"orderId": order_id(variables, ctx)}
    if variables.get("voidReason"):
        body["reason"] = str(variables["voidReason"])
    path = f"/authorizations/{quote(authorization_id, safe='')}/void"
    response = client.post(path, body, idempotency_key=ctx.idempotency_key)
    void_id = response_field(response, "voidId", client.system)
    result = {"paymentVoidId": void_id, "paymentStatus": "voided"}
    expectations = [
        Expect("authorizationId", authorization_id, response.get("authorizationId")),
        Expect("status", "voided", response.get("status")),
    ]
    if variables.get("total") is not None:
        # The whole hold must be released; a partial release leaves the customer's money blocked.
        expectations.append(Expect("amount", money(variables["total"], "total"), money_or_none(response.get("amount"))))
    verify(DISCREPANCY, expectations, topic=ctx.topic, variables=result, reference=f"void {void_id}")
    return result


def refund(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Refund ``refundAmount`` (or the whole ``total``) of a capture; partial refunds are allowed."""
    capture_id = str(required(variables, "paymentCaptureId", ctx.topic))
    raw_amount = variables.get("refundAmount")
    amount = money(raw_amount if raw_amount is not None else variables.get("total"), "refundAmount")
    asked_currency = currency(variables)
    body: dict[str, Any] = {"amount": float(amount), "currency": asked_currency}
    if variables.get("refundReason"):
        body["reason"] = str(variables["refundReason"])
    path = f"/captures/{quote(capture_id, safe='')}/refunds"
    response = client.post(path, body, idempotency_key=ctx.idempotency_key)
    refund_id = response_field(response, "refundId", client.system)
    status = response.get("status")
    if status not in REFUND_STATUSES:
        raise ConnectorError(f"{client.system}: refund {refund_id} has unknown status {status!r}")
    result = {
        "paymentRefundId": refund_id,
        "refundedAmount": response.get("amount"),
        "paymentStatus": status,
    }
    verify(
        DISCREPANCY,
        [
            Expect("captureId", capture_id, response.get("captureId")),
            Expect("amount", amount, money_or_none(response.get("amount"))),
            Expect("currency", asked_currency, response.get("currency")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"refund {refund_id}",
    )
    return result
