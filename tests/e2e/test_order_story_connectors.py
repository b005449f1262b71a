"""The connectors the order story adds, against the sandbox over real HTTP: stock availability and backorders at
the warehouse, customer messages, the carrier's tracking number carried into the warehouse shipment, and live
carrier performance built from what bookings and tracking showed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from connectors import BusinessError, ConnectorRegistry, build_registry
from tests.support.connectors import call, control, stats

LINES = [
    {"sku": "SKU-1001", "quantity": 2, "unitPrice": 12.5},
    {"sku": "SKU-OUT", "quantity": 1, "unitPrice": 199.0},
]


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox_url: str) -> Iterator[None]:
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    set_stock(sandbox_url, {"SKU-OUT": 0, "SKU-1020": 10_000_000})


@pytest.fixture
def registry(sandbox_url: str) -> ConnectorRegistry:
    return build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url})


def set_stock(sandbox_url: str, levels: dict[str, int]) -> None:
    requests.post(f"{sandbox_url}/_control/stock", json=levels, timeout=5).raise_for_status()


def order_id() -> str:
    return f"ORD-{uuid.uuid4().hex[:8]}"


def test_availability_splits_lines_into_in_stock_and_backorder(registry: ConnectorRegistry, sandbox_url: str) -> None:
    before = stats(sandbox_url)["availabilityChecks"]
    partial = call(registry, "wms.availability", {"orderId": order_id(), "items": LINES})
    assert partial["stockStatus"] == "partial"
    assert partial["inStockItems"] == [LINES[0]] and partial["backorderItems"] == [LINES[1]]  # lines as ordered
    assert partial["stockLevels"][1] == {"sku": "SKU-OUT", "requested": 1, "available": 0}

    only_out = call(registry, "wms.availability", {"orderId": order_id(), "items": [LINES[1]]})
    assert only_out["stockStatus"] == "out_of_stock" and only_out["inStockItems"] == []

    set_stock(sandbox_url, {"SKU-OUT": 3})  # a delivery arrived
    restocked = call(registry, "wms.availability", {"orderId": order_id(), "items": LINES})
    assert restocked["stockStatus"] == "in_stock" and restocked["backorderItems"] == []
    assert stats(sandbox_url)["availabilityChecks"] == before + 3


def test_two_lines_of_one_sku_share_what_is_on_hand(registry: ConnectorRegistry, sandbox_url: str) -> None:
    set_stock(sandbox_url, {"SKU-1020": 3})
    lines = [{"sku": "SKU-1020", "quantity": 2}, {"sku": "SKU-1020", "quantity": 2}]
    answer = call(registry, "wms.availability", {"orderId": order_id(), "items": lines})
    assert answer["stockStatus"] == "partial" and answer["backorderItems"] == [lines[1]]


def test_stock_control_refuses_nonsense(sandbox_url: str) -> None:
    assert requests.post(f"{sandbox_url}/_control/stock", json={"SKU-NOPE": 1}, timeout=5).status_code == 400
    assert requests.post(f"{sandbox_url}/_control/stock", json={"SKU-OUT": -1}, timeout=5).status_code == 400


def test_a_backorder_is_recorded_at_the_warehouse(registry: ConnectorRegistry, sandbox_url: str) -> None:
    before = stats(sandbox_url)["backorders"]
    placed = call(registry, "wms.backorder", {"orderId": order_id(), "backorderItems": [LINES[1]]})
    assert placed["backorderId"].startswith("BO-")
    assert stats(sandbox_url)["backorders"] == before + 1


def test_customer_messages_are_sent_by_template_and_listed_per_order(
    registry: ConnectorRegistry, sandbox_url: str
) -> None:
    order = order_id()
    variables = {
        "orderId": order,
        "customer": {"id": "C-42", "email": "ada@example.com"},
        "notificationTemplate": "payment_declined",
        "notificationData": {"reason": "insufficient funds"},
    }
    sent = call(registry, "notify.customer", variables)
    assert sent["notificationId"].startswith("MSG-")
    listed = requests.get(f"{sandbox_url}/notify/messages", params={"orderId": order}, timeout=5).json()["items"]
    assert [(m["template"], m["to"], m["data"]) for m in listed] == [
        ("payment_declined", "ada@example.com", {"reason": "insufficient funds"})
    ]
    with pytest.raises(BusinessError) as unknown:
        call(registry, "notify.customer", {**variables, "notificationTemplate": "birthday"})
    assert unknown.value.code == "UNKNOWN_TEMPLATE"


def test_the_warehouse_ships_with_the_carriers_tracking_number(registry: ConnectorRegistry) -> None:
    order = order_id()
    address = {"street": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}
    variables = {"orderId": order, "items": [LINES[0]], "shippingAddress": address}
    reserved = call(registry, "wms.reserve", variables)
    booked = call(registry, "carrier.book", {**variables, "carrier": "DPD"})
    shipped = call(registry, "wms.ship", {**variables, **reserved, **booked})
    assert shipped["trackingNumber"] == booked["trackingNumber"]


def test_carrier_performance_counts_refused_bookings_and_on_time_deliveries(
    registry: ConnectorRegistry, sandbox_url: str
) -> None:
    assert call(registry, "carrier.performance", {})["carrierStats"]["DHL"] == {
        "recentFailures": 0,
        "bookings": 0,
        "onTimeRate": None,
    }
    address = {"street": "1 Main St", "city": "Paris", "postalCode": "75001", "country": "FR"}
    variables = {"orderId": order_id(), "items": [LINES[0]], "shippingAddress": address}
    control(sandbox_url, unavailableCarriers=["DHL"])
    with pytest.raises(BusinessError):
        call(registry, "carrier.book", {**variables, "carrier": "DHL"})
    control(sandbox_url, unavailableCarriers=[])
    booked = call(registry, "carrier.book", {**variables, "carrier": "UPS"})
    with pytest.raises(BusinessError):  # a route nobody serves is not the carrier's failure
        call(registry, "carrier.book", {**variables, "carrier": "DPD", "shippingAddress": {**address, "country": "US"}})

    number = booked["trackingNumber"]
    requests.post(f"{sandbox_url}/_control/tracking/{number}", json={"status": "delivered"}, timeout=5)
    for _ in range(2):  # tracked twice, counted once
        assert call(registry, "carrier.track", {"trackingNumber": number, "carrier": "UPS"})["trackingStatus"] == (
            "delivered"
        )
    figures = call(registry, "carrier.performance", {})["carrierStats"]
    assert figures["DHL"] == {"recentFailures": 1, "bookings": 1, "onTimeRate": None}
    assert figures["UPS"] == {"recentFailures": 0, "bookings": 1, "onTimeRate": 1.0}
    assert figures["DPD"]["recentFailures"] == 0
