"""The shipped order story (bpmn/order_management.bpmn and its decisions), end to end over REST against a real
server and the sandbox systems: one order per path, asserting where it ended, its audit trail and what the sandbox
systems did. Intake, validation, review, compliance and approvals here; stock, payment, carriers and cancellation
in test_order_story_fulfilment.py."""

from __future__ import annotations

import uuid

import pytest

from tests.support.order_story import (
    BERLIN,
    completed,
    decisions,
    events,
    finished,
    inbox,
    order,
    sent,
    start,
    stats,
    waiting_at,
    work,
)
from tests.support.server import Server

ZURICH = {"name": "Ada Lovelace", "street": "Bahnhofstrasse 1", "city": "Zurich", "postalCode": "8001", "country": "CH"}


# -- straight through -----------------------------------------------------------------------------------------


def test_a_valid_domestic_order_runs_straight_through(server: Server, sandbox_url: str) -> None:
    before = stats(sandbox_url)
    instance_id, business_key = start(server)
    done = finished(server, instance_id)
    variables = done["variables"]
    assert variables["orderOutcome"] == "readyToShip" and variables["total"] == 61.9
    assert variables["paymentStatus"] == "captured" and variables["shipmentStatus"] == "shipped"
    assert variables["trackingNumber"]

    passed = completed(server, instance_id)
    story = ["Task_OrderSettings", "Task_PrepareOrder", "Task_ValidateOrder", "Task_DecideApprovals",
             "Task_DecideHandling", "SubProcess_Fulfilment", "Task_CarrierPerformance", "Task_RankCarriers",
             "Task_BookCarrier", "Task_ReadyToShip", "SubProcess_Order", "Task_ShipOrder", "Task_CapturePayment",
             "Task_NotifyShipped", "EndEvent_OrderShipped"]  # fmt: skip
    assert [e for e in passed if e in story] == story
    # stock and payment at the same time, inside the fulfilment subprocess
    for parallel in ("Task_CheckStock", "Task_ReserveInventory", "Task_AuthorizePayment"):
        assert passed.index("Task_DecideHandling") < passed.index(parallel) < passed.index("SubProcess_Fulfilment")
    assert passed.index("Task_CheckStock") < passed.index("Task_ReserveInventory")
    for skipped in ("Task_ReviewOrder", "SubProcess_Compliance", "Task_CheckDangerousGoods"):
        assert skipped not in passed  # domestic, valid, ordinary: none of these
    assert not [e for e in events(server, instance_id) if e["type"] == "task_created"]  # nobody had to approve
    made = decisions(server, instance_id)
    assert made["order_validation"] == {"decision": "accept", "reason": "passed the validation rules"}
    assert made["order_approval"] in ([], None)
    # Every carrier healthy: nearby parcels go DPD, then DHL, then UPS (carrier_selection.dmn), and DPD took it.
    assert made["carrier_selection"] == ["DPD", "DHL", "UPS"] and variables["carrier"] == "DPD"
    assert variables["carrierStats"]["DPD"]["recentFailures"] == 0

    after = stats(sandbox_url)
    for counter in ("reservations", "authorizations", "captures", "bookings", "shipments"):
        assert after[counter] == before[counter] + 1, counter
    assert sent(sandbox_url, business_key) == ["order_shipped"]
    # The warehouse shipped the parcel with the carrier's label.
    booked = next(e for e in events(server, instance_id) if e["elementId"] == "Task_BookCarrier"
                  and e["type"] == "element_completed")  # fmt: skip
    assert booked["data"]["trackingNumber"] == variables["trackingNumber"]


# -- validation: reject, review ------------------------------------------------------------------------------


def test_an_undeliverable_address_is_rejected_with_the_reason(server: Server, sandbox_url: str) -> None:
    before = stats(sandbox_url)
    instance_id, business_key = start(server, shippingAddress={"street": "Unter den Linden 5", "country": "DE"})
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "rejected"
    assert done["variables"]["rejectionReason"] == (
        "the shipping address cannot be delivered to: no city; no postalCode"
    )
    passed = completed(server, instance_id)
    assert "EndEvent_Rejected" in passed and "EndEvent_OrderClosed" in passed
    assert "Task_ReserveInventory" not in passed and "Task_AuthorizePayment" not in passed
    assert sent(sandbox_url, business_key) == ["order_rejected"]
    after = stats(sandbox_url)
    assert after["authorizations"] == before["authorizations"] and after["reservations"] == before["reservations"]


