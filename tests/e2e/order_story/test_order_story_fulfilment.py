"""The shipped order story from stock and payment on, end to end over REST against a real server and the sandbox
systems: backorders and split shipments by live stock levels, declined payments with new details or a timeout,
exhausted retries handed to operations, dangerous goods, carrier rerouting, and cancellation with compensation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.order_story import (
    completed,
    control,
    decisions,
    events,
    finished,
    inbox,
    sent,
    start,
    stats,
    view,
    wait_for,
    waiting_at,
    work,
)
from tests.support.rest import assert_problem
from tests.support.server import Server


@pytest.fixture(autouse=True)
def stock_as_shipped(sandbox_url: str) -> Iterator[None]:
    set_stock(sandbox_url, SKU_OUT=0, SKU_1020=10_000_000)  # as the sandbox documents it, whatever ran before
    yield
    set_stock(sandbox_url, SKU_OUT=0, SKU_1020=10_000_000)


def set_stock(sandbox_url: str, **levels: int) -> None:
    body = {sku.replace("_", "-"): quantity for sku, quantity in levels.items()}
    requests.post(f"{sandbox_url}/_control/stock", json=body, timeout=5).raise_for_status()


def on_hand(sandbox_url: str, sku: str) -> int:
    items = requests.get(f"{sandbox_url}/wms/stock", timeout=5).json()["items"]
    return next(i["available"] for i in items if i["sku"] == sku)


def authorization(sandbox_url: str, authorization_id: str) -> dict:
    return requests.get(f"{sandbox_url}/payment/authorizations/{authorization_id}", timeout=5).json()


def job_data(server: Server, instance_id: str, element: str) -> dict:
    """What an element set when it completed (its last completion)."""
    found = [e for e in events(server, instance_id) if e["type"] == "element_completed" and e["elementId"] == element]
    assert found, f"{element} never completed"
    return found[-1]["data"] or {}


# -- stock ----------------------------------------------------------------------------------------------------


def test_an_order_waits_on_backorder_until_stock_arrives(server: Server, sandbox_url: str) -> None:
    items = [{"sku": "SKU-OUT", "quantity": 2, "unitPrice": 89.0}]
    instance_id, business_key = start(server, items=items)
    waiting = waiting_at(server, instance_id, "Event_WaitForStock")
    assert waiting["variables"]["stockStatus"] == "out_of_stock"
    assert sent(sandbox_url, business_key) == ["backordered"]
    wait_for(server, instance_id, lambda _: completed(server, instance_id).count("Task_RecheckStock") >= 2)

    set_stock(sandbox_url, SKU_OUT=5)  # the delivery arrives
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    assert on_hand(sandbox_url, "SKU-OUT") == 3  # two of the five reserved and shipped
    passed = completed(server, instance_id)
    assert passed.index("Task_NotifyBackorder") < passed.index("Task_ReserveInventory")
    assert passed.count("Task_NotifyBackorder") == 1  # the customer is told once, however long it waits
    assert sent(sandbox_url, business_key) == ["backordered", "order_shipped"]


def test_a_partial_stock_splits_the_shipment_and_backorders_the_rest(server: Server, sandbox_url: str) -> None:
    before = stats(sandbox_url)
    items = [
        {"sku": "SKU-1001", "quantity": 2, "unitPrice": 30.0},
        {"sku": "SKU-OUT", "quantity": 1, "unitPrice": 60.0},
    ]
    instance_id, business_key = start(server, items=items)
    done = finished(server, instance_id)
    variables = done["variables"]
    assert variables["stockStatus"] == "partial" and variables["backorderId"].startswith("BO-")
    assert variables["shipItems"] == [items[0]] and variables["backorderItems"] == [items[1]]
    reserved = job_data(server, instance_id, "Task_ReserveInventory")
    assert reserved["inventoryStatus"] == "reserved"
    captured = job_data(server, instance_id, "Task_CapturePayment")
    assert captured["paymentStatus"] == "captured"
    assert variables["amountDue"] == 120.0 and round(variables["amountDue"] * variables["shipShare"], 2) == 60.0
    after = stats(sandbox_url)
    assert after["backorders"] == before["backorders"] + 1
    assert sent(sandbox_url, business_key) == ["backordered", "order_shipped"]


def test_without_partial_delivery_the_order_waits_for_everything(server: Server, sandbox_url: str) -> None:
    items = [
        {"sku": "SKU-1001", "quantity": 1, "unitPrice": 30.0},
        {"sku": "SKU-OUT", "quantity": 1, "unitPrice": 60.0},
    ]
    customer = {"id": "C-WHOLE", "accountType": "regular", "acceptsPartialDelivery": False}
    instance_id, _ = start(server, items=items, customer=customer)
    waiting = waiting_at(server, instance_id, "Event_WaitForStock")
    assert waiting["variables"]["stockStatus"] == "partial" and waiting["variables"]["splitAllowed"] is False
    assert "Task_SplitShipment" not in completed(server, instance_id)
    assert server.post(f"/process-instances/{instance_id}/cancel").status_code == 200


# -- payment --------------------------------------------------------------------------------------------------


def test_a_declined_payment_waits_for_new_details_then_goes_on(server: Server, sandbox_url: str) -> None:
    control(sandbox_url, declineRate=1)
    instance_id, business_key = start(server)
    waiting = waiting_at(server, instance_id, "Task_AwaitPaymentDetails")
    assert [e["message"] for e in waiting["activeElements"] if e.get("message")] == ["payment-details-updated"]
    assert sent(sandbox_url, business_key) == ["payment_declined"]

    control(sandbox_url, declineRate=0)  # the new card works
    answer = server.post("/messages", json={"name": "payment-details-updated", "businessKey": business_key,
                                            "variables": {"paymentMethod": "card ending 4242"}})  # fmt: skip
    assert answer.status_code == 200, answer.text
    done = finished(server, instance_id)
    assert done["variables"]["paymentStatus"] == "captured" and done["variables"]["paymentMethod"] == "card ending 4242"
    trail = [(e["type"], e["elementId"]) for e in events(server, instance_id)]
    declined = trail.index(("bpmn_error", "Task_AuthorizePayment"))
    assert trail.index(("message_received", "Task_AwaitPaymentDetails")) > declined
    assert completed(server, instance_id).count("Task_AuthorizePayment") == 1  # the second attempt
    assert sent(sandbox_url, business_key) == ["payment_declined", "order_shipped"]


def test_a_declined_payment_without_new_details_cancels_and_releases_the_stock(
    server: Server, sandbox_url: str
) -> None:
    set_stock(sandbox_url, SKU_1020=50)
    control(sandbox_url, declineRate=1)
    items = [{"sku": "SKU-1020", "quantity": 4, "unitPrice": 19.0}]
    instance_id, business_key = start(server, items=items, paymentUpdateTimeout="PT1S")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "noPayment"
    assert on_hand(sandbox_url, "SKU-1020") == 50  # reserved, then given back by compensation
    passed = completed(server, instance_id)
    assert passed.index("Task_ReserveInventory") < passed.index("Event_UndoAfterTimeout")
    assert "EndEvent_NoPaymentCancelled" in passed and "Task_ShipOrder" not in passed
    undone = [e["data"] for e in events(server, instance_id) if e["type"] == "compensation_completed"]
    assert [(d["activity"], d["handler"]) for d in undone] == [("Task_ReserveInventory", "Task_ReleaseStock")]
    assert undone[0]["variables"] == {"inventoryStatus": "released"}
    assert sent(sandbox_url, business_key) == ["payment_declined", "payment_not_received"]


def test_exhausted_payment_retries_go_to_operations_who_retry(server: Server, sandbox_url: str, people: dict) -> None:
    control(sandbox_url, outageSystems=["payment"])
    instance_id, business_key = start(server, paymentRetryCycle="R2/PT0.2S")
    waiting_at(server, instance_id, "Task_ResolvePayment")
    [task] = inbox(people["olga"], server, business_key)
    assert task["name"] == "Resolve payment problem" and task["candidateGroups"] == ["operations"]
    current = view(server, instance_id)
    assert current["status"] == "waiting" and not current["incidents"]  # handled by the diagram, no incident
    assert "after 2 attempts" in current["variables"]["paymentProblem"]

    control(sandbox_url, outageSystems=[])  # the gateway is back
    work(people["olga"], server, task, paymentResolution="retry", paymentResolutionNote="gateway back up")
    done = finished(server, instance_id)
    assert done["variables"]["paymentStatus"] == "captured"
    bpmn_errors = [e["data"]["code"] for e in events(server, instance_id) if e["type"] == "bpmn_error"]
    assert bpmn_errors == ["RETRIES_EXHAUSTED"]


def test_operations_can_give_up_on_payment_which_cancels_the_order(
    server: Server, sandbox_url: str, people: dict
) -> None:
    set_stock(sandbox_url, SKU_1020=20)
    control(sandbox_url, outageSystems=["payment"])
    items = [{"sku": "SKU-1020", "quantity": 2, "unitPrice": 19.0}]
    instance_id, business_key = start(server, items=items, paymentRetryCycle="R2/PT0.2S")
    waiting_at(server, instance_id, "Task_ResolvePayment")
    wait_for(server, instance_id, lambda _: "Task_ReserveInventory" in completed(server, instance_id))
    assert on_hand(sandbox_url, "SKU-1020") == 18
    [task] = inbox(people["olga"], server, business_key)
    work(people["olga"], server, task, paymentResolution="cancel")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "noPayment"
    assert on_hand(sandbox_url, "SKU-1020") == 20
    assert "Event_UndoAfterGivingUp" in completed(server, instance_id)


# -- special handling and carriers ---------------------------------------------------------------------------


def test_dangerous_goods_are_checked_by_operations_and_ship_with_dhl(
    server: Server, sandbox_url: str, people: dict
) -> None:
    items = [{"sku": "SKU-1014", "quantity": 3, "unitPrice": 9.9, "category": "hazardous"}]
    instance_id, business_key = start(server, items=items, customer={"id": "C-GOLD", "tier": "gold"})
    waiting_at(server, instance_id, "Task_CheckDangerousGoods")
    assert decisions(server, instance_id)["order_handling"] == {
        "priority": "high",
        "specialHandling": "dangerous_goods",
    }
    [task] = inbox(people["olga"], server, business_key)
    work(people["olga"], server, task, dangerousGoodsChecked=True, dangerousGoodsNote="UN 3265, packed")
    done = finished(server, instance_id)
    assert done["variables"]["carrier"] == "DHL" and decisions(server, instance_id)["carrier_selection"] == ["DHL"]
    assert done["variables"]["wmsStatus"] == "ready_to_pick"  # priority: picked first
    assert "Task_PrioritisePicking" in completed(server, instance_id)


def test_a_carrier_that_refuses_the_booking_is_replaced_by_the_next(server: Server, sandbox_url: str) -> None:
    control(sandbox_url, unavailableCarriers=["DPD"])
    before = stats(sandbox_url)
    instance_id, _ = start(server)
    done = finished(server, instance_id)
    ranking = decisions(server, instance_id)["carrier_selection"]
    assert ranking[:2] == ["DPD", "DHL"]
    assert done["variables"]["carrier"] == "DHL" and done["variables"]["carriersTried"] == ["DPD"]
    assert "DPD accepts no bookings" in done["variables"]["carrierProblem"]
    trail = [(e["type"], e["elementId"]) for e in events(server, instance_id)]
    assert ("bpmn_error", "Task_BookCarrier") in trail and ("element_completed", "Task_NextCarrier") in trail
    assert stats(sandbox_url)["bookings"] == before["bookings"] + 1  # DPD refused; DHL booked once

    # Orderflow now knows DPD failed: the next order's decision sees it.
    control(sandbox_url, unavailableCarriers=[])
    next_id, _ = start(server)
    finished(server, next_id)
    assert view(server, next_id)["variables"]["carrierStats"]["DPD"]["recentFailures"] >= 1


def test_a_carrier_failing_again_and_again_drops_down_the_ranking(server: Server, sandbox_url: str) -> None:
    control(sandbox_url, unavailableCarriers=["DPD"])
    for _ in range(3):  # three refused bookings in a row make DPD unhealthy (carrier_selection.dmn)
        finished(server, start(server)[0])
    control(sandbox_url, unavailableCarriers=[])
    instance_id, _ = start(server)
    done = finished(server, instance_id)
    assert decisions(server, instance_id)["carrier_selection"] == ["DHL", "UPS", "DPD"]
    assert done["variables"]["carrier"] == "DHL" and done["variables"]["carriersTried"] == []


def test_when_no_carrier_takes_the_parcel_operations_arrange_it(server: Server, sandbox_url: str, people: dict) -> None:
    control(sandbox_url, unavailableCarriers=["DPD", "DHL", "UPS"])
    instance_id, business_key = start(server)
    waiting_at(server, instance_id, "Task_ArrangeShipment")
    [task] = inbox(people["olga"], server, business_key)
    work(people["olga"], server, task, carrier="GLS", trackingNumber="GLS-0001")
    done = finished(server, instance_id)
    assert sorted(done["variables"]["carriersTried"]) == ["DHL", "DPD", "UPS"]  # each tried once
    assert done["variables"]["trackingNumber"] == "GLS-0001" and done["variables"]["shipmentStatus"] == "shipped"


# -- cancellation ---------------------------------------------------------------------------------------------


def test_cancelling_undoes_the_reservation_and_the_authorization(
    server: Server, sandbox_url: str, people: dict
) -> None:
    set_stock(sandbox_url, SKU_1020=30)
    items = [{"sku": "SKU-1020", "quantity": 5, "unitPrice": 20.0, "category": "hazardous"}]
    instance_id, business_key = start(server, items=items)
    waiting = waiting_at(server, instance_id, "Task_CheckDangerousGoods")  # reserved and authorized by now
    authorization_id = waiting["variables"]["paymentAuthorizationId"]
    assert on_hand(sandbox_url, "SKU-1020") == 25
    assert authorization(sandbox_url, authorization_id)["status"] == "authorized"
    assert len(inbox(people["olga"], server, business_key)) == 1

    answer = server.post("/messages", json={"name": "order-cancelled", "businessKey": business_key,
                                            "variables": {"cancellationReason": "ordered twice"}})  # fmt: skip
    assert answer.status_code == 200, answer.text
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "cancelled"
    assert done["variables"]["cancellationReason"] == "ordered twice"
    assert on_hand(sandbox_url, "SKU-1020") == 30  # stock released
    assert authorization(sandbox_url, authorization_id)["status"] == "voided"  # payment voided
    assert inbox(people["olga"], server, business_key) == []  # the open task went with the cancellation
    undone = [(e["data"]["activity"], e["data"]["handler"]) for e in events(server, instance_id)
              if e["type"] == "compensation_completed"]  # fmt: skip
    assert sorted(undone) == [
        ("Task_AuthorizePayment", "Task_VoidPayment"),
        ("Task_ReserveInventory", "Task_ReleaseStock"),
    ]
    started = next(e for e in events(server, instance_id) if e["type"] == "event_subprocess_started")
    assert started["data"]["interrupting"] is True and "Task_CheckDangerousGoods" in started["data"]["cancelled"]
    assert "Task_ShipOrder" not in completed(server, instance_id)
    assert sent(sandbox_url, business_key) == ["order_cancelled"]


def test_cancelling_before_anything_was_done_undoes_nothing(server: Server, sandbox_url: str, people: dict) -> None:
    before = stats(sandbox_url)
    instance_id, business_key = start(server, items=[{"sku": "SKU-1008", "quantity": 1, "unitPrice": 8_000.0}])
    waiting_at(server, instance_id, "Task_ApproveOrder")
    server.post("/messages", json={"name": "order-cancelled", "businessKey": business_key})
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "cancelled"
    assert not [e for e in events(server, instance_id) if e["type"] == "compensation_started"]
    after = stats(sandbox_url)
    assert after["voids"] == before["voids"] and after["releases"] == before["releases"]
    assert inbox(people["sam"], server, business_key) == []


def test_once_shipped_the_order_can_no_longer_be_cancelled(server: Server) -> None:
    instance_id, business_key = start(server)
    finished(server, instance_id)
    assert_problem(server.post("/messages", json={"name": "order-cancelled", "businessKey": business_key}), 404)
