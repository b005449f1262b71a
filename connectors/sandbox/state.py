"""In-memory state of the simulated payment gateway and warehouse (no Flask here).

Every operation runs under one lock together with its idempotency bookkeeping, so two
concurrent requests with the same key can never both charge or both reserve.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Reply = tuple[int, dict[str, Any]]

CENT = Decimal("0.01")
# Documented trigger: authorizing exactly this amount is always declined, so tests need no randomness.
DECLINE_AMOUNT = Decimal("666.66")
OUT_OF_STOCK_SKU = "SKU-OUT"
# Generous on purpose: a load test of thousands of orders must never run dry by accident.
STOCK_PER_SKU = 10_000_000
CATALOG = {
    "SKU-1001": "Espresso beans 1 kg",
    "SKU-1002": "Filter coffee 500 g",
    "SKU-1003": "Green tea 100 bags",
    "SKU-1004": "Ceramic mug 350 ml",
    "SKU-1005": "Travel mug 450 ml",
    "SKU-1006": "Pour-over dripper",
    "SKU-1007": "Paper filters x100",
    "SKU-1008": "Burr grinder",
    "SKU-1009": "Milk frother",
    "SKU-1010": "Gooseneck kettle",
    "SKU-1011": "Digital scale",
    "SKU-1012": "French press 1 l",
    "SKU-1013": "Cold brew jar",
    "SKU-1014": "Descaler 250 ml",
    "SKU-1015": "Cleaning brush set",
    "SKU-1016": "Oat drink 1 l",
    "SKU-1017": "Cocoa powder 250 g",
    "SKU-1018": "Biscotti 200 g",
    "SKU-1019": "Gift card 25 EUR",
    "SKU-1020": "Barista apron",
    OUT_OF_STOCK_SKU: "Limited edition grinder (sold out)",
}


@dataclass(frozen=True)
class Controls:
    """Misbehaviour switches; field names are the JSON keys of /_control.

    Frozen and replaced whole, so request threads can read ``state.controls`` without the lock.
    """

    latencyMs: int = 0
    errorRate: float = 0.0
    declineRate: float = 0.0
    amountSkew: float = 0.0
    outage: bool = False


def error(status: int, code: str, message: str, **extra: Any) -> Reply:
    return status, {"code": code, "message": message, **extra}


class SandboxState:
    def __init__(self, seed: int | None = None) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.controls = Controls()
        self.stock = {sku: 0 if sku == OUT_OF_STOCK_SKU else STOCK_PER_SKU for sku in CATALOG}
        self.authorizations: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.stats: Counter[str] = Counter()
        self.replies: dict[tuple[str, str], tuple[str, Reply]] = {}  # (system, key) -> (fingerprint, reply)

    # --- controls -------------------------------------------------------------------------------

    def set_controls(self, changes: Mapping[str, Any]) -> Controls:
        """Validate first and apply all-or-nothing; raises ValueError naming the bad field."""
        known = sorted(f.name for f in fields(Controls))
        with self.lock:
            updated = asdict(self.controls)
            for name, value in changes.items():
                if name not in known:
                    raise ValueError(f"unknown control {name!r}; known: {known}")
                updated[name] = _control_value(name, value)
            self.controls = Controls(**updated)
            return self.controls

    def reset_controls(self) -> Controls:
        with self.lock:
            self.controls = Controls()
            return self.controls

    def chance(self, rate: float) -> bool:
        # random() is in [0, 1): rate 0 never fires and rate 1 always does, so tests stay deterministic.
        with self.lock:
            return self.rng.random() < rate

    def snapshot_stats(self) -> dict[str, int]:
        with self.lock:
            names = (
                "authorizations",
                "declines",
                "captures",
                "reservations",
                "shipments",
                "idempotentReplays",
            )
            return {name: self.stats[name] for name in names}

    # --- idempotency ----------------------------------------------------------------------------

    def execute(self, system: str, key: str | None, fingerprint: str, operation: Callable[[], Reply]) -> Reply:
        """Run ``operation`` once per (system, key); repeats get the stored first reply."""
        with self.lock:
            if not key:
                return operation()
            stored = self.replies.get((system, key))
            if stored is not None:
                if stored[0] != fingerprint:
                    return error(
                        422,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this Idempotency-Key was already used for a different request",
                    )
                self.stats["idempotentReplays"] += 1
                return stored[1]
            reply = operation()
            # 5xx is not stored: the client is meant to retry and deserves a real second attempt.
            if reply[0] < 500:
                self.replies[(system, key)] = (fingerprint, reply)
            return reply

    # --- payment (called under the lock via execute) ------------------------------------------

    def authorize(self, body: Mapping[str, Any]) -> Reply:
        amount, currency, order_id = _amount(body.get("amount")), body.get("currency"), body.get("orderId")
        if amount is None or not isinstance(order_id, str) or not order_id or not _is_currency(currency):
            return error(422, "INVALID_REQUEST", "need orderId, a positive amount and a 3-letter currency")
        if amount == DECLINE_AMOUNT or self.rng.random() < self.controls.declineRate:
            self.stats["declines"] += 1
            return error(
                402,
                "PAYMENT_DECLINED",
                "the card issuer declined the payment",
                declineReason="insufficient_funds",
            )
        authorized = (amount + Decimal(str(self.controls.amountSkew))).quantize(CENT)
        auth_id = f"AUTH-{len(self.authorizations) + 1:08d}"
        self.authorizations[auth_id] = record = {
            "authorizationId": auth_id,
            "orderId": order_id,
            "customerId": body.get("customerId"),
            "amount": float(authorized),
            "currency": currency,
            "status": "authorized",
            "createdAt": _now(),
        }
        self.stats["authorizations"] += 1
        return 201, dict(record)

    def capture(self, auth_id: str, body: Mapping[str, Any]) -> Reply:
        authorization = self.authorizations.get(auth_id)
        if authorization is None:
            return error(404, "AUTHORIZATION_NOT_FOUND", f"no authorization {auth_id}")
        if authorization["status"] == "captured":
            return error(
                409,
                "ALREADY_CAPTURED",
                f"authorization {auth_id} is already captured",
                captureId=authorization["captureId"],
            )
        amount = _amount(body.get("amount"))
        if amount is None:
            return error(422, "INVALID_REQUEST", "need a positive amount")
        if amount > Decimal(str(authorization["amount"])):
            return error(
                422,
                "AMOUNT_EXCEEDS_AUTHORIZATION",
                f"cannot capture {amount}, only {authorization['amount']} was authorized",
            )
        capture_id = f"CAP-{len(self.captures) + 1:08d}"
        authorization.update(status="captured", captureId=capture_id)
        self.captures[capture_id] = record = {
            "captureId": capture_id,
            "authorizationId": auth_id,
            "amount": float(amount),
            "currency": authorization["currency"],
            "status": "captured",
            "createdAt": _now(),
        }
        self.stats["captures"] += 1
        return 201, dict(record)

    # --- warehouse ------------------------------------------------------------------------------

    def reserve(self, body: Mapping[str, Any]) -> Reply:
        order_id, items = body.get("orderId"), body.get("items")
        if not isinstance(order_id, str) or not order_id or not _valid_items(items):
            return error(422, "INVALID_REQUEST", "need orderId and items [{sku, quantity > 0}]")
        wanted: Counter[str] = Counter()
        for item in items:
            wanted[item["sku"]] += item["quantity"]
        for sku, quantity in wanted.items():
            if sku not in self.stock:
                return error(422, "UNKNOWN_SKU", f"unknown SKU {sku}", sku=sku)
            if self.stock[sku] < quantity:
                return error(
                    409,
                    "OUT_OF_STOCK",
                    f"{sku} has {self.stock[sku]} left, {quantity} requested",
                    sku=sku,
                    requested=quantity,
                    available=self.stock[sku],
                )
        for sku, quantity in wanted.items():  # all checked first: a reservation is all or nothing
            self.stock[sku] -= quantity
        reservation_id = f"RES-{len(self.reservations) + 1:08d}"
        self.reservations[reservation_id] = record = {
            "reservationId": reservation_id,
            "orderId": order_id,
            "items": [{"sku": i["sku"], "quantity": i["quantity"]} for i in items],
            "status": "reserved",
            "createdAt": _now(),
        }
        self.stats["reservations"] += 1
        return 201, dict(record)

    def ship(self, body: Mapping[str, Any]) -> Reply:
        reservation = self.reservations.get(str(body.get("reservationId")))
        if reservation is None:
            return error(404, "RESERVATION_NOT_FOUND", f"no reservation {body.get('reservationId')}")
        if reservation["status"] == "shipped":
            return error(
                409,
                "ALREADY_SHIPPED",
                f"reservation {reservation['reservationId']} already shipped",
                shipmentId=reservation["shipmentId"],
            )
        if body.get("orderId") != reservation["orderId"]:
            return error(422, "ORDER_MISMATCH", "reservation belongs to another order")
        address = body.get("address")
        if not address or not isinstance(address, dict | str):
            return error(422, "ADDRESS_INVALID", "a shipping address is required")
        shipment_id = f"SHP-{len(self.shipments) + 1:08d}"
        reservation.update(status="shipped", shipmentId=shipment_id)
        self.shipments[shipment_id] = record = {
            "shipmentId": shipment_id,
            "reservationId": reservation["reservationId"],
            "orderId": reservation["orderId"],
            "address": address,
            "trackingNumber": f"TRK{self.rng.randrange(10**11):011d}",
            "status": "shipped",
            "createdAt": _now(),
        }
        self.stats["shipments"] += 1
        return 201, dict(record)


def fingerprint(method: str, path: str, body: Any) -> str:
    return f"{method} {path} {json.dumps(body, sort_keys=True)}"


def _control_value(name: str, value: Any) -> Any:
    if name == "outage":
        if not isinstance(value, bool):
            raise ValueError("outage must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if name in ("errorRate", "declineRate") and not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1")
    if name == "latencyMs":
        if value < 0:
            raise ValueError("latencyMs must be >= 0")
        return int(value)
    return float(value)


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _is_currency(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()


def _valid_items(items: Any) -> bool:
    return (
        isinstance(items, list)
        and bool(items)
        and all(
            isinstance(i, dict) and isinstance(i.get("sku"), str) and _positive_int(i.get("quantity")) for i in items
        )
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
