"""Payment gateway: authorize and capture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors._values import money, money_or_none, order_id, required, response_field
from connectors.errors import BusinessError

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext


def authorize(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    amount = money(variables.get("total"), "total")
    currency = str(variables.get("currency") or "EUR").upper()
    body: dict[str, Any] = {
        "orderId": order_id(variables, ctx),
        "amount": float(amount),
        "currency": currency,
    }
    customer = variables.get("customer")
    if isinstance(customer, dict) and customer.get("id") is not None:
        body["customerId"] = str(customer["id"])
    response = client.post("/authorizations", body, idempotency_key=ctx.idempotency_key)
    authorization_id = response_field(response, "authorizationId", client.system)
    got_amount, got_currency = money_or_none(response.get("amount")), response.get("currency")
    if got_amount != amount or got_currency != currency:
        # The money is already held remotely, so name the authorization: a reviewer must void or accept it.
        raise BusinessError(
            "PAYMENT_DISCREPANCY",
            f"asked to authorize {amount} {currency}, gateway authorized "
            f"{response.get('amount')} {got_currency} (authorization {authorization_id})",
            details={
                "paymentAuthorizationId": authorization_id,
                "askedAmount": float(amount),
                "askedCurrency": currency,
                "authorizedAmount": response.get("amount"),
                "authorizedCurrency": got_currency,
            },
        )
    return {"paymentAuthorizationId": authorization_id, "paymentStatus": "authorized"}


def capture(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    authorization_id = str(required(variables, "paymentAuthorizationId", ctx.topic))
    amount = money(variables.get("total"), "total")
    path = f"/authorizations/{quote(authorization_id, safe='')}/capture"
    response = client.post(path, {"amount": float(amount)}, idempotency_key=ctx.idempotency_key)
    capture_id = response_field(response, "captureId", client.system)
    if money_or_none(response.get("amount")) != amount:
        raise BusinessError(
            "PAYMENT_DISCREPANCY",
            f"asked to capture {amount}, gateway captured {response.get('amount')} (capture {capture_id})",
            details={
                "paymentCaptureId": capture_id,
                "askedAmount": float(amount),
                "capturedAmount": response.get("amount"),
            },
        )
    return {"paymentCaptureId": capture_id, "paymentStatus": "captured"}
