"""Simulated tax engine: destination-based VAT / sales tax.

``POST /tax/calculations`` {orderId, country, region?, currency, amount, items: [{sku, quantity, unitPrice,
category?}]} -> 201 {calculationId, country, region, jurisdiction, currency, taxableAmount, taxRate, taxAmount,
totalWithTax, lines}. Each line's rate follows its category (or the product's own); ``taxRate`` is the
effective rate over the lines, and ``taxAmount`` = round(amount * taxRate, 2). An unknown country, or a
country with regional taxes (US, CA) without a known region, is 422 TAX_JURISDICTION_UNKNOWN.
Runs under the state lock (via ``SandboxState.execute``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.sandbox.reference import CATEGORY_RATE_CLASS, PRODUCTS, TAX_RATES, TaxTable
from connectors.sandbox.state import CENT, Reply, SandboxState, error, is_country, is_currency, valid_items

RATE_PLACES = Decimal("0.000001")


def calculate(state: SandboxState, body: Mapping[str, Any]) -> Reply:
    problem = _invalid(body)
    if problem:
        return error(422, "INVALID_REQUEST", problem)
    country, region = body["country"], body.get("region") or None
    table = rates_for(country, region)
    if table is None:
        where = f"{country}-{region}" if region else country
        return error(
            422,
            "TAX_JURISDICTION_UNKNOWN",
            f"no tax rules for {where}" + (" (this country taxes by region: send one)" if _regional(country) else ""),
            country=country,
            region=region,
        )
    lines = [_line(item, table) for item in body["items"]]
    amount = Decimal(str(body["amount"])).quantize(CENT)
    rate = effective_rate(lines, table)
    tax = state.skewed((amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))
    calculation_id = f"TAX-{len(state.tax_calculations) + 1:08d}"
    state.tax_calculations[calculation_id] = record = {
        "calculationId": calculation_id,
        "orderId": body["orderId"],
        "country": country,
        "region": region,
        "jurisdiction": f"{country}-{region}" if _regional(country) else country,
        "currency": body["currency"],
        "taxableAmount": float(amount),
        "taxRate": float(rate),
        "taxAmount": float(tax),
        "totalWithTax": float(amount + tax),
        "lines": [{k: v for k, v in line.items() if k != "net"} for line in lines],
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    state.stats["taxCalculations"] += 1
    return 201, dict(record)


def rates_for(country: str, region: str | None) -> TaxTable | None:
    table = TAX_RATES.get(country)
    if table is None:
        return None
    if _regional(country):
        regional = table.get(region or "")
        return regional if isinstance(regional, dict) else None
    return table  # type: ignore[return-value]  # a flat table: rate class -> rate


def effective_rate(lines: list[dict[str, Any]], table: TaxTable) -> Decimal:
    """Rate over all lines weighted by their net value; an all-free order pays the standard rate on its total."""
    net = sum((line["net"] for line in lines), Decimal(0))
    if net == 0:
        return table["standard"]
    taxed = sum((line["net"] * Decimal(str(line["rate"])) for line in lines), Decimal(0))
    return (taxed / net).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _line(item: Mapping[str, Any], table: TaxTable) -> dict[str, Any]:
    product = PRODUCTS.get(item["sku"])
    category = item.get("category") or (product[2] if product else "standard")
    rate_class = CATEGORY_RATE_CLASS.get(category, "standard")
    rate = Decimal(0) if rate_class == "exempt" else table[rate_class]
    return {
        "sku": item["sku"],
        "category": category,
        "rateClass": rate_class,
        "rate": float(rate),
        "net": Decimal(str(item["unitPrice"])) * item["quantity"],
    }


def _regional(country: str) -> bool:
    table = TAX_RATES.get(country, {})
    return any(isinstance(value, dict) for value in table.values())


def _invalid(body: Mapping[str, Any]) -> str | None:
    if not is_country(body.get("country")):
        return "country must be a two-letter country code"
    if not is_currency(body.get("currency")):
        return "currency must be a 3-letter code"
    if not isinstance(body.get("orderId"), str) or not body["orderId"]:
        return "orderId is required"
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        return "amount must be a positive number"
    if not valid_items(body.get("items"), priced=True):
        return "items must be [{sku, quantity > 0, unitPrice >= 0, category?}]"
    return None
