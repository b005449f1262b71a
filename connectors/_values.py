"""Reading process variables into request fields.

A missing or malformed variable is a modelling/data bug, not something the remote
system decided and not something a retry fixes, so it raises plain ConnectorError
(an incident a human resolves) before any network call is made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError

if TYPE_CHECKING:
    from connectors.registry import JobContext

CENT = Decimal("0.01")


def order_id(variables: Mapping[str, Any], ctx: JobContext) -> str:
    value = variables.get("orderId") or ctx.business_key
    if not value:
        raise ConnectorError(f"{ctx.topic}: no 'orderId' variable and no business key")
    return str(value)


def money(value: Any, name: str) -> Decimal:
    """A positive amount rounded to cents; Decimal so 19.99 compares equal to 19.99 after JSON."""
    if isinstance(value, bool):  # bool is an int; True must not become 1.00
        raise ConnectorError(f"variable {name!r} must be an amount, got {value!r}")
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ConnectorError(f"variable {name!r} must be an amount, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ConnectorError(f"variable {name!r} must be a positive amount, got {value!r}")
    return amount


def money_or_none(value: Any) -> Decimal | None:
    """Lenient parse for response fields: an unparseable amount is simply 'not what we asked'."""
    try:
        return money(value, "response")
    except ConnectorError:
        return None


def amount_or_none(value: Any) -> Decimal | None:
    """Lenient parse of a response amount that may be zero (a tax-free order); None if not an amount."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))  # not rounded: 4.125 reported for 4.13 is itself a mismatch to show
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def required(variables: Mapping[str, Any], name: str, topic: str) -> Any:
    value = variables.get(name)
    if value is None or value == "":
        raise ConnectorError(f"{topic}: variable {name!r} is required")
    return value


def response_field(response: Mapping[str, Any], name: str, system: str) -> Any:
    value = response.get(name)
    if value is None or value == "":
        raise ConnectorError(f"{system}: response lacks {name!r}: {dict(response)!r}")
    return value


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    unit_price: Decimal | None = None
    category: str | None = None


def items(value: Any, topic: str, *, priced: bool = False) -> list[Item]:
    """Order lines from the ``items`` variable; ``priced`` when the call needs each line's value (tax, customs)."""
    if not isinstance(value, list) or not value:
        raise ConnectorError(f"{topic}: variable 'items' must be a non-empty list, got {value!r}")
    return [_item(line, topic, priced) for line in value]


def _item(line: Any, topic: str, priced: bool) -> Item:
    if not isinstance(line, Mapping):
        raise ConnectorError(f"{topic}: each item must be an object, got {line!r}")
    sku, quantity = line.get("sku"), line.get("quantity")
    # Expressions may produce 2.0 for 2; a fractional or non-positive quantity is a data bug.
    if isinstance(quantity, float) and quantity.is_integer():
        quantity = int(quantity)
    if not isinstance(sku, str) or not sku or not positive_int(quantity):
        raise ConnectorError(f"{topic}: each item needs a 'sku' and a positive whole 'quantity': {dict(line)!r}")
    price = _unit_price(line.get("unitPrice"))
    if priced and price is None:
        raise ConnectorError(f"{topic}: each item needs a 'unitPrice' of zero or more: {dict(line)!r}")
    category = line.get("category")
    return Item(sku, quantity, price, category if isinstance(category, str) and category else None)


def _unit_price(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    return price if price.is_finite() and price >= 0 else None


def quantities(lines: Any) -> Counter[str]:
    """SKU -> total quantity of request items or of a response's ``items``; malformed lines count as nothing,
    which then shows up as a discrepancy."""
    totals: Counter[str] = Counter()
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, Item):
            totals[line.sku] += line.quantity
        elif isinstance(line, Mapping) and positive_int(line.get("quantity")):
            totals[str(line.get("sku"))] += line["quantity"]
    return totals


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def address(variables: Mapping[str, Any], topic: str) -> dict[str, Any]:
    value = variables.get("shippingAddress")
    if not isinstance(value, Mapping):
        raise ConnectorError(f"{topic}: variable 'shippingAddress' must be an object, got {value!r}")
    return dict(value)


def country(value: Any, name: str, topic: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased ('de' from a form is DE)."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ConnectorError(f"{topic}: {name} must be a two-letter country code, got {value!r}")
    return code


def currency(variables: Mapping[str, Any]) -> str:
    # EUR when unset, as payment.authorize has always done, so every system sees the same currency.
    return str(variables.get("currency") or "EUR").upper()


def customer(variables: Mapping[str, Any]) -> dict[str, str]:
    """The customer's id and name as far as the order knows them (name falls back to the address)."""
    value = variables.get("customer")
    found = dict(value) if isinstance(value, Mapping) else {}
    result = {k: str(found[k]) for k in ("id", "name") if found.get(k) not in (None, "")}
    ship_to = variables.get("shippingAddress")
    if "name" not in result and isinstance(ship_to, Mapping) and ship_to.get("name"):
        result["name"] = str(ship_to["name"])
    return result
