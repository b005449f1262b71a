"""Simulated parcel carriers (DHL, UPS, DPD behind one API, like a shipping aggregator).

``POST /carrier/quotes`` {orderId, fromCountry, toCountry, items: [{sku, quantity}]} -> 201 with quotes
(carrier, service, price, currency, days) cheapest first; carriers that do not serve the route or are
unavailable are left out, none left is 409 CARRIER_UNAVAILABLE.
``POST /carrier/shipments`` {orderId, carrier, service?, fromCountry, address: {country, ...}, items}
-> 201 {bookingId, carrier, service, trackingNumber, labelUrl, ...}; an unavailable carrier is 409
CARRIER_UNAVAILABLE, a route it does not serve 422 ROUTE_NOT_SERVED.
``GET /carrier/shipments/{trackingNumber}`` -> the shipment's tracking status and events.
Runs under the state lock (via ``SandboxState.execute``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.sandbox.reference import CARRIER_RATES, DEFAULT_WEIGHT_GRAMS, PRODUCTS, Rate, zone
from connectors.sandbox.state import Reply, SandboxState, error, is_country, valid_items

CURRENCY = "EUR"  # the aggregator bills in euros whatever the order's currency


def quote(state: SandboxState, body: Mapping[str, Any]) -> Reply:
    problem = _invalid(body, body.get("toCountry"), "toCountry")
    if problem:
        return error(422, "INVALID_REQUEST", problem)
    origin, destination, weight = body["fromCountry"], body["toCountry"], weight_kg(body["items"])
    offers = [
        _offer(carrier, service, rate, weight)
        for carrier, (service, rates) in CARRIER_RATES.items()
        if (rate := rates[zone(origin, destination)]) is not None and carrier not in state.controls.unavailableCarriers
    ]
    if not offers:
        return error(409, "CARRIER_UNAVAILABLE", f"no carrier can take a parcel {origin} -> {destination} now")
    quote_id = f"QTE-{len(state.quotes) + 1:08d}"
    now = datetime.now(UTC)
    state.quotes[quote_id] = record = {
        "quoteId": quote_id,
        "orderId": body["orderId"],
        "fromCountry": origin,
        "toCountry": destination,
        "weightKg": float(weight),
        "quotes": sorted(offers, key=lambda offer: (offer["price"], offer["days"])),
        "validUntil": (now + timedelta(hours=24)).isoformat(timespec="seconds"),
        "createdAt": now.isoformat(timespec="seconds"),
    }
    state.stats["quotes"] += 1
    return 201, dict(record)


def book(state: SandboxState, body: Mapping[str, Any], base_url: str) -> Reply:
    address = body.get("address")
    destination = address.get("country") if isinstance(address, Mapping) else None
    if not is_country(destination):
        return error(422, "ADDRESS_INVALID", "the address needs a two-letter country code")
    problem = _invalid(body, destination, "address.country")
    if problem:
        return error(422, "INVALID_REQUEST", problem)
    asked = body.get("carrier")
    if asked not in CARRIER_RATES:
        return error(422, "UNKNOWN_CARRIER", f"unknown carrier {asked!r}; known: {sorted(CARRIER_RATES)}")
    if asked in state.controls.unavailableCarriers:
        return error(409, "CARRIER_UNAVAILABLE", f"{asked} accepts no bookings at the moment", carrier=asked)
    origin = body["fromCountry"]
    carrier = _swapped(state, asked, origin, destination) if state.controls.carrierSwap else asked
    service, rates = CARRIER_RATES[carrier]
    rate = rates[zone(origin, destination)]
    if rate is None:
        return error(422, "ROUTE_NOT_SERVED", f"{carrier} does not ship {origin} -> {destination}", carrier=carrier)
    number = len(state.bookings) + 1
    booking_id, tracking_number = f"BKG-{number:08d}", _tracking_number(state, carrier)
    offer = _offer(carrier, service, rate, weight_kg(body["items"]))
    now = datetime.now(UTC)
    state.bookings[booking_id] = record = {
        "bookingId": booking_id,
        "orderId": body["orderId"],
        "carrier": carrier,
        "service": service,
        "trackingNumber": tracking_number,
        "labelUrl": f"{base_url}/carrier/labels/{booking_id}.pdf",
        "fromCountry": origin,
        "toCountry": destination,
        "price": offer["price"],
        "currency": CURRENCY,
        "status": "label_created",
        "createdAt": now.isoformat(timespec="seconds"),
    }
    state.tracking[tracking_number] = {
        "trackingNumber": tracking_number,
        "carrier": carrier,
        "status": "label_created",
        "estimatedDeliveryDate": (now + timedelta(days=offer["days"])).date().isoformat(),
        "events": [{"status": "label_created", "at": now.isoformat(timespec="seconds"), "location": origin}],
    }
    state.pdfs[booking_id] = [
        f"{carrier} {service.upper()}",
        f"Tracking {tracking_number}",
        f"Order {body['orderId']}",
        *(f"{value}" for key, value in address.items() if key != "country" and isinstance(value, str)),
        destination,
    ]
    state.stats["bookings"] += 1
    return 201, dict(record)


def track(state: SandboxState, tracking_number: str) -> Reply:
    state.stats["trackingQueries"] += 1
    shipment = state.tracking.get(tracking_number)
    if shipment is None:
        return error(404, "TRACKING_NOT_FOUND", f"no shipment with tracking number {tracking_number}")
    return 200, {**shipment, "events": [dict(event) for event in shipment["events"]]}


def add_tracking_event(state: SandboxState, tracking_number: str, status: str, location: str | None) -> Reply:
    """What the carrier's scanners would report; used by tests and demos through /_control."""
    shipment = state.tracking.get(tracking_number)
    if shipment is None:
        return error(404, "TRACKING_NOT_FOUND", f"no shipment with tracking number {tracking_number}")
    event = {"status": status, "at": datetime.now(UTC).isoformat(timespec="seconds"), "location": location}
    shipment["events"].append(event)
    shipment["status"] = status
    return 200, dict(shipment)


