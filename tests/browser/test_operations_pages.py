"""The operator's pages in headless Chromium: repairing incidents (a retry after a variable fix, a resolve with a
comment), an order's own actions, and migrating running orders from the version history with the dry run first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import log_in, start_order
from tests.support.diagrams import process
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended

V1 = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="Approve"/>
    <bpmn:userTask id="Approve" name="Approve"/><bpmn:sequenceFlow id="f1" sourceRef="Approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>"""

V2 = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="ApproveOrder"/>
    <bpmn:userTask id="ApproveOrder" name="Approve the order"/>
    <bpmn:sequenceFlow id="f1" sourceRef="ApproveOrder" targetRef="Check"/>
    <bpmn:userTask id="Check" name="Check"/><bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="end"/>
    <bpmn:endEvent id="end"/>"""


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("operations"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        assert deploy(server, ("split_bill.bpmn", (DIAGRAMS / "split_bill.bpmn").read_bytes())).status_code == 201
        yield server
    finally:
        stop(server.proc)


def test_an_operator_retries_one_incident_and_resolves_another(site: Server, page) -> None:
    fixable = start_order(site, "ops_split", "SPLIT-1", amount=10, count=0, total=5000)  # the higher impact
    other = start_order(site, "ops_split", "SPLIT-2", amount=10, count=0)
    for order in (fixable, other):
        assert wait_until_ended(site, order)["status"] == "incident"

    log_in(page, site, "olga", start="/monitoring")
    page.click("[data-testid=open-incident] >> nth=0")  # the dashboard's incident row opens the incidents page
    # The click starts a navigation: `expect` waits for the new page's list, where reading the rows at once could
    # still see the dashboard (which has no incident list) and read nothing.
    expect(page.locator("[data-testid=incident-list] td:nth-child(2)")).to_have_text(["SPLIT-1", "SPLIT-2"])
    detail = page.locator("[data-testid=incident-detail]")
    assert "SPLIT-1" in detail.inner_text() and "division by zero" in detail.inner_text().lower()
    page.wait_for_selector("#diagram[data-ready]", state="attached")
    assert page.get_attribute("#diagram", "data-ready") == "true", page.inner_text("#diagram")
    assert page.locator("#diagram .failing-step").count() == 1  # the failing step is marked on the diagram

    page.fill("[data-testid=retry-form] input[name=variables]", '{"count": 2}')
    page.click("[data-testid=retry]")
    assert "Retried" in page.inner_text(".flash")
    assert wait_until_ended(site, fixable)["variables"]["share"] == 5

    assert "SPLIT-2" in page.inner_text("[data-testid=incident-detail]")
    page.fill("[data-testid=resolve-comment]", "refunded by hand")
    page.click("[data-testid=resolve]")
    assert "Resolved with your comment" in page.inner_text(".flash")
    assert "No open incidents match" in page.inner_text("[data-testid=incident-list]")
    trail = site.get(f"/process-instances/{other}/events").json()["items"]
    resolved = next(e for e in trail if e["type"] == "incident_resolved")
    assert resolved["actor"] == "olga" and resolved["data"]["comment"] == "refunded by hand"


def test_an_operator_suspends_an_order_and_edits_its_data(site: Server, page) -> None:
    deploy(site, process("ops_hold", V1))
    order = start_order(site, "ops_hold", "HOLD-1", note="before")
    log_in(page, site, "olga", start=f"/monitoring/orders/{order}")
    page.fill("[data-testid=order-actions] input[name=comment]", "customer asked")
    page.click("[data-testid=suspend]")
    assert page.inner_text("[data-testid=order-status]") == "suspended"
    page.fill("[data-testid=variables-json]", '{"note": "after", "extra": 1}')
    page.fill("[data-testid=variables-form] input[name=comment]", "typo")
    page.click("[data-testid=save-variables]")
    assert "Saved: 2 set, 0 deleted" in page.inner_text(".flash")
    assert site.get(f"/process-instances/{order}").json()["variables"] == {"note": "after", "extra": 1}
    page.click("[data-testid=resume]")
    assert page.inner_text("[data-testid=order-status]") == "waiting"


def test_an_admin_migrates_running_orders_after_a_dry_run(site: Server, page) -> None:
    assert deploy(site, process("ops_approve", V1)).status_code == 201
    orders = [start_order(site, "ops_approve", f"APP-{n}") for n in range(3)]
    assert deploy(site, process("ops_approve", V2)).status_code == 201

    log_in(page, site, "admin", start="/modeler/processes/ops_approve/versions")
    page.click("[data-testid=migrate-version]")
    assert page.locator("[data-testid=map-Approve]").input_value() == "ApproveOrder"  # prefilled
    assert page.locator("[data-testid=run]").count() == 0  # no run before the dry run
    page.click("[data-testid=dry-run]")
    expect(page.locator("[data-testid=dry-run-result] tr[data-migratable=true]")).to_have_count(3)
    page.click("[data-testid=run]")
    page.wait_for_selector("[data-testid=batch-status]:has-text('completed')")
    assert page.locator("[data-testid=batch-items] tr[data-result=done]").count() == 3
    for order in orders:
        moved = site.get(f"/process-instances/{order}").json()
        assert moved["definitionVersion"] == 2 and moved["activeElements"][0]["elementId"] == "ApproveOrder"


def test_an_operator_moves_an_order_past_a_broken_step_on_the_diagram(site: Server, page) -> None:
    order = start_order(site, "ops_split", "SPLIT-MOVE", amount=10, count=0)
    assert wait_until_ended(site, order)["status"] == "incident"
    log_in(page, site, "olga", start=f"/monitoring/orders/{order}")
    page.wait_for_selector("#diagram[data-ready]", state="attached")
    assert page.locator("#diagram .failing-step").count() == 1
    page.click("#diagram [data-element-id=end]")
    page.fill("[data-testid=move-form] input[name=comment]", "split by hand")
    page.click("[data-testid=move]")
    assert "Moved the order to end" in page.inner_text(".flash")
    assert page.inner_text("[data-testid=order-status]") == "completed"
    moved = next(
        e for e in site.get(f"/process-instances/{order}/events").json()["items"] if e["type"] == "instance_modified"
    )
    assert moved["actor"] == "olga" and moved["data"]["instructions"] == [{"cancel": "split"}, {"startBefore": "end"}]
