"""Simulated payment gateway, warehouse (WMS), customs broker, tax engine, parcel carriers and customer messaging, for
development, tests and load demos. docs/connectors.md describes every endpoint and control.

Run: ``python -m connectors.sandbox --host 127.0.0.1 --port 8081``. Prints
``sandbox listening on http://HOST:PORT`` once it accepts connections.

Payment (``/payment``): ``POST /authorizations`` {orderId, amount, currency, customerId?} -> 201;
declined with 402 PAYMENT_DECLINED when ``amount`` is exactly 666.66 (always) or by ``declineRate``.
``POST /authorizations/{id}/capture`` {amount} -> 201, ``POST /authorizations/{id}/void`` -> 200,
``POST /captures/{id}/refunds`` {amount, currency?, reason?} -> 201 (partial refunds allowed).
``GET /authorizations/{id}``.
WMS (``/wms``): ``POST /reservations`` {orderId, items: [{sku, quantity}]} -> 201; SKU-1001..SKU-1020 are
stocked without practical limit, SKU-OUT is always 409 OUT_OF_STOCK. ``POST /shipments``
{reservationId, orderId, address} -> 201 with a tracking number. ``POST /reservations/{id}/release`` -> 200.
``POST /orders/{orderId}/status`` {status, reason?} -> 200. ``GET /stock``. ``POST /availability`` {items}
-> 200 with what is on hand per line; ``POST /backorders`` {orderId, items} -> 201.
Customs (``/customs``): ``POST /documents`` -> 201 with invoice and, leaving the EU, an export declaration;
consignee id C-DENIED (or a listed name) is 403 DENIED_PARTY.
Tax (``/tax``): ``POST /calculations`` -> 201; unknown country or US/CA region is 422 TAX_JURISDICTION_UNKNOWN.
Carrier (``/carrier``): ``POST /quotes``, ``POST /shipments`` (label + tracking number),
``GET /shipments/{trackingNumber}``; ``unavailableCarriers`` makes bookings 409 CARRIER_UNAVAILABLE.
Customer messaging (``/notify``): ``POST /messages`` {orderId, customerId, template, ...} -> 201;
``GET /messages?orderId=`` lists what was sent.

Every business POST honours ``Idempotency-Key``: a repeat returns the first reply (status and body),
the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. 5xx replies are not remembered.

Misbehaviour (``POST /_control``, partial updates; ``POST /_control/reset``; ``GET /_control``):
latencyMs (added after the work is done), errorRate 0..1 (503), declineRate 0..1 (402),
amountSkew (added to every amount reported back), outage (every business call 503), outageSystems
(the same for the listed systems), quantitySkew (added to the first reserved / declared line),
unavailableCarriers, carrierSwap (bookings go to another carrier). ``POST /_control/tracking/{number}``
{status, location?} adds a carrier scan; ``POST /_control/stock`` {sku: quantity} sets what is on hand.
``GET /_stats`` counts what each system did, idempotentReplays, and every business request received
(``requests``, ``<system>Requests``).
State lives in memory and is lost on restart. Only this subpackage imports Flask.
"""
