"""Tax engine: VAT / sales tax by destination country (and region where taxes are regional) and item category.

Verification: the engine must tax the country and currency it was given, and its figures must add up:
taxAmount == round(total * taxRate, 2) and totalWithTax == total + taxAmount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connectors._values import (
    CENT,
    address,
    amount_or_none,
    country,
    currency,
    items,
    money,
    order_id,
    response_field,
)
from connectors.errors import ConnectorError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext


def calculate(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    ship_to = address(variables, ctx.topic)
    destination = country(ship_to.get("country"), "shippingAddress.country", ctx.topic)
    total, asked_currency = money(variables.get("total"), "total"), currency(variables)
    lines = items(variables.get("items"), ctx.topic, priced=True)
    body: dict[str, Any] = {
        "orderId": order_id(variables, ctx),
        "country": destination,
        "currency": asked_currency,
        "amount": float(total),
        "items": [_line(i.sku, i.quantity, i.unit_price, i.category) for i in lines],
    }
    region = ship_to.get("region") or ship_to.get("state")  # US forms say state, others region
    if region:
        body["region"] = str(region).strip().upper()
    response = client.post("/calculations", body, idempotency_key=ctx.idempotency_key)
    calculation_id = response_field(response, "calculationId", client.system)
    rate = _rate(response.get("taxRate"), client.system)
    tax_amount = amount_or_none(response.get("taxAmount"))
    result = {
        "taxRate": float(rate),
        "taxAmount": response.get("taxAmount"),
        "totalWithTax": response.get("totalWithTax"),
        "currency": response.get("currency"),
        "taxCalculationId": calculation_id,
    }
    verify(
        "TAX_DISCREPANCY",
        [
            Expect("country", destination, response.get("country")),
            Expect("currency", asked_currency, response.get("currency")),
            Expect("taxAmount", (total * rate).quantize(CENT, rounding=ROUND_HALF_UP), tax_amount),
            Expect(
                "totalWithTax",
                total + tax_amount if tax_amount is not None else None,
                amount_or_none(response.get("totalWithTax")),
            ),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"calculation {calculation_id}",
    )
    return result


def _line(sku: str, quantity: int, unit_price: Decimal | None, category: str | None) -> dict[str, Any]:
    line: dict[str, Any] = {"sku": sku, "quantity": quantity, "unitPrice": float(unit_price or 0)}
    if category:
        line["category"] = category
    return line


def _rate(value: Any, system: str) -> Decimal:
    """The rate is what the other figures are checked against, so without a usable one the reply is malformed."""
    try:
        rate = Decimal(str(value)) if not isinstance(value, bool) and value is not None else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate < 1:
        raise ConnectorError(f"{system}: response has no usable taxRate: {value!r}")
    return rate
