"""In-memory state of the simulated systems (no Flask here): payment and warehouse in this module,
customs, tax and carrier in their own modules working on the same state.

Every operation runs under one lock together with its idempotency bookkeeping, so two
concurrent requests with the same key can never both charge or both reserve.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.sandbox.reference import CARRIER_RATES

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


SYSTEMS = ("payment", "wms", "customs", "tax", "carrier", "notify")
CARRIERS = tuple(CARRIER_RATES)
# Order statuses the warehouse accepts from a process; reserved/shipped/released follow from its own work.
SETTABLE_ORDER_STATUSES = ("on_hold", "ready_to_pick", "picking", "packed", "cancelled")
FINAL_ORDER_STATUSES = ("shipped", "cancelled")
STAT_NAMES = (
    "authorizations",
    "declines",
    "captures",
    "voids",
    "refunds",
    "reservations",
    "shipments",
    "releases",
    "statusUpdates",
    "customsDocumentSets",
    "deniedParties",
    "taxCalculations",
    "quotes",
    "bookings",
    "trackingQueries",
    "availabilityChecks",
    "backorders",
    "notifications",
    "idempotentReplays",
    # Every business request that reached the sandbox, misbehaving replies included: proves fail-fast calls
    # never left the client.
    "requests",
    *(f"{system}Requests" for system in SYSTEMS),
)


@dataclass(frozen=True)
class Controls:
    """Misbehaviour switches; field names are the JSON keys of /_control.

    Frozen and replaced whole, so request threads can read ``state.controls`` without the lock.
    """

    latencyMs: int = 0
    errorRate: float = 0.0
    declineRate: float = 0.0
    amountSkew: float = 0.0  # added to every amount reported back: authorized, captured, refunded, tax, customs value
    outage: bool = False
    outageSystems: tuple[str, ...] = ()  # like outage, for these systems only
    quantitySkew: int = 0  # added to the first line's quantity when reserving or declaring to customs
    unavailableCarriers: tuple[str, ...] = ()  # refuse bookings (CARRIER_UNAVAILABLE), left out of quotes
    carrierSwap: bool = False  # bookings go to another carrier than the one asked for

    def out(self, system: str) -> bool:
        return self.outage or system in self.outageSystems


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
        self.voids: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.order_statuses: dict[str, str] = {}
        self.document_sets: dict[str, dict[str, Any]] = {}
        self.tax_calculations: dict[str, dict[str, Any]] = {}
        self.quotes: dict[str, dict[str, Any]] = {}
        self.bookings: dict[str, dict[str, Any]] = {}
        self.tracking: dict[str, dict[str, Any]] = {}  # tracking number -> shipment as the carrier sees it
        self.backorders: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []  # what customers were sent, oldest first
        self.pdfs: dict[str, list[str]] = {}  # document or label id -> the lines printed on it
        self.stats: Counter[str] = Counter()
        self.replies: dict[tuple[str, str], tuple[str, Reply]] = {}  # (system, key) -> (fingerprint, reply)
        self.calls_per_key: Counter[tuple[str, str]] = Counter()  # first calls and replays alike
        self.in_flight = 0  # business calls being answered now (the latency included)
        self.peak_in_flight = 0  # the most at once since the last reset: did callers work in parallel?

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

    def set_stock(self, levels: Mapping[str, Any]) -> dict[str, int]:
        """Stock on hand per SKU, for tests and demos (a shortage, a delivery that arrived); all or nothing."""
        for sku, quantity in levels.items():
            if sku not in self.stock:
                raise ValueError(f"unknown SKU {sku!r}")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                raise ValueError(f"stock of {sku} must be a whole number >= 0")
        with self.lock:
            self.stock.update(levels)
            return {sku: self.stock[sku] for sku in levels}

    def reset_controls(self) -> Controls:
        with self.lock:
            self.controls = Controls()
            return self.controls

    def chance(self, rate: float) -> bool:
        # random() is in [0, 1): rate 0 never fires and rate 1 always does, so tests stay deterministic.
        with self.lock:
            return self.rng.random() < rate

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Counts a business call as in flight while it is answered, its latency included."""
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    def concurrency(self, reset: bool = False) -> dict[str, int]:
        with self.lock:
            seen = {"inFlight": self.in_flight, "peak": self.peak_in_flight}
            if reset:
                self.peak_in_flight = self.in_flight
            return seen

    def snapshot_stats(self) -> dict[str, int]:
        with self.lock:
            return {name: self.stats[name] for name in STAT_NAMES}

    def ledger(self) -> dict[str, dict[str, int]]:
        """Captures and shipments per order id, and calls per idempotency key: what a chaos run checks for
        duplicate charges and shipments (one order captured or shipped twice) after faults."""
        with self.lock:
            orders = {auth_id: a["orderId"] for auth_id, a in self.authorizations.items()}
            return {
                "captures": dict(Counter(orders.get(c["authorizationId"], "") for c in self.captures.values())),
                "shipments": dict(Counter(shipment["orderId"] for shipment in self.shipments.values())),
                "callsPerKey": {f"{system}:{key}": n for (system, key), n in self.calls_per_key.items()},
            }

    def count_request(self, system: str) -> None:
        with self.lock:
            self.stats["requests"] += 1
            self.stats[f"{system}Requests"] += 1

    def skewed(self, amount: Decimal) -> Decimal:
        return (amount + Decimal(str(self.controls.amountSkew))).quantize(CENT)

    # --- idempotency ----------------------------------------------------------------------------

    def execute(self, system: str, key: str | None, fingerprint: str, operation: Callable[[], Reply]) -> Reply:
        """Run ``operation`` once per (system, key); repeats get the stored first reply."""
        with self.lock:
            if not key:
                return operation()
            self.calls_per_key[(system, key)] += 1
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
        if amount is None or not isinstance(order_id, str) or not order_id or not is_currency(currency):
            return error(422, "INVALID_REQUEST", "need orderId, a positive amount and a 3-letter currency")
        if amount == DECLINE_AMOUNT or self.rng.random() < self.controls.declineRate:
            self.stats["declines"] += 1
            return error(
                402,
                "PAYMENT_DECLINED",
                "the card issuer declined the payment",
                declineReason="insufficient_funds",
            )
        authorized = self.skewed(amount)
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
        if authorization["status"] == "voided":
            return error(
                409, "AUTHORIZATION_VOIDED", f"authorization {auth_id} was voided", voidId=authorization["voidId"]
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
            "amount": float(self.skewed(amount)),
            "currency": authorization["currency"],
            "refunded": 0.0,
            "status": "captured",
            "createdAt": _now(),
        }
        self.stats["captures"] += 1
        return 201, _public(record)

    def void(self, auth_id: str, body: Mapping[str, Any]) -> Reply:
        authorization = self.authorizations.get(auth_id)
        if authorization is None:
            return error(404, "AUTHORIZATION_NOT_FOUND", f"no authorization {auth_id}")
        if body.get("orderId") not in (None, authorization["orderId"]):
            return error(422, "ORDER_MISMATCH", "authorization belongs to another order")
        if authorization["status"] == "captured":
            # Money that was taken can only be refunded; the process has to take that path.
            return error(
                409,
                "ALREADY_CAPTURED",
                f"authorization {auth_id} is captured, refund it instead",
                captureId=authorization["captureId"],
            )
        if authorization["status"] == "voided":  # releasing a released hold is harmless: same answer
            return 200, dict(self.voids[authorization["voidId"]])
        void_id = f"VOID-{len(self.voids) + 1:08d}"
        authorization.update(status="voided", voidId=void_id)
        self.voids[void_id] = record = {
            "voidId": void_id,
            "authorizationId": auth_id,
            "orderId": authorization["orderId"],
            "amount": authorization["amount"],
            "currency": authorization["currency"],
            "reason": body.get("reason"),
            "status": "voided",
            "createdAt": _now(),
        }
        self.stats["voids"] += 1
        return 200, dict(record)

    def refund(self, capture_id: str, body: Mapping[str, Any]) -> Reply:
        captured = self.captures.get(capture_id)
        if captured is None:
            return error(404, "CAPTURE_NOT_FOUND", f"no capture {capture_id}")
        amount, currency = _amount(body.get("amount")), body.get("currency", captured["currency"])
        if amount is None or not is_currency(currency):
            return error(422, "INVALID_REQUEST", "need a positive amount and a 3-letter currency")
        if currency != captured["currency"]:
            return error(422, "CURRENCY_MISMATCH", f"capture {capture_id} is in {captured['currency']}")
        refundable = Decimal(str(captured["amount"])) - Decimal(str(captured["refunded"]))
        if amount > refundable:
            return error(
                422,
                "REFUND_EXCEEDS_CAPTURE",
                f"cannot refund {amount}, {refundable} of capture {capture_id} is left",
                refundable=float(refundable),
            )
        refunded = self.skewed(amount)
        captured["refunded"] = float(Decimal(str(captured["refunded"])) + refunded)
        refund_id = f"REF-{len(self.refunds) + 1:08d}"
        fully = Decimal(str(captured["refunded"])) >= Decimal(str(captured["amount"]))
        self.refunds[refund_id] = record = {
            "refundId": refund_id,
            "captureId": capture_id,
            "amount": float(refunded),
            "currency": captured["currency"],
            "reason": body.get("reason"),
            "status": "refunded" if fully else "partially_refunded",
            "createdAt": _now(),
        }
        self.stats["refunds"] += 1
        return 201, dict(record)

    # --- warehouse ------------------------------------------------------------------------------

    def reserve(self, body: Mapping[str, Any]) -> Reply:
        order_id, items = body.get("orderId"), body.get("items")
        if not isinstance(order_id, str) or not order_id or not valid_items(items):
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
        reserved = skew_first_quantity(
            [{"sku": i["sku"], "quantity": i["quantity"]} for i in items], self.controls.quantitySkew
        )
        for line in reserved:  # all checked first: a reservation is all or nothing
            self.stock[line["sku"]] -= line["quantity"]
        reservation_id = f"RES-{len(self.reservations) + 1:08d}"
        self.reservations[reservation_id] = record = {
            "reservationId": reservation_id,
            "orderId": order_id,
            "items": reserved,
            "status": "reserved",
            "createdAt": _now(),
        }
        self.order_statuses[order_id] = "reserved"
        self.stats["reservations"] += 1
        return 201, _public(record)

    def release(self, reservation_id: str, body: Mapping[str, Any]) -> Reply:
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            return error(404, "RESERVATION_NOT_FOUND", f"no reservation {reservation_id}")
        if body.get("orderId") not in (None, reservation["orderId"]):
            return error(422, "ORDER_MISMATCH", "reservation belongs to another order")
        if reservation["status"] == "shipped":
            return error(
                409,
                "ALREADY_SHIPPED",
                f"reservation {reservation_id} already shipped",
                shipmentId=reservation["shipmentId"],
            )
        if reservation["status"] != "released":  # a second release changes nothing and says so
            for line in reservation["items"]:
                self.stock[line["sku"]] += line["quantity"]
            reservation.update(status="released", releasedAt=_now(), reason=body.get("reason"))
            self.order_statuses[reservation["orderId"]] = "released"
            self.stats["releases"] += 1
        return 200, _public(reservation)

    def update_order_status(self, order_id: str, body: Mapping[str, Any]) -> Reply:
        status = body.get("status")
        if status not in SETTABLE_ORDER_STATUSES:
            return error(422, "INVALID_REQUEST", f"status must be one of {list(SETTABLE_ORDER_STATUSES)}")
        previous = self.order_statuses.get(order_id)
        if previous is None:
            return error(404, "ORDER_NOT_FOUND", f"the warehouse knows no order {order_id}")
        if previous in FINAL_ORDER_STATUSES and previous != status:
            return error(
                409,
                "INVALID_STATUS_TRANSITION",
                f"order {order_id} is {previous}, it cannot become {status}",
                currentStatus=previous,
            )
        self.order_statuses[order_id] = status
        self.stats["statusUpdates"] += 1
        return 200, {
            "orderId": order_id,
            "status": status,
            "previousStatus": previous,
            "reason": body.get("reason"),
            "updatedAt": _now(),
        }

    def availability(self, body: Mapping[str, Any]) -> Reply:
        """How much of each line is on hand now; reserves nothing."""
        items = body.get("items")
        if not valid_items(items):
            return error(422, "INVALID_REQUEST", "need items [{sku, quantity > 0}]")
        unknown = next((i["sku"] for i in items if i["sku"] not in self.stock), None)
        if unknown is not None:
            return error(422, "UNKNOWN_SKU", f"unknown SKU {unknown}", sku=unknown)
        self.stats["availabilityChecks"] += 1
        lines = [{"sku": i["sku"], "requested": i["quantity"], "available": self.stock[i["sku"]]} for i in items]
        return 200, {"orderId": body.get("orderId"), "lines": lines, "checkedAt": _now()}

    def backorder(self, body: Mapping[str, Any]) -> Reply:
        """Lines the warehouse ships on its own once stock arrives (the rest of a split shipment)."""
        order_id, items = body.get("orderId"), body.get("items")
        if not isinstance(order_id, str) or not order_id or not valid_items(items):
            return error(422, "INVALID_REQUEST", "need orderId and items [{sku, quantity > 0}]")
        unknown = next((i["sku"] for i in items if i["sku"] not in self.stock), None)
        if unknown is not None:
            return error(422, "UNKNOWN_SKU", f"unknown SKU {unknown}", sku=unknown)
        backorder_id = f"BO-{len(self.backorders) + 1:08d}"
        self.backorders[backorder_id] = record = {
            "backorderId": backorder_id,
            "orderId": order_id,
            "items": [{"sku": i["sku"], "quantity": i["quantity"]} for i in items],
            "status": "open",
            "createdAt": _now(),
        }
        self.stats["backorders"] += 1
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
        if reservation["status"] == "released":
            return error(409, "RESERVATION_RELEASED", f"reservation {reservation['reservationId']} was released")
        shipment_id = f"SHP-{len(self.shipments) + 1:08d}"
        reservation.update(status="shipped", shipmentId=shipment_id)
        self.order_statuses[reservation["orderId"]] = "shipped"
        self.shipments[shipment_id] = record = {
            "shipmentId": shipment_id,
            "reservationId": reservation["reservationId"],
            "orderId": reservation["orderId"],
            "address": address,
            "carrier": body.get("carrier") if isinstance(body.get("carrier"), str) else None,
            # The carrier's label when the order booked one, else the warehouse's own parcel service.
            "trackingNumber": body.get("trackingNumber")
            if isinstance(body.get("trackingNumber"), str)
            else f"TRK{self.rng.randrange(10**11):011d}",
            "status": "shipped",
            "createdAt": _now(),
        }
        self.stats["shipments"] += 1
        return 201, dict(record)


