"""Connectors against the sandbox running as a real subprocess over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connectors import (
    BusinessError,
    ConfigurationError,
    ConnectorError,
    ConnectorRegistry,
    Discrepancy,
    JobContext,
    TransientError,
    build_registry,
)
from tests.support.connectors import call, control, job, stats


@pytest.fixture(autouse=True)
def clean_controls(sandbox_url: str) -> Iterator[None]:
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()


@pytest.fixture
def registry(sandbox_url: str) -> ConnectorRegistry:
    return build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url})


ORDER = {"orderId": "ORD-1", "total": 129.9, "currency": "EUR", "customer": {"id": "C-7", "tier": "gold"}}


def test_registry_has_the_built_in_topics_and_nothing_else(registry: ConnectorRegistry) -> None:
    assert registry.topics() == [
        "carrier.book",
        "carrier.performance",
        "carrier.quote",
        "carrier.track",
        "customs.documents",
        "notify.customer",
        "payment.authorize",
        "payment.capture",
        "payment.refund",
        "payment.void",
        "tax.calculate",
        "wms.availability",
        "wms.backorder",
        "wms.release",
        "wms.reserve",
        "wms.ship",
        "wms.update_status",
    ]
    assert "payment.authorize" in registry
    assert "payment.chargeback" not in registry
    assert registry.get("payment.chargeback") is None


def test_authorize_then_capture(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    authorized = call(registry, "payment.authorize", ORDER)
    assert authorized["paymentStatus"] == "authorized"
    assert authorized["paymentAuthorizationId"].startswith("AUTH-")
    remote = requests.get(
        f"{sandbox_url}/payment/authorizations/{authorized['paymentAuthorizationId']}", timeout=5
    ).json()
    assert (remote["orderId"], remote["amount"], remote["currency"], remote["customerId"]) == (
        "ORD-1",
        129.9,
        "EUR",
        "C-7",
    )

    captured = call(registry, "payment.capture", {**ORDER, **authorized})
    assert captured["paymentStatus"] == "captured"
    assert captured["paymentCaptureId"].startswith("CAP-")
    after = stats(sandbox_url)
    assert after["authorizations"] - before["authorizations"] == 1
    assert after["captures"] - before["captures"] == 1


def test_order_id_falls_back_to_business_key(sandbox_url: str, registry: ConnectorRegistry) -> None:
    ctx = job("payment.authorize", business_key="ORD-FROM-KEY")
    result = call(registry, "payment.authorize", {"total": 10}, ctx)
    remote = requests.get(f"{sandbox_url}/payment/authorizations/{result['paymentAuthorizationId']}", timeout=5).json()
    assert remote["orderId"] == "ORD-FROM-KEY"
    assert remote["currency"] == "EUR"


def test_reserve_then_ship(sandbox_url: str, registry: ConnectorRegistry) -> None:
    def available(sku: str) -> int:
        table = requests.get(f"{sandbox_url}/wms/stock", timeout=5).json()["items"]
        return next(row["available"] for row in table if row["sku"] == sku)

    stock_before = available("SKU-1001")
    variables = {
        "orderId": "ORD-2",
        "items": [
            {"sku": "SKU-1001", "quantity": 2, "unitPrice": 9.5},
            {"sku": "SKU-1004", "quantity": 1, "unitPrice": 12.0},
        ],
        "shippingAddress": {"name": "Ada", "street": "Main St 1", "city": "Berlin", "country": "DE"},
    }
    reserved = call(registry, "wms.reserve", variables)
    assert reserved["inventoryStatus"] == "reserved"
    assert reserved["reservationId"].startswith("RES-")
    assert available("SKU-1001") == stock_before - 2

    shipped = call(registry, "wms.ship", {**variables, **reserved})
    assert shipped["shipmentStatus"] == "shipped"
    assert shipped["shipmentId"].startswith("SHP-")
    assert shipped["trackingNumber"]


def test_decline_is_a_business_error(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    with pytest.raises(BusinessError) as forced:
        call(registry, "payment.authorize", {**ORDER, "total": 666.66})
    assert forced.value.code == "PAYMENT_DECLINED"
    assert forced.value.status == 402

    control(sandbox_url, declineRate=1)
    with pytest.raises(BusinessError) as random_decline:
        call(registry, "payment.authorize", ORDER)
    assert random_decline.value.code == "PAYMENT_DECLINED"
    assert stats(sandbox_url)["authorizations"] == before["authorizations"]


def test_out_of_stock_is_a_business_error_and_reserves_nothing(sandbox_url: str, registry: ConnectorRegistry) -> None:
    items = [
        {"sku": "SKU-1002", "quantity": 1, "unitPrice": 5},
        {"sku": "SKU-OUT", "quantity": 1, "unitPrice": 1},
    ]
    before = stats(sandbox_url)
    with pytest.raises(BusinessError) as caught:
        call(registry, "wms.reserve", {"orderId": "ORD-3", "items": items})
    assert caught.value.code == "OUT_OF_STOCK"
    assert caught.value.details["sku"] == "SKU-OUT"
    assert stats(sandbox_url)["reservations"] == before["reservations"]


def test_same_idempotency_key_charges_once(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    first_try = job("payment.authorize")
    retry = JobContext(**{**first_try.__dict__, "attempt": 2})
    first = call(registry, "payment.authorize", ORDER, first_try)
    second = call(registry, "payment.authorize", ORDER, retry)
    assert second == first
    after = stats(sandbox_url)
    assert after["authorizations"] - before["authorizations"] == 1
    assert after["idempotentReplays"] - before["idempotentReplays"] == 1

    with pytest.raises(BusinessError) as reused:
        call(registry, "payment.authorize", {**ORDER, "total": 1}, first_try)
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_concurrent_retries_with_one_key_charge_once(sandbox_url: str, registry: ConnectorRegistry) -> None:
    # At-least-once delivery can run the same job on two workers at once; the shared client is used
    # from many threads and the sandbox must still authorize exactly once.
    before = stats(sandbox_url)
    ctx = job("payment.authorize")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: call(registry, "payment.authorize", ORDER, ctx), range(16)))
    assert len({r["paymentAuthorizationId"] for r in results}) == 1
    assert stats(sandbox_url)["authorizations"] - before["authorizations"] == 1


def test_server_errors_are_transient(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    control(sandbox_url, errorRate=1)
    with pytest.raises(TransientError) as caught:
        call(registry, "payment.authorize", ORDER)
    assert caught.value.status == 503
    assert caught.value.retry_after == 1
    # The request reached the sandbox and nothing else happened there.
    after = stats(sandbox_url)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"requests": 1, "paymentRequests": 1}


def test_outage_is_transient_for_every_system(sandbox_url: str, registry: ConnectorRegistry) -> None:
    control(sandbox_url, outage=True)
    with pytest.raises(TransientError):
        call(registry, "payment.authorize", ORDER)
    with pytest.raises(TransientError):
        call(registry, "wms.reserve", {"orderId": "ORD-4", "items": [{"sku": "SKU-1003", "quantity": 1}]})
    control(sandbox_url, outage=False)
    assert call(registry, "payment.authorize", ORDER)["paymentStatus"] == "authorized"


def test_timeout_is_transient_and_the_retry_does_not_charge_twice(sandbox_url: str) -> None:
    registry = build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url, "ORDERFLOW_CONNECTOR_TIMEOUT": "0.3"})
    before = stats(sandbox_url)
    control(sandbox_url, latencyMs=1500)
    ctx = job("payment.authorize")
    with pytest.raises(TransientError, match="timed out"):  # after 0.3 s, not the sandbox's 1.5 s
        call(registry, "payment.authorize", ORDER, ctx)

    # The sandbox did the work before its delay, like a gateway whose answer got lost: the retry
    # with the same key must get that first authorization back instead of a second one.
    control(sandbox_url, latencyMs=0)
    assert call(registry, "payment.authorize", ORDER, ctx)["paymentStatus"] == "authorized"
    after = stats(sandbox_url)
    assert after["authorizations"] - before["authorizations"] == 1
    assert after["idempotentReplays"] - before["idempotentReplays"] == 1


def test_connection_refused_is_transient() -> None:
    # A socket that is bound but not listening refuses connections, and no other process can take its port.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        registry = build_registry({"ORDERFLOW_PAYMENT_URL": f"http://127.0.0.1:{port}"})
        with pytest.raises(TransientError, match="connection failed"):
            call(registry, "payment.authorize", ORDER)


def test_amount_skew_is_a_discrepancy_not_a_business_error(sandbox_url: str, registry: ConnectorRegistry) -> None:
    control(sandbox_url, amountSkew=5)
    with pytest.raises(Discrepancy) as caught:
        call(registry, "payment.authorize", {**ORDER, "total": 100})
    assert not isinstance(caught.value, BusinessError | TransientError)
    assert caught.value.code == "PAYMENT_DISCREPANCY"
    assert caught.value.asked == {"amount": 100.0, "currency": "EUR"}
    assert caught.value.got == {"amount": 105.0, "currency": "EUR"}
    assert "asked 100.0, got 105.0" in caught.value.message
    assert caught.value.variables["paymentAuthorizationId"].startswith("AUTH-")


def test_bad_variables_fail_before_any_call(sandbox_url: str, registry: ConnectorRegistry) -> None:
    before = stats(sandbox_url)
    for variables in (
        {"orderId": "ORD-5"},
        {"orderId": "ORD-5", "total": -3},
        {"orderId": "ORD-5", "total": True},
    ):
        with pytest.raises(ConnectorError) as caught:
            call(registry, "payment.authorize", variables)
        assert type(caught.value) is ConnectorError
    with pytest.raises(ConnectorError):
        call(registry, "wms.reserve", {"orderId": "ORD-5", "items": [{"sku": "SKU-1001", "quantity": 0.5}]})
    assert stats(sandbox_url) == before


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        build_registry({"ORDERFLOW_CONNECTOR_TIMEOUT": "soon"})
    with pytest.raises(ConfigurationError):
        build_registry({"ORDERFLOW_PAYMENT_URL": "payment.internal:8443"})
    registry = build_registry({})
    with pytest.raises(ConfigurationError):
        registry.register("payment.authorize", lambda variables, ctx: {})


def test_sandbox_rejects_invalid_controls(sandbox_url: str) -> None:
    response = requests.post(f"{sandbox_url}/_control", json={"errorRate": 2}, timeout=5)
    assert response.status_code == 400
    assert requests.get(f"{sandbox_url}/_control", timeout=5).json()["errorRate"] == 0


def test_connectors_package_does_not_import_flask() -> None:
    code = "import sys, connectors; sys.exit('flask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