def test_a_key_account_is_reviewed_where_a_new_customer_would_be_rejected(
    server: Server, sandbox_url: str, people: dict
) -> None:
    no_city = {"street": "Unter den Linden 5", "postalCode": "10117", "country": "DE"}
    key_account = {"id": "C-KEY-1", "email": "buyer@bigcorp.example", "tier": "gold", "accountType": "key"}
    instance_id, business_key = start(server, shippingAddress=no_city, customer=key_account)
    waiting_at(server, instance_id, "Task_ReviewOrder")
    assert decisions(server, instance_id)["order_validation"]["decision"] == "review"

    assert inbox(people["fiona"], server, business_key) == []  # offered to sales only
    [task] = inbox(people["sam"], server, business_key)
    assert task["name"] == "Review the order" and task["candidateGroups"] == ["sales"]
    work(people["sam"], server, task, reviewDecision="accept", reviewNote="called them: Berlin, Mitte")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    assert done["variables"]["validation"] == {"decision": "accept", "reason": "called them: Berlin, Mitte"}
    completions = [e for e in events(server, instance_id) if e["type"] == "task_completed"]
    assert [(e["elementId"], e["actor"]) for e in completions] == [("Task_ReviewOrder", "sam")]


def test_a_doubtful_address_goes_to_review_and_the_reviewer_rejects(
    server: Server, sandbox_url: str, people: dict
) -> None:
    no_house_number = {**BERLIN, "street": "Unter den Linden"}
    newcomer = {"id": "C-NEW-1", "email": "new@example.com", "tier": "standard", "accountType": "new"}
    instance_id, business_key = start(server, shippingAddress=no_house_number, customer=newcomer)
    waiting_at(server, instance_id, "Task_ReviewOrder")
    assert decisions(server, instance_id)["order_validation"] == {
        "decision": "review",
        "reason": "doubtful address: the street has no house number",
    }
    [task] = inbox(people["sam"], server, business_key)
    work(people["sam"], server, task, reviewDecision="reject", reviewNote="no such address in Berlin")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "rejected"
    assert done["variables"]["rejectionReason"] == "no such address in Berlin"
    assert sent(sandbox_url, business_key) == ["order_rejected"]


def test_the_same_doubtful_address_passes_for_a_marketplace_order(server: Server) -> None:
    instance_id, _ = start(server, channel="marketplace", shippingAddress={**BERLIN, "street": "Unter den Linden"},
                           customer={"id": "C-MP-1", "accountType": "new"})  # fmt: skip
    done = finished(server, instance_id)
    assert decisions(server, instance_id)["order_validation"] == {
        "decision": "accept",
        "reason": "the sales partner checked the address",
    }
    assert done["variables"]["orderOutcome"] == "readyToShip"


# -- compliance for shipments abroad -------------------------------------------------------------------------


def test_an_order_abroad_passes_compliance_before_payment(server: Server, sandbox_url: str) -> None:
    before = stats(sandbox_url)
    instance_id, _ = start(server, shippingAddress=dict(ZURICH))
    done = finished(server, instance_id)
    variables = done["variables"]
    assert variables["international"] is True and variables["shippingZone"] == "world"
    assert variables["taxRate"] > 0 and variables["amountDue"] == variables["totalWithTax"] > variables["total"]
    assert {d["type"] for d in variables["customsDocuments"]} >= {"commercial_invoice", "export_declaration"}
    assert variables["carrier"] in ("DHL", "UPS")  # DPD does not leave the EU

    passed = completed(server, instance_id)
    assert passed.index("SubProcess_Compliance") < passed.index("Task_AuthorizePayment")
    assert {"Task_CalculateTax", "Task_CustomsDocuments", "Task_PriceWithTax"} <= set(passed)
    authorized = next(e for e in events(server, instance_id) if e["elementId"] == "Task_AuthorizePayment"
                      and e["type"] == "element_completed")  # fmt: skip
    assert authorized["data"]["paymentStatus"] == "authorized"
    after = stats(sandbox_url)
    assert after["taxCalculations"] == before["taxCalculations"] + 1
    assert after["customsDocumentSets"] == before["customsDocumentSets"] + 1


def test_a_denied_party_abroad_is_blocked_before_any_payment(server: Server, sandbox_url: str) -> None:
    before = stats(sandbox_url)
    denied = {"id": "C-DENIED", "name": "Denied Trading Ltd", "email": "x@denied.example"}
    instance_id, business_key = start(server, shippingAddress=dict(ZURICH), customer=denied)
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "blocked"
    assert done["variables"]["rejectionReason"] == "the consignee is on a sanctions screening list"
    passed = completed(server, instance_id)
    assert "EndEvent_DeniedParty" in passed and "EndEvent_Blocked" in passed
    assert "Task_AuthorizePayment" not in passed
    assert stats(sandbox_url)["authorizations"] == before["authorizations"]
    assert sent(sandbox_url, business_key) == ["order_blocked"]


# -- approvals ------------------------------------------------------------------------------------------------

# Order value -> who signs, one after another (order_approval.dmn), for a regular standard-tier customer.
DEPTHS = [
    (500.0, []),
    (6_000.0, ["sam"]),
    (30_000.0, ["sam", "fiona"]),
    (120_000.0, ["sam", "fiona", "mike"]),
]


