"""Simulated payment gateway and warehouse (WMS) for development, tests and load demos.

Run: ``python -m connectors.sandbox --host 127.0.0.1 --port 8081``. Prints
``sandbox listening on http://HOST:PORT`` once it accepts connections.

Payment (``/payment``): ``POST /authorizations`` {orderId, amount, currency, customerId?} -> 201;
declined with 402 PAYMENT_DECLINED when ``amount`` is exactly 666.66 (always) or by ``declineRate``.
``POST /authorizations/{id}/capture`` {amount} -> 201. ``GET /authorizations/{id}``.
WMS (``/wms``): ``POST /reservations`` {orderId, items: [{sku, quantity}]} -> 201; SKU-1001..SKU-1020 are
stocked without practical limit, SKU-OUT is always 409 OUT_OF_STOCK. ``POST /shipments``
{reservationId, orderId, address} -> 201 with a tracking number. ``GET /stock``.

Every business POST honours ``Idempotency-Key``: a repeat returns the first reply (status and body),
the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. 5xx replies are not remembered.

Misbehaviour (``POST /_control``, partial updates; ``POST /_control/reset``; ``GET /_control``):
latencyMs (added after the work is done), errorRate 0..1 (503), declineRate 0..1 (402),
amountSkew (added to the authorized amount), outage (every business call 503).
``GET /_stats`` counts authorizations, declines, captures, reservations, shipments, idempotentReplays.
State lives in memory and is lost on restart. Only this subpackage imports Flask.
"""