def weight_kg(lines: list[Mapping[str, Any]]) -> Decimal:
    grams = sum(
        line["quantity"] * (PRODUCTS[line["sku"]][3] if line["sku"] in PRODUCTS else DEFAULT_WEIGHT_GRAMS)
        for line in lines
    )
    return max(Decimal(grams) / 1000, Decimal("0.1"))


def _offer(carrier: str, service: str, rate: Rate, weight: Decimal) -> dict[str, Any]:
    base, per_kg, days = rate
    return {
        "carrier": carrier,
        "service": service,
        "price": float(base + per_kg * math.ceil(weight)),
        "currency": CURRENCY,
        "days": days,
    }


def _swapped(state: SandboxState, asked: str, origin: str, destination: str) -> str:
    """The carrierSwap misbehaviour: another carrier that serves the route (the asked one if none does)."""
    others = [
        c
        for c, (_service, rates) in CARRIER_RATES.items()
        if c != asked and rates[zone(origin, destination)] is not None and c not in state.controls.unavailableCarriers
    ]
    return others[0] if others else asked


def _tracking_number(state: SandboxState, carrier: str) -> str:
    """Shaped like each carrier's own numbers, so a demo's tracking page looks familiar."""
    if carrier == "DHL":
        return f"JJD{state.rng.randrange(10**18):018d}"
    if carrier == "UPS":
        return f"1Z4F8E2103{state.rng.randrange(10**8):08d}"
    return f"{state.rng.randrange(10**14):014d}"  # DPD


def _invalid(body: Mapping[str, Any], destination: Any, destination_field: str) -> str | None:
    if not is_country(body.get("fromCountry")):
        return "fromCountry must be a two-letter country code"
    if not is_country(destination):
        return f"{destination_field} must be a two-letter country code"
    if not isinstance(body.get("orderId"), str) or not body["orderId"]:
        return "orderId is required"
    if not valid_items(body.get("items")):
        return "items must be [{sku, quantity > 0}]"
    return None
