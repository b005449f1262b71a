"""Parcel carriers behind one shipping API: quote, book (label and tracking number), track.

Booking uses the carrier the process chose (``carrier``), else the first, cheapest quote from
``carrier.quote``. A carrier that is down answers CARRIER_UNAVAILABLE, a BPMN error a process can
catch to reroute: set ``carrier`` to another quote's carrier and book again.
Verification: quotes and bookings must be for the route asked for, a booking with the carrier asked
for, tracking for the tracking number asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as quote_path

from connectors._values import address, country, items, money_or_none, order_id, required, response_field
from connectors.errors import BusinessError, ConnectorError, TransientError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.carrier_performance import CarrierPerformance
    from connectors.http import JsonClient
    from connectors.registry import JobContext

DISCREPANCY = "CARRIER_DISCREPANCY"


def quote(client: JsonClient, variables: Mapping[str, Any], ctx: JobContext, *, seller_country: str) -> dict[str, Any]:
    destination = country(address(variables, ctx.topic).get("country"), "shippingAddress.country", ctx.topic)
    body = {
        "orderId": order_id(variables, ctx),
        "fromCountry": seller_country,
        "toCountry": destination,
        "items": [{"sku": i.sku, "quantity": i.quantity} for i in items(variables.get("items"), ctx.topic)],
    }
    response = client.post("/quotes", body, idempotency_key=ctx.idempotency_key)
    quote_id = response_field(response, "quoteId", client.system)
    result = {"carrierQuotes": _quotes(response.get("quotes"), client.system), "carrierQuoteId": quote_id}
    verify(
        DISCREPANCY,
        [
            Expect("fromCountry", seller_country, response.get("fromCountry")),
            Expect("toCountry", destination, response.get("toCountry")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"quote {quote_id}",
    )
    return result


def book(
    client: JsonClient,
    variables: Mapping[str, Any],
    ctx: JobContext,
    *,
    seller_country: str,
    performance: CarrierPerformance | None = None,
) -> dict[str, Any]:
    carrier, service = chosen_carrier(variables, ctx.topic)
    try:
        result = _book(client, variables, ctx, seller_country, carrier, service)
    except (BusinessError, TransientError) as exc:
        # A refusal or an outage counts against the carrier; a route it never served or a bad address does not.
        if performance is not None and (isinstance(exc, TransientError) or exc.code == "CARRIER_UNAVAILABLE"):
            performance.booking(carrier, ok=False)
        raise
    if performance is not None:
        performance.booking(carrier, ok=True)
    return result


def _book(
    client: JsonClient,
    variables: Mapping[str, Any],
    ctx: JobContext,
    seller_country: str,
    carrier: str,
    service: str | None,
) -> dict[str, Any]:
    ship_to = address(variables, ctx.topic)
    destination = country(ship_to.get("country"), "shippingAddress.country", ctx.topic)
    body: dict[str, Any] = {
        "orderId": order_id(variables, ctx),
        "carrier": carrier,
        "fromCountry": seller_country,
        "address": ship_to,
        "items": [{"sku": i.sku, "quantity": i.quantity} for i in items(variables.get("items"), ctx.topic)],
    }
    if service:
        body["service"] = service
    response = client.post("/shipments", body, idempotency_key=ctx.idempotency_key)
    booking_id = response_field(response, "bookingId", client.system)
    result = {
        "carrier": response.get("carrier"),
        "carrierService": response.get("service"),
        "trackingNumber": response_field(response, "trackingNumber", client.system),
        "labelUrl": response_field(response, "labelUrl", client.system),
        "carrierBookingId": booking_id,
    }
    # A label from another carrier than the one asked for may cost more or miss the promised date.
    verify(
        DISCREPANCY,
        [
            Expect("carrier", carrier, response.get("carrier")),
            Expect("toCountry", destination, response.get("toCountry")),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"booking {booking_id}",
    )
    return result


def track(
    client: JsonClient,
    variables: Mapping[str, Any],
    ctx: JobContext,
    *,
    performance: CarrierPerformance | None = None,
) -> dict[str, Any]:
    tracking_number = str(required(variables, "trackingNumber", ctx.topic))
    response = client.get(f"/shipments/{quote_path(tracking_number, safe='')}")
    status = response_field(response, "status", client.system)
    events = response.get("events")
    result = {
        "trackingStatus": status,
        "trackingEvents": events if isinstance(events, list) else [],
        "estimatedDeliveryDate": response.get("estimatedDeliveryDate"),
    }
    expectations = [Expect("trackingNumber", tracking_number, response.get("trackingNumber"))]
    if isinstance(variables.get("carrier"), str) and variables["carrier"]:
        expectations.append(Expect("carrier", variables["carrier"], response.get("carrier")))
    verify(DISCREPANCY, expectations, topic=ctx.topic, variables=result, reference=f"tracking {tracking_number}")
    delivered_at = next((e.get("at") for e in result["trackingEvents"] if e.get("status") == "delivered"), None)
    promised = result["estimatedDeliveryDate"]
    if performance is not None and status == "delivered" and isinstance(delivered_at, str) and promised:
        # On time when delivered on or before the promised day (ISO dates compare as text).
        performance.delivery(str(response.get("carrier")), tracking_number, on_time=delivered_at[:10] <= promised)
    return result


def chosen_carrier(variables: Mapping[str, Any], topic: str) -> tuple[str, str | None]:
    """(carrier, service): the process's choice, else the first quote (quotes come cheapest first)."""
    chosen = variables.get("carrier")
    if isinstance(chosen, str) and chosen:
        service = variables.get("carrierService")
        return chosen, service if isinstance(service, str) and service else None
    quotes = variables.get("carrierQuotes")
    first = quotes[0] if isinstance(quotes, list) and quotes else None
    if isinstance(first, Mapping) and isinstance(first.get("carrier"), str) and first["carrier"]:
        service = first.get("service")
        return first["carrier"], service if isinstance(service, str) and service else None
    raise ConnectorError(f"{topic}: set variable 'carrier' or run carrier.quote first ('carrierQuotes' is empty)")


def _quotes(value: Any, system: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ConnectorError(f"{system}: response has no quotes: {value!r}")
    quotes = []
    for offer in value:
        price = money_or_none(offer.get("price")) if isinstance(offer, Mapping) else None
        days = offer.get("days") if isinstance(offer, Mapping) else None
        if price is None or not isinstance(days, int) or isinstance(days, bool) or not offer.get("carrier"):
            raise ConnectorError(f"{system}: malformed quote in response: {offer!r}")
        quotes.append(
            {
                "carrier": str(offer["carrier"]),
                "service": offer.get("service"),
                "price": float(price),
                "currency": offer.get("currency"),
                "days": days,
            }
        )
    # Cheapest first (then fastest), whatever order the API used: "first quote" must mean the same thing everywhere.
    return sorted(quotes, key=lambda q: (q["price"], q["days"]))