def skew_first_quantity(lines: list[dict[str, Any]], skew: int) -> list[dict[str, Any]]:
    """The quantitySkew misbehaviour: the first line comes out wrong (never below zero)."""
    if skew and lines:
        lines[0] = {**lines[0], "quantity": max(0, lines[0]["quantity"] + skew)}
    return lines


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without bookkeeping fields (a capture's running refund total is not part of its reply)."""
    return {k: v for k, v in record.items() if k != "refunded"}


def fingerprint(method: str, path: str, body: Any) -> str:
    return f"{method} {path} {json.dumps(body, sort_keys=True)}"


def _control_value(name: str, value: Any) -> Any:
    if name in ("outage", "carrierSwap"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name in ("outageSystems", "unavailableCarriers"):
        known = SYSTEMS if name == "outageSystems" else CARRIERS
        if not isinstance(value, list) or any(v not in known for v in value):
            raise ValueError(f"{name} must be a list of {list(known)}")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if name in ("errorRate", "declineRate") and not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1")
    if name == "latencyMs":
        if value < 0:
            raise ValueError("latencyMs must be >= 0")
        return int(value)
    if name == "quantitySkew":
        if value != int(value):
            raise ValueError("quantitySkew must be a whole number")
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


def is_currency(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()


def is_country(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()


def valid_items(items: Any, *, priced: bool = False) -> bool:
    """[{sku, quantity > 0}], each with a unitPrice >= 0 when ``priced``."""
    return (
        isinstance(items, list)
        and bool(items)
        and all(
            isinstance(i, dict)
            and isinstance(i.get("sku"), str)
            and _positive_int(i.get("quantity"))
            and (not priced or _non_negative(i.get("unitPrice")))
            for i in items
        )
    )


def _non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
