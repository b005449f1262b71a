"""Warehouse management system: reserve stock and ship."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors._values import order_id, required, response_field
from connectors.errors import BusinessError, ConnectorError

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext


def reserve(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    items = _items(variables.get("items"), ctx.topic)
    body = {"orderId": order_id(variables, ctx), "items": items}
    response = client.post("/reservations", body, idempotency_key=ctx.idempotency_key)
    reservation_id = response_field(response, "reservationId", client.system)
    asked, got = _totals(items), _totals(response.get("items"))
    if asked != got:
        raise BusinessError(
            "RESERVATION_DISCREPANCY",
            f"asked to reserve {dict(asked)}, warehouse reserved {dict(got)} (reservation {reservation_id})",
            details={"reservationId": reservation_id, "asked": dict(asked), "reserved": dict(got)},
        )
    return {"reservationId": reservation_id, "inventoryStatus": "reserved"}


def ship(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    reservation_id = required(variables, "reservationId", ctx.topic)
    # The address is passed through unchecked: whether it is deliverable is the WMS's call
    # (it answers ADDRESS_INVALID, a business error the diagram can catch).
    address = variables.get("shippingAddress")
    body = {"reservationId": reservation_id, "orderId": order_id(variables, ctx), "address": address}
    response = client.post("/shipments", body, idempotency_key=ctx.idempotency_key)
    shipment_id = response_field(response, "shipmentId", client.system)
    if response.get("reservationId") != reservation_id or response.get("address") != address:
        raise BusinessError(
            "SHIPMENT_DISCREPANCY",
            f"asked to ship reservation {reservation_id} to {address!r}, warehouse shipped "
            f"{response.get('reservationId')} to {response.get('address')!r} (shipment {shipment_id})",
            details={"shipmentId": shipment_id},
        )
    return {
        "shipmentId": shipment_id,
        "trackingNumber": response_field(response, "trackingNumber", client.system),
        "shipmentStatus": "shipped",
    }


def _items(value: Any, topic: str) -> list[dict[str, Any]]:
    """Keep only what the WMS needs (sku, quantity); unitPrice stays in the process."""
    if not isinstance(value, list) or not value:
        raise ConnectorError(f"{topic}: variable 'items' must be a non-empty list, got {value!r}")
    items = []
    for item in value:
        sku = item.get("sku") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        # Expressions may produce 2.0 for 2; a fractional or non-positive quantity is a data bug.
        if isinstance(quantity, float) and quantity.is_integer():
            quantity = int(quantity)
        if not isinstance(sku, str) or not sku or not _positive_int(quantity):
            raise ConnectorError(f"{topic}: each item needs a 'sku' and a positive whole 'quantity': {item!r}")
        items.append({"sku": sku, "quantity": quantity})
    return items


def _totals(items: Any) -> Counter[str]:
    totals: Counter[str] = Counter()
    for item in items if isinstance(items, list) else []:
        quantity = item.get("quantity") if isinstance(item, dict) else None
        # Anything malformed counts as nothing, which then shows up as a discrepancy.
        if _positive_int(quantity):
            totals[str(item.get("sku"))] += quantity
    return totals


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
