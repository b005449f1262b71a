"""Customs, tax and carrier connectors, payment void/refund, warehouse release/status, response verification,
circuit breakers and the health report: against the sandbox running as a real subprocess over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from connectors import (
    BusinessError,
    CircuitOpenError,
    ConfigurationError,
    ConnectorError,
    ConnectorRegistry,
    Discrepancy,
    JobContext,
    TransientError,
    build_registry,
    health,
    retry_policy,
)
from connectors.circuit import DEFAULT_COOLDOWN, MemoryCircuitStore, RedisCircuitStore
from tests.support.connectors import call, control, job, stats

REDIS_URL = os.environ.get("ORDERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


# --- fixtures and helpers ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_controls(sandbox_url: str) -> Iterator[None]:
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(sandbox_url: str, clock: FakeClock) -> ConnectorRegistry:
    return build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url}, clock=clock)


def grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


ADDRESSES = {
    "US": {"name": "Ada Byron", "street": "350 5th Ave", "city": "New York", "region": "NY", "country": "US"},
    "FR": {"name": "Ada Byron", "street": "1 Rue de Rivoli", "city": "Paris", "postalCode": "75001", "country": "FR"},
    "DE": {"name": "Ada Byron", "street": "Unter den Linden 1", "city": "Berlin", "country": "DE"},
    "CH": {"name": "Ada Byron", "street": "Bahnhofstrasse 1", "city": "Zürich", "country": "CH"},
    "GB": {"name": "Ada Byron", "street": "1 Baker St", "city": "London", "country": "GB"},
}


def order(country: str = "US", **changes: Any) -> dict[str, Any]:
    """25.00 of coffee beans (food) and 25.00 of mugs (standard rate), 50.00 in all."""
    return {
        "orderId": f"ORD-{uuid.uuid4().hex[:8]}",
        "total": 50.0,
        "currency": "EUR",
        "customer": {"id": "C-7", "name": "Ada Byron", "tier": "gold"},
        "items": [
            {"sku": "SKU-1001", "quantity": 2, "unitPrice": 12.5},
            {"sku": "SKU-1004", "quantity": 2, "unitPrice": 12.5},
        ],
        "shippingAddress": ADDRESSES[country],
        **changes,
    }


def open_circuit(registry: ConnectorRegistry, sandbox_url: str, system: str = "payment", failures: int = 5) -> None:
    control(sandbox_url, outageSystems=[system])
    for _ in range(failures):
        with pytest.raises(TransientError) as caught:
            call(registry, "payment.authorize", {"orderId": "ORD-OUT", "total": 10})
        assert not isinstance(caught.value, CircuitOpenError) and caught.value.status == 503


def is_pdf(url: str) -> bool:
    response = requests.get(url, timeout=5)
    return response.status_code == 200 and response.content.startswith(b"%PDF-")


# --- customs ----------------------------------------------------------------------------------------------------


def test_customs_outside_the_eu_declares_the_export(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    result = call(registry, "customs.documents", order("US"))
    assert result["customsDeclarationRequired"] is True
    assert result["customsDeclarationId"][2:4] == "DE" and len(result["customsDeclarationId"]) == 18  # an MRN
    assert [d["type"] for d in result["customsDocuments"]] == ["commercial_invoice", "export_declaration"]
    assert result["customsDocuments"][1]["documentId"] == result["customsDeclarationId"]
    assert all(is_pdf(d["url"]) for d in result["customsDocuments"])
    assert grew(before, stats(sandbox_url)) == {"customsDocumentSets": 1, "requests": 1, "customsRequests": 1}


def test_customs_inside_the_eu_needs_no_declaration_but_still_an_invoice(registry: ConnectorRegistry) -> None:
    result = call(registry, "customs.documents", order("FR"))
    assert result["customsDeclarationRequired"] is False
    assert result["customsDeclarationId"] is None
    assert [d["type"] for d in result["customsDocuments"]] == ["commercial_invoice"]


def test_domestic_order_needs_no_customs_and_makes_no_call(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    result = call(registry, "customs.documents", order("DE"))
    assert result == {"customsDocuments": [], "customsDeclarationId": None, "customsDeclarationRequired": False}
    assert stats(sandbox_url) == before


def test_seller_country_is_a_setting(sandbox_url: str) -> None:
    swiss = build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url, "ORDERFLOW_SELLER_COUNTRY": "ch"})
    # Leaving Switzerland for the EU is an export, and an order to a Swiss address is domestic.
    assert call(swiss, "customs.documents", order("DE"))["customsDeclarationId"][2:4] == "CH"
    assert call(swiss, "customs.documents", order("CH"))["customsDocuments"] == []
    with pytest.raises(ConfigurationError):
        build_registry({"ORDERFLOW_SELLER_COUNTRY": "Germany"})


@pytest.mark.parametrize(
    "customer",
    [{"id": "C-DENIED", "name": "Someone Else"}, {"id": "C-8", "name": "Denied Trading Ltd."}],
    ids=["by-id", "by-name"],
)
def test_denied_party_is_a_business_error(
    sandbox_url: str, registry: ConnectorRegistry, customer: dict[str, str]
) -> None:
    before = stats(sandbox_url)
    with pytest.raises(BusinessError) as caught:
        call(registry, "customs.documents", order("US", customer=customer))
    assert caught.value.code == "DENIED_PARTY"
    assert caught.value.status == 403
    assert caught.value.details["matchedEntry"] in (customer["id"], customer["name"])
    after = stats(sandbox_url)
    assert after["customsDocumentSets"] == before["customsDocumentSets"]
    assert after["deniedParties"] == before["deniedParties"] + 1


# --- tax --------------------------------------------------------------------------------------------------------


def test_tax_follows_country_and_item_category(registry: ConnectorRegistry) -> None:
    # 25.00 of coffee at 7 % and 25.00 of mugs at 19 %: 13 % overall.
    result = call(registry, "tax.calculate", order("DE"))
    assert result["taxCalculationId"].startswith("TAX-")
    assert {k: v for k, v in result.items() if k != "taxCalculationId"} == {
        "taxRate": 0.13,
        "taxAmount": 6.5,
        "totalWithTax": 56.5,
        "currency": "EUR",
    }
    # The order's own category wins over the product's: books are taxed at the reduced rate too.
    items = [{"sku": "SKU-1004", "quantity": 4, "unitPrice": 12.5, "category": "books"}]
    assert call(registry, "tax.calculate", order("DE", items=items))["taxAmount"] == 3.5


def test_tax_by_us_state_and_a_tax_free_order(registry: ConnectorRegistry) -> None:
    result = call(registry, "tax.calculate", order("US"))  # New York: 4 % on the mugs, groceries exempt
    assert (result["taxRate"], result["taxAmount"], result["totalWithTax"]) == (0.02, 1.0, 51.0)
    gift_card = [{"sku": "SKU-1019", "quantity": 2, "unitPrice": 25}]
    free = call(registry, "tax.calculate", order("GB", items=gift_card))
    assert (free["taxRate"], free["taxAmount"], free["totalWithTax"]) == (0.0, 0.0, 50.0)


@pytest.mark.parametrize(
    "address",
    [
        {"country": "ZZ", "city": "Nowhere"},
        {"country": "US", "city": "Somewhere"},  # sales tax is per state: no state, no jurisdiction
        {"country": "US", "state": "XX"},
    ],
    ids=["unknown-country", "us-without-state", "unknown-state"],
)
def test_unknown_tax_jurisdiction_is_a_business_error(registry: ConnectorRegistry, address: dict[str, str]) -> None:
    with pytest.raises(BusinessError) as caught:
        call(registry, "tax.calculate", order(shippingAddress=address))
    assert caught.value.code == "TAX_JURISDICTION_UNKNOWN"


# --- carrier ----------------------------------------------------------------------------------------------------


def test_quotes_come_from_several_carriers_cheapest_first(registry: ConnectorRegistry) -> None:
    in_eu = call(registry, "carrier.quote", order("FR"))
    assert in_eu["carrierQuoteId"].startswith("QTE-")
    quotes = in_eu["carrierQuotes"]
    assert sorted(q["carrier"] for q in quotes) == ["DHL", "DPD", "UPS"]
    assert [q["price"] for q in quotes] == sorted(q["price"] for q in quotes)
    assert all(q["days"] > 0 and q["currency"] == "EUR" and q["service"] for q in quotes)
    # DPD does not ship outside Europe: two quotes for the US.
    assert sorted(q["carrier"] for q in call(registry, "carrier.quote", order("US"))["carrierQuotes"]) == ["DHL", "UPS"]


def test_book_the_first_quote_then_track_it(sandbox_url: str, registry: ConnectorRegistry) -> None:
    variables = order("FR")
    variables.update(call(registry, "carrier.quote", variables))
    booked = call(registry, "carrier.book", variables)
    assert booked["carrier"] == variables["carrierQuotes"][0]["carrier"]
    assert booked["carrierBookingId"].startswith("BKG-") and booked["trackingNumber"]
    assert is_pdf(booked["labelUrl"])

    tracked = call(registry, "carrier.track", {**variables, **booked})
    assert tracked["trackingStatus"] == "label_created"
    assert tracked["estimatedDeliveryDate"]
    requests.post(
        f"{sandbox_url}/_control/tracking/{booked['trackingNumber']}",
        json={"status": "delivered", "location": "Paris"},
        timeout=5,
    ).raise_for_status()
    tracked = call(registry, "carrier.track", {**variables, **booked})
    assert tracked["trackingStatus"] == "delivered"
    assert [e["status"] for e in tracked["trackingEvents"]] == ["label_created", "delivered"]


def test_book_the_chosen_carrier(registry: ConnectorRegistry) -> None:
    booked = call(registry, "carrier.book", order("US", carrier="UPS"))
    assert (booked["carrier"], booked["carrierService"]) == ("UPS", "express")
    assert booked["trackingNumber"].startswith("1Z")


def test_unavailable_carrier_is_a_business_error_and_a_process_can_reroute(
    sandbox_url: str, registry: ConnectorRegistry
) -> None:
    variables = order("FR")
    variables.update(call(registry, "carrier.quote", variables))
    first = variables["carrierQuotes"][0]["carrier"]
    control(sandbox_url, unavailableCarriers=[first])
    with pytest.raises(BusinessError) as caught:
        call(registry, "carrier.book", variables)
    assert caught.value.code == "CARRIER_UNAVAILABLE" and caught.value.details["carrier"] == first

    # What a reroute path does after catching CARRIER_UNAVAILABLE: pick the next quote.
    fallback = next(q["carrier"] for q in variables["carrierQuotes"] if q["carrier"] != first)
    assert call(registry, "carrier.book", {**variables, "carrier": fallback})["carrier"] == fallback
    assert first not in [q["carrier"] for q in call(registry, "carrier.quote", order("FR"))["carrierQuotes"]]

    control(sandbox_url, unavailableCarriers=["DHL", "UPS", "DPD"])
    with pytest.raises(BusinessError) as nobody:
        call(registry, "carrier.quote", order("FR"))
    assert nobody.value.code == "CARRIER_UNAVAILABLE"


def test_booking_needs_a_carrier_or_quotes_before_any_call(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    with pytest.raises(ConnectorError, match="carrier.quote first") as caught:
        call(registry, "carrier.book", order("FR"))
    assert type(caught.value) is ConnectorError
    assert stats(sandbox_url) == before


def test_unknown_tracking_number_is_a_business_error(registry: ConnectorRegistry) -> None:
    with pytest.raises(BusinessError) as caught:
        call(registry, "carrier.track", {"trackingNumber": "JJD000"})
    assert caught.value.code == "TRACKING_NOT_FOUND"


# --- payment: void and refund -----------------------------------------------------------------------------------


def test_void_releases_the_authorization(sandbox_url: str, registry: ConnectorRegistry) -> None:
    variables = {"orderId": "ORD-V", "total": 80, "currency": "EUR"}
    variables.update(call(registry, "payment.authorize", variables))
    voided = call(registry, "payment.void", {**variables, "voidReason": "customer cancelled"})
    assert voided["paymentStatus"] == "voided" and voided["paymentVoidId"].startswith("VOID-")
    remote = requests.get(
        f"{sandbox_url}/payment/authorizations/{variables['paymentAuthorizationId']}", timeout=5
    ).json()
    assert remote["status"] == "voided"
    with pytest.raises(BusinessError) as caught:
        call(registry, "payment.capture", variables)
    assert caught.value.code == "AUTHORIZATION_VOIDED"


def test_captured_money_cannot_be_voided_only_refunded(sandbox_url: str, registry: ConnectorRegistry) -> None:
    variables = {"orderId": "ORD-R", "total": 100, "currency": "EUR"}
    variables.update(call(registry, "payment.authorize", variables))
    variables.update(call(registry, "payment.capture", variables))
    with pytest.raises(BusinessError) as caught:
        call(registry, "payment.void", variables)
    assert caught.value.code == "ALREADY_CAPTURED"

    before = stats(sandbox_url)
    partial = call(registry, "payment.refund", {**variables, "refundAmount": 30, "refundReason": "damaged mug"})
    assert partial["paymentStatus"] == "partially_refunded" and partial["refundedAmount"] == 30.0
    rest = call(registry, "payment.refund", {**variables, "refundAmount": 70})
    assert rest["paymentStatus"] == "refunded" and rest["paymentRefundId"] != partial["paymentRefundId"]
    assert stats(sandbox_url)["refunds"] - before["refunds"] == 2
    with pytest.raises(BusinessError) as too_much:
        call(registry, "payment.refund", {**variables, "refundAmount": 0.01})
    assert too_much.value.code == "REFUND_EXCEEDS_CAPTURE"


# --- warehouse: release and status ------------------------------------------------------------------------------


def available(sandbox_url: str, sku: str) -> int:
    table = requests.get(f"{sandbox_url}/wms/stock", timeout=5).json()["items"]
    return next(row["available"] for row in table if row["sku"] == sku)


def test_release_gives_the_stock_back(sandbox_url: str, registry: ConnectorRegistry) -> None:
    stock = available(sandbox_url, "SKU-1001")
    variables = order("DE")
    variables.update(call(registry, "wms.reserve", variables))
    assert available(sandbox_url, "SKU-1001") == stock - 2
    before = stats(sandbox_url)
    assert call(registry, "wms.release", {**variables, "releaseReason": "cancelled"}) == {"inventoryStatus": "released"}
    assert available(sandbox_url, "SKU-1001") == stock
    # Releasing again (another job, another key) is harmless: nothing more is given back.
    assert call(registry, "wms.release", variables) == {"inventoryStatus": "released"}
    assert available(sandbox_url, "SKU-1001") == stock
    assert stats(sandbox_url)["releases"] - before["releases"] == 1
    with pytest.raises(BusinessError) as caught:
        call(registry, "wms.ship", variables)
    assert caught.value.code == "RESERVATION_RELEASED"


def test_update_status(registry: ConnectorRegistry) -> None:
    variables = order("DE")
    variables.update(call(registry, "wms.reserve", variables))
    held = call(registry, "wms.update_status", {**variables, "wmsStatus": "on_hold", "wmsStatusReason": "fraud check"})
    assert held["wmsStatus"] == "on_hold"
    assert datetime.fromisoformat(held["wmsStatusUpdatedAt"])
    call(registry, "wms.ship", variables)
    with pytest.raises(BusinessError) as shipped:
        call(registry, "wms.update_status", {**variables, "wmsStatus": "cancelled"})
    assert shipped.value.code == "INVALID_STATUS_TRANSITION"
    with pytest.raises(BusinessError) as unknown:
        call(registry, "wms.update_status", {"orderId": "ORD-NEVER-SEEN", "wmsStatus": "on_hold"})
    assert unknown.value.code == "ORDER_NOT_FOUND"
    with pytest.raises(ConnectorError, match="wmsStatus"):
        call(registry, "wms.update_status", {**variables, "wmsStatus": "teleported"})


# --- idempotency: a repeated job does the work once -------------------------------------------------------------


def _refund(registry: ConnectorRegistry) -> tuple[str, dict[str, Any], str]:
    variables = {"orderId": "ORD-IR", "total": 40, "currency": "EUR"}
    variables.update(call(registry, "payment.authorize", variables))
    variables.update(call(registry, "payment.capture", variables))
    return "payment.refund", variables, "refunds"


def _void(registry: ConnectorRegistry) -> tuple[str, dict[str, Any], str]:
    variables = {"orderId": "ORD-IV", "total": 40, "currency": "EUR"}
    variables.update(call(registry, "payment.authorize", variables))
    return "payment.void", variables, "voids"


def _release(registry: ConnectorRegistry) -> tuple[str, dict[str, Any], str]:
    variables = order("DE")
    variables.update(call(registry, "wms.reserve", variables))
    return "wms.release", variables, "releases"


def _status(registry: ConnectorRegistry) -> tuple[str, dict[str, Any], str]:
    variables = order("DE", wmsStatus="packed")
    variables.update(call(registry, "wms.reserve", variables))
    return "wms.update_status", variables, "statusUpdates"


SIDE_EFFECTS: dict[str, Callable[[ConnectorRegistry], tuple[str, dict[str, Any], str]]] = {
    "refund": _refund,
    "void": _void,
    "release": _release,
    "status": _status,
    "book": lambda registry: ("carrier.book", order("US", carrier="DHL"), "bookings"),
    "quote": lambda registry: ("carrier.quote", order("US"), "quotes"),
    "customs": lambda registry: ("customs.documents", order("US"), "customsDocumentSets"),
    "tax": lambda registry: ("tax.calculate", order("US"), "taxCalculations"),
}


@pytest.mark.parametrize("case", sorted(SIDE_EFFECTS))
def test_a_repeated_job_does_the_work_once(sandbox_url: str, registry: ConnectorRegistry, case: str) -> None:
    topic, variables, counter = SIDE_EFFECTS[case](registry)
    ctx = job(topic)
    before = stats(sandbox_url)
    first = call(registry, topic, variables, ctx)
    again = call(registry, topic, variables, JobContext(**{**ctx.__dict__, "attempt": 2}))
    assert again == first
    made = grew(before, stats(sandbox_url))
    assert made[counter] == 1 and made["idempotentReplays"] == 1, made


# --- verification: discrepancies --------------------------------------------------------------------------------


def test_refund_of_another_amount_is_a_discrepancy(sandbox_url: str, registry: ConnectorRegistry) -> None:
    topic, variables, _ = _refund(registry)
    control(sandbox_url, amountSkew=-1)
    with pytest.raises(Discrepancy) as caught:
        call(registry, topic, {**variables, "refundAmount": 10})
    found = caught.value
    assert (found.code, found.topic, found.mismatches) == ("PAYMENT_DISCREPANCY", "payment.refund", ("amount",))
    assert found.asked["amount"] == 10.0 and found.got["amount"] == 9.0
    assert found.variables["paymentRefundId"].startswith("REF-") and found.variables["refundedAmount"] == 9.0
    json.dumps(found.as_dict())  # goes into a review task's variables as it is


def test_capture_of_another_amount_is_a_discrepancy(sandbox_url: str, registry: ConnectorRegistry) -> None:
    variables = {"orderId": "ORD-CS", "total": 40, "currency": "EUR"}
    variables.update(call(registry, "payment.authorize", variables))
    control(sandbox_url, amountSkew=-0.5)
    with pytest.raises(Discrepancy) as caught:
        call(registry, "payment.capture", variables)
    assert caught.value.code == "PAYMENT_DISCREPANCY" and caught.value.got["amount"] == 39.5
    assert caught.value.variables["paymentCaptureId"].startswith("CAP-")


def test_wrong_reserved_quantity_is_a_discrepancy_and_so_is_its_release(
    sandbox_url: str, registry: ConnectorRegistry
) -> None:
    control(sandbox_url, quantitySkew=1)
    variables = order("DE")
    with pytest.raises(Discrepancy) as caught:
        call(registry, "wms.reserve", variables)
    assert caught.value.code == "RESERVATION_DISCREPANCY"
    assert caught.value.asked == {"items": {"SKU-1001": 2, "SKU-1004": 2}}
    assert caught.value.got == {"items": {"SKU-1001": 3, "SKU-1004": 2}}
    # A reviewer accepting the reservation takes the variables as they are, and releasing it later
    # shows the same difference: the warehouse gives back 3, the order knows of 2.
    variables.update(caught.value.variables)
    with pytest.raises(Discrepancy) as released:
        call(registry, "wms.release", variables)
    assert released.value.code == "RELEASE_DISCREPANCY" and released.value.mismatches == ("items",)


def test_inconsistent_tax_figures_are_a_discrepancy(sandbox_url: str, registry: ConnectorRegistry) -> None:
    control(sandbox_url, amountSkew=0.05)
    with pytest.raises(Discrepancy) as caught:
        call(registry, "tax.calculate", order("DE"))
    assert caught.value.code == "TAX_DISCREPANCY"
    assert caught.value.mismatches == ("taxAmount",)  # 50.00 * 13 % is 6.50, not 6.55
    assert (caught.value.asked["taxAmount"], caught.value.got["taxAmount"]) == (6.5, 6.55)
    assert caught.value.variables["taxAmount"] == 6.55 and caught.value.variables["totalWithTax"] == 56.55


def test_booking_with_another_carrier_is_a_discrepancy(sandbox_url: str, registry: ConnectorRegistry) -> None:
    control(sandbox_url, carrierSwap=True)
    with pytest.raises(Discrepancy) as caught:
        call(registry, "carrier.book", order("FR", carrier="DHL"))
    assert caught.value.code == "CARRIER_DISCREPANCY" and caught.value.mismatches == ("carrier",)
    assert caught.value.asked["carrier"] == "DHL" and caught.value.got["carrier"] != "DHL"
    assert caught.value.variables["carrier"] == caught.value.got["carrier"]
    assert caught.value.variables["trackingNumber"]  # the label exists; the reviewer decides whether to keep it


def test_wrong_customs_declaration_is_a_discrepancy(sandbox_url: str, registry: ConnectorRegistry) -> None:
    control(sandbox_url, quantitySkew=-1, amountSkew=10)
    with pytest.raises(Discrepancy) as caught:
        call(registry, "customs.documents", order("US"))
    assert caught.value.code == "CUSTOMS_DISCREPANCY"
    assert caught.value.mismatches == ("items", "declaredValue")
    assert caught.value.variables["customsDeclarationId"]


# --- circuit breaker --------------------------------------------------------------------------------------------


def test_circuit_opens_after_five_failures_and_then_fails_fast_without_a_call(
    sandbox_url: str, registry: ConnectorRegistry
) -> None:
    open_circuit(registry, sandbox_url)
    before = stats(sandbox_url)
    with pytest.raises(CircuitOpenError, match="circuit open for payment") as caught:
        call(registry, "payment.authorize", {"orderId": "ORD-FAST", "total": 10})
    assert isinstance(caught.value, TransientError)  # the job layer retries it like any outage
    assert caught.value.retry_after == DEFAULT_COOLDOWN
    assert stats(sandbox_url) == before  # not a single request reached the sandbox
    assert registry.clients["payment"].circuit.state() == "open"
    # One circuit per system: the warehouse is still called.
    assert call(registry, "wms.reserve", order("DE"))["inventoryStatus"] == "reserved"
    assert registry.clients["wms"].circuit.state() == "closed"


def test_circuit_half_opens_after_the_cooldown_and_a_good_trial_closes_it(
    sandbox_url: str, registry: ConnectorRegistry, clock: FakeClock
) -> None:
    open_circuit(registry, sandbox_url)
    circuit = registry.clients["payment"].circuit
    clock.advance(DEFAULT_COOLDOWN - 0.5)
    with pytest.raises(CircuitOpenError) as still_open:
        call(registry, "payment.authorize", {"orderId": "ORD-T", "total": 10})
    assert still_open.value.retry_after == 0.5
    clock.advance(0.5)
    assert circuit.state() == "half-open"
    control(sandbox_url, outageSystems=[])
    assert call(registry, "payment.authorize", {"orderId": "ORD-T", "total": 10})["paymentStatus"] == "authorized"
    assert circuit.state() == "closed"


def test_a_failed_trial_opens_the_circuit_for_another_cooldown(
    sandbox_url: str, registry: ConnectorRegistry, clock: FakeClock
) -> None:
    open_circuit(registry, sandbox_url)
    clock.advance(DEFAULT_COOLDOWN)
    before = stats(sandbox_url)
    with pytest.raises(TransientError) as trial:
        call(registry, "payment.authorize", {"orderId": "ORD-T", "total": 10})
    assert not isinstance(trial.value, CircuitOpenError)  # the trial did reach the system
    assert stats(sandbox_url)["requests"] == before["requests"] + 1
    assert registry.clients["payment"].circuit.state() == "open"
    clock.advance(DEFAULT_COOLDOWN - 1)
    with pytest.raises(CircuitOpenError):
        call(registry, "payment.authorize", {"orderId": "ORD-T", "total": 10})
    clock.advance(1)
    assert registry.clients["payment"].circuit.state() == "half-open"


def test_a_business_answer_proves_the_system_is_up(sandbox_url: str, registry: ConnectorRegistry) -> None:
    circuit = registry.clients["payment"].circuit
    open_circuit(registry, sandbox_url, failures=4)
    control(sandbox_url, outageSystems=[])
    with pytest.raises(BusinessError):
        call(registry, "payment.authorize", {"orderId": "ORD-D", "total": 666.66})  # declined: an answer
    open_circuit(registry, sandbox_url, failures=4)  # four more in a row: still short of five
    assert circuit.state() == "closed"


def test_only_one_trial_call_at_a_time(clock: FakeClock) -> None:
    store = MemoryCircuitStore()
    for _ in range(5):
        store.failed("payment|x", clock(), 5, trial=False)
    clock.advance(DEFAULT_COOLDOWN)
    admissions = []
    threads = [
        threading.Thread(target=lambda: admissions.append(store.acquire("payment|x", clock(), DEFAULT_COOLDOWN)))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(a.allowed for a in admissions) == 1
    assert [a.trial for a in admissions if a.allowed] == [True]


def test_circuit_settings_per_system(sandbox_url: str, clock: FakeClock) -> None:
    settings = {
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        "ORDERFLOW_PAYMENT_CIRCUIT_THRESHOLD": "2",
        "ORDERFLOW_PAYMENT_CIRCUIT_COOLDOWN": "5",
    }
    registry = build_registry(settings, clock=clock)
    open_circuit(registry, sandbox_url, failures=2)
    assert registry.clients["payment"].circuit.state() == "open"
    clock.advance(5)
    assert registry.clients["payment"].circuit.state() == "half-open"
    assert (registry.clients["wms"].circuit.threshold, registry.clients["wms"].circuit.cooldown) == (5, 30.0)
    for bad in ({"ORDERFLOW_TAX_CIRCUIT_THRESHOLD": "0"}, {"ORDERFLOW_CIRCUIT_COOLDOWN": "soon"}):
        with pytest.raises(ConfigurationError):
            build_registry(bad)


# --- circuit state shared through Redis -------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the test Redis, removed afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL} (set ORDERFLOW_TEST_REDIS_URL): {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"orderflow-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


CHILD = """
import sys
from connectors import JobContext, TransientError, build_registry