@pytest.mark.parametrize("value, approvers", DEPTHS, ids=["no-approval", "sales", "sales-finance", "three-levels"])
def test_each_approval_depth_runs_as_a_chain_in_the_inbox(
    server: Server, people: dict, value: float, approvers: list[str]
) -> None:
    instance_id, business_key = start(server, items=[{"sku": "SKU-1008", "quantity": 1, "unitPrice": value}])
    for n, name in enumerate(approvers):
        current = waiting_at(server, instance_id, "Task_ApproveOrder")
        others = [p for p in ("sam", "fiona", "mike") if p != name]
        assert all(inbox(people[p], server, business_key) == [] for p in others)  # only this level sees it
        [task] = inbox(people[name], server, business_key)
        assert task["name"].startswith("Approve order: ")
        work(people[name], server, task, approved=True, approvalComment=f"level {n + 1} ok")
        assert current["status"] == "waiting"
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    levels = decisions(server, instance_id)["order_approval"] or []
    assert [level["group"] for level in levels] == [{"sam": "sales", "fiona": "finance", "mike": "management"}[p]
                                                     for p in approvers]  # fmt: skip
    signed = [e["actor"] for e in events(server, instance_id) if e["type"] == "task_completed"]
    assert signed == approvers


def test_a_rejection_in_the_chain_stops_the_order(server: Server, sandbox_url: str, people: dict) -> None:
    instance_id, business_key = start(server, items=[{"sku": "SKU-1008", "quantity": 1, "unitPrice": 30_000.0}])
    waiting_at(server, instance_id, "Task_ApproveOrder")
    [task] = inbox(people["sam"], server, business_key)
    work(people["sam"], server, task, approved=True)
    waiting_at(server, instance_id, "Task_ApproveOrder")
    [task] = inbox(people["fiona"], server, business_key)
    work(people["fiona"], server, task, approved=False, approvalComment="credit limit reached")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "notApproved"
    assert "Task_AuthorizePayment" not in completed(server, instance_id)
    assert sent(sandbox_url, business_key) == ["order_not_approved"]


def test_department_budget_and_dangerous_goods_add_levels(server: Server, people: dict) -> None:
    """A B2B order within sales' limit but over the department's budget goes to finance; dangerous goods over
    10,000 to management too."""
    buyer = {"id": "C-B2B-7", "tier": "silver", "accountType": "regular", "budgetRemaining": 4_000}
    items = [{"sku": "SKU-1014", "quantity": 100, "unitPrice": 110.0, "category": "hazardous"}]
    instance_id, _ = start(server, customer=buyer, items=items)
    waiting_at(server, instance_id, "Task_ApproveOrder")
    levels = decisions(server, instance_id)["order_approval"]
    assert [(level["group"], level["name"]) for level in levels] == [
        ("sales", "sales, order over 5,000"),
        ("finance", "finance, over the department's budget"),
        ("management", "management, dangerous goods over 10,000"),
    ]


def test_an_overdue_approval_escalates_to_management(server: Server, people: dict) -> None:
    instance_id, business_key = start(
        server, approvalTimeout="PT1S", items=[{"sku": "SKU-1008", "quantity": 1, "unitPrice": 6_000.0}]
    )
    waiting_at(server, instance_id, "Task_EscalateApproval", timeout=20)
    assert inbox(people["sam"], server, business_key) == []  # sales' task was withdrawn by the escalation
    [task] = inbox(people["mike"], server, business_key)
    assert task["name"] == "Decide the overdue approval" and task["candidateGroups"] == ["management"]
    work(people["mike"], server, task, approved=True, approvalComment="customer is waiting")
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    assert "Boundary_ApprovalOverdue" in completed(server, instance_id)


# -- intake by message ----------------------------------------------------------------------------------------


def test_an_edi_order_arrives_as_a_message_and_runs_the_same_story(server: Server, sandbox_url: str) -> None:
    business_key = f"EDI-{uuid.uuid4().hex[:8]}"
    edi = order(channel="edi", customer={"id": "C-EDI-3", "tier": "silver", "accountType": "key"})
    answer = server.post("/messages", json={"name": "order-placed", "businessKey": business_key, "variables": edi})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "started"
    instance_id = answer.json()["instanceId"]
    done = finished(server, instance_id)
    assert done["businessKey"] == business_key and done["processKey"] == "order_intake"
    assert done["variables"]["orderOutcome"] == "readyToShip"
    passed = completed(server, instance_id)
    assert passed[0] == "StartEvent_OrderPlaced" and "CallActivity_ManageOrder" in passed
    assert decisions(server, instance_id)["order_settings"]["paymentUpdateTimeout"] == "PT30S"  # overridden
    assert sent(sandbox_url, business_key) == ["order_shipped"]
