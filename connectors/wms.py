"""Warehouse management system: reserve stock, ship, release a reservation, update an order's status.

Verification: the warehouse must reserve (and release) exactly the quantities asked for, ship the
reservation it was given to the address it was given, and take the status it was told.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors._values import items, order_id, quantities, required, response_field
from connectors.errors import ConnectorError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext

# Statuses a process may set; "reserved", "shipped" and "released" follow from the other calls.
SETTABLE_STATUSES = ("on_hold", "ready_to_pick", "picking", "packed", "cancelled")


def reserve(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    lines = items(variables.get("items"), ctx.topic)
    # Only what the WMS needs; unitPrice stays in the process.
    body = {"orderId": order_id(variables, ctx), "items": [{"sku": i.sku, "quantity": i.quantity} for i in lines]}
    response = client.post("/reservations", body, idempotency_key=ctx.idempotency_key)
    reservation_id = response_field(response, "reservationId", client.system)
    result = {"reservationId": reservation_id, "inventoryStatus": "reserved"}
    verify(
        "RESERVATION_DISCREPANCY",
        [Expect("items", quantities(lines), quantities(response.get("items")))],
        topic=ctx.topic,
        variables=result,
        reference=f"reservation {reservation_id}",
    )
    return result


def ship(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    reservation_id = required(variables, "reservationId", ctx.topic)
    # The address is passed through unchecked: whether it is deliverable is the WMS's call
    # (it answers ADDRESS_INVALID, a business error the diagram can catch).
    address = variables.get("shippingAddress")
    body = {"reservationId": reservation_id, "orderId": order_id(variables, ctx), "address": address}
    # A parcel already booked with a carrier leaves with that carrier's label and tracking number.
    booked = {k: variables[k] for k in ("carrier", "trackingNumber") if isinstance(variables.get(k), str)}
    if len(booked) == 2:
        body.update(booked)
    response = client.post("/shipments", body, idempotency_key=ctx.idempotency_key)
    shipment_id = response_field(response, "shipmentId", client.system)
    result = {
        "shipmentId": shipment_id,
        "trackingNumber": response_field(response, "trackingNumber", client.system),
        "shipmentStatus": "shipped",
    }
    verify(
        "SHIPMENT_DISCREPANCY",
        [
            Expect("reservationId", reservation_id, response.get("reservationId")),
            Expect("address", address, response.get("address")),
            *(Expect(k, v, response.get(k)) for k, v in body.items() if k in ("carrier", "trackingNumber")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"shipment {shipment_id}",
    )
    return result


def release(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Give reserved stock back (order cancelled or rerouted); releasing twice is harmless remotely."""
    reservation_id = str(required(variables, "reservationId", ctx.topic))
    body: dict[str, Any] = {"orderId": order_id(variables, ctx)}
    if variables.get("releaseReason"):
        body["reason"] = str(variables["releaseReason"])
    path = f"/reservations/{quote(reservation_id, safe='')}/release"
    response = client.post(path, body, idempotency_key=ctx.idempotency_key)
    result = {"inventoryStatus": "released"}
    expectations = [
        Expect("reservationId", reservation_id, response.get("reservationId")),
        Expect("status", "released", response.get("status")),
    ]
    if variables.get("items") is not None:
        # Stock the order reserved and the warehouse does not give back is stock nobody can sell.
        asked = quantities(items(variables["items"], ctx.topic))
        expectations.append(Expect("items", asked, quantities(response.get("items"))))
    verify(
        "RELEASE_DISCREPANCY",
        expectations,
        topic=ctx.topic,
        variables=result,
        reference=f"reservation {reservation_id}",
    )
    return result


def update_status(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Tell the warehouse what to do with an order: hold it, release it for picking, cancel it, ..."""
    status = required(variables, "wmsStatus", ctx.topic)
    if status not in SETTABLE_STATUSES:
        raise ConnectorError(f"{ctx.topic}: 'wmsStatus' must be one of {list(SETTABLE_STATUSES)}, got {status!r}")
    order = order_id(variables, ctx)
    body: dict[str, Any] = {"status": status}
    if variables.get("wmsStatusReason"):
        body["reason"] = str(variables["wmsStatusReason"])
    response = client.post(f"/orders/{quote(order, safe='')}/status", body, idempotency_key=ctx.idempotency_key)
    result = {
        "wmsStatus": response.get("status"),
        "wmsStatusUpdatedAt": response_field(response, "updatedAt", client.system),
    }
    verify(
        "WMS_STATUS_DISCREPANCY",
        [Expect("orderId", order, response.get("orderId")), Expect("status", status, response.get("status"))],
        topic=ctx.topic,
        variables=result,
        reference=f"order {order}",
    )
    return result


def availability(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Stock on hand for the order's lines, right now: which lines can ship and which would wait.
    Sets `stockStatus` ("in_stock", "partial" or "out_of_stock"), `inStockItems`, `backorderItems` (whole lines:
    a line ships when all of it is on hand) and `stockLevels` (sku, requested, available per line)."""
    lines = items(variables.get("items"), ctx.topic)
    body = {"orderId": order_id(variables, ctx), "items": [{"sku": i.sku, "quantity": i.quantity} for i in lines]}
    response = client.post("/availability", body, idempotency_key=ctx.idempotency_key)
    levels = response.get("lines")
    if not isinstance(levels, list) or len(levels) != len(lines):
        raise ConnectorError(f"{client.system}: availability answer does not list every line: {levels!r}")
    on_hand: dict[str, int] = {}
    for level in levels:
        available = level.get("available") if isinstance(level, Mapping) else None
        if not isinstance(available, int) or isinstance(available, bool) or available < 0:
            raise ConnectorError(f"{client.system}: malformed availability line: {level!r}")
        on_hand[str(level.get("sku"))] = available
    originals = variables["items"]
    in_stock, backorder = [], []
    for line, original in zip(lines, originals, strict=True):
        if on_hand.get(line.sku, 0) >= line.quantity:  # two lines of one SKU share what is on hand
            on_hand[line.sku] -= line.quantity
            in_stock.append(dict(original))
        else:
            backorder.append(dict(original))
    status = "in_stock" if not backorder else "out_of_stock" if not in_stock else "partial"
    return {"stockStatus": status, "inStockItems": in_stock, "backorderItems": backorder, "stockLevels": levels}


def backorder(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Hand lines that are not on hand to the warehouse, which ships them on its own when stock arrives (the rest
    of a split shipment). Reads `backorderItems`; sets `backorderId`."""
    lines = items(variables.get("backorderItems"), ctx.topic)
    body = {"orderId": order_id(variables, ctx), "items": [{"sku": i.sku, "quantity": i.quantity} for i in lines]}
    response = client.post("/backorders", body, idempotency_key=ctx.idempotency_key)
    backorder_id = response_field(response, "backorderId", client.system)
    result = {"backorderId": backorder_id}
    verify(
        "BACKORDER_DISCREPANCY",
        [Expect("items", quantities(lines), quantities(response.get("items")))],
        topic=ctx.topic,
        variables=result,
        reference=f"backorder {backorder_id}",
    )
    return result