sandbox, redis_url, prefix = sys.argv[1:]
settings = {"ORDERFLOW_SANDBOX_URL": sandbox, "ORDERFLOW_CIRCUIT_REDIS_URL": redis_url,
            "ORDERFLOW_CIRCUIT_REDIS_PREFIX": prefix}
registry = build_registry(settings)
authorize = registry.get("payment.authorize")
for n in range(5):
    try:
        authorize({"orderId": "ORD-CHILD", "total": 10}, JobContext(str(n), f"child-{n}", 1, "i", None, "T", "a"))
    except TransientError as exc:
        print(type(exc).__name__, exc.status)
print(registry.clients["payment"].circuit.state())
"""


def test_circuit_state_is_shared_between_processes_through_redis(sandbox_url: str, redis_prefix: str) -> None:
    control(sandbox_url, outageSystems=["payment"])
    child = subprocess.run(
        [sys.executable, "-c", CHILD, sandbox_url, REDIS_URL, redis_prefix],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split("\n")[:6] == ["TransientError 503"] * 5 + ["open"], child.stdout

    # This process never saw a failure, yet refuses the call without touching the network.
    settings = {
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        "ORDERFLOW_CIRCUIT_REDIS_URL": REDIS_URL,
        "ORDERFLOW_CIRCUIT_REDIS_PREFIX": redis_prefix,
    }
    registry = build_registry(settings)
    assert isinstance(registry.clients["payment"].circuit.store, RedisCircuitStore)
    before = stats(sandbox_url)
    with pytest.raises(CircuitOpenError):
        call(registry, "payment.authorize", {"orderId": "ORD-PARENT", "total": 10})
    assert stats(sandbox_url) == before
    assert health.report(settings)["payment"]["circuit"] == "open"
    assert health.report(settings)["wms"]["circuit"] == "closed"


def test_redis_circuit_half_opens_for_one_trial_across_processes(
    sandbox_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    settings = {
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        "ORDERFLOW_BROKER_URL": REDIS_URL,  # a Redis broker is used when no circuit Redis is named
        "ORDERFLOW_CIRCUIT_REDIS_PREFIX": redis_prefix,
    }
    first, second = build_registry(settings, clock=clock), build_registry(settings, clock=clock)
    open_circuit(first, sandbox_url)
    assert second.clients["payment"].circuit.state() == "open"
    clock.advance(DEFAULT_COOLDOWN)
    assert second.clients["payment"].circuit.state() == "half-open"

    # One trial for all: the first caller gets it, everyone else keeps failing fast until it reports.
    trial = first.clients["payment"].circuit.acquire()
    assert trial.trial
    with pytest.raises(CircuitOpenError):
        call(second, "payment.authorize", {"orderId": "ORD-2", "total": 10})
    first.clients["payment"].circuit.succeeded(trial)
    control(sandbox_url, outageSystems=[])
    assert call(second, "payment.authorize", {"orderId": "ORD-2", "total": 10})["paymentStatus"] == "authorized"
    assert first.clients["payment"].circuit.state() == "closed"


def test_unreachable_redis_falls_back_to_this_process(sandbox_url: str, clock: FakeClock) -> None:
    # Port 1 on loopback refuses at once: the breaker must keep working (per process) without Redis.
    settings = {"ORDERFLOW_SANDBOX_URL": sandbox_url, "ORDERFLOW_CIRCUIT_REDIS_URL": "redis://127.0.0.1:1/0"}
    registry = build_registry(settings, clock=clock)
    open_circuit(registry, sandbox_url)
    with pytest.raises(CircuitOpenError):
        call(registry, "payment.authorize", {"orderId": "ORD-X", "total": 10})
    assert health.report(registry)["payment"]["circuit"] == "open"


def test_circuit_store_choice() -> None:
    def store(settings: dict[str, str]) -> type:
        return type(build_registry(settings).clients["payment"].circuit.store)

    assert store({}) is MemoryCircuitStore
    assert store({"ORDERFLOW_BROKER_URL": "amqp://guest@localhost//"}) is MemoryCircuitStore
    assert store({"ORDERFLOW_BROKER_URL": "redis://127.0.0.1:6379/0"}) is RedisCircuitStore
    with pytest.raises(ConfigurationError):
        build_registry({"ORDERFLOW_CIRCUIT_REDIS_URL": "127.0.0.1:6379"})


# --- health report ----------------------------------------------------------------------------------------------


def test_health_report(sandbox_url: str, registry: ConnectorRegistry, clock: FakeClock) -> None:
    fresh = health.report(registry)
    assert sorted(fresh) == ["carrier", "customs", "notify", "payment", "tax", "wms"]
    assert fresh["tax"] == {
        "circuit": "closed",
        "lastSuccessAt": None,
        "lastFailureAt": None,
        "errorRate": 0.0,
        "calls": 0,
        "refused": 0,
        "url": f"{sandbox_url}/tax",
    }

    call(registry, "payment.authorize", {"orderId": "ORD-H", "total": 10})
    with pytest.raises(BusinessError):  # an answer, not an error of the system
        call(registry, "payment.authorize", {"orderId": "ORD-H", "total": 666.66})
    clock.advance(60)
    open_circuit(registry, sandbox_url)
    with pytest.raises(CircuitOpenError):
        call(registry, "payment.authorize", {"orderId": "ORD-H", "total": 10})

    before = stats(sandbox_url)
    payment = health.report(registry)["payment"]
    assert stats(sandbox_url) == before  # reporting calls nobody
    assert payment["circuit"] == "open"
    assert datetime.fromisoformat(payment["lastSuccessAt"]).timestamp() == clock() - 60
    assert datetime.fromisoformat(payment["lastFailureAt"]).timestamp() == clock()
    assert (payment["calls"], payment["errorRate"], payment["refused"]) == (7, round(5 / 7, 4), 1)
    assert payment["url"] == f"{sandbox_url}/payment"


def test_health_report_window_is_a_setting(sandbox_url: str) -> None:
    registry = build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url, "ORDERFLOW_CONNECTOR_HEALTH_WINDOW": "2"})
    control(sandbox_url, outageSystems=["tax"])
    for _ in range(3):
        with pytest.raises(TransientError):
            call(registry, "tax.calculate", order("DE"))
    control(sandbox_url, outageSystems=[])
    call(registry, "tax.calculate", order("DE"))
    assert health.report(registry)["tax"]["errorRate"] == 0.5  # only the last two calls count


# --- retry policy -----------------------------------------------------------------------------------------------


def test_default_retry_policies(registry: ConnectorRegistry) -> None:
    assert retry_policy("payment.authorize") == (5, 2.0, 60.0)
    assert retry_policy("carrier.book").max_attempts == 4
    assert {retry_policy(t).max_attempts for t in ("wms.reserve", "customs.documents", "tax.calculate")} == {3}
    assert retry_policy("crm.update") == (3, 1.0, 300.0)  # not a connector: the engine's usual default
    for topic in registry.topics():
        attempts, base, cap = retry_policy(topic)
        delays = [min(base * 2**n, cap) for n in range(attempts - 1)]
        # The last attempt comes after a circuit opened by the first failures has let a trial through.
        assert sum(delays) >= DEFAULT_COOLDOWN, topic
