"""The monitoring pages in headless Chromium: KPIs and throughput, the bottleneck heatmap drawn on the diagram (checked
on a screenshot), an order's page, and the audit trail search with its CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support.browser import log_in, start_order
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Three large orders waiting for approval, and one approved and completed."""
    server = start_server(tmp_path_factory.mktemp("monitoring"), sandbox_url, ORDERFLOW_DEMO_USERS="true",
                          ORDERFLOW_SLA='{"inbox_approval": {"target": "PT1H", "minShare": 0.9}}')  # fmt: skip
    try:
        assert (
            deploy(server, ("inbox_approval.bpmn", (DIAGRAMS / "inbox_approval.bpmn").read_bytes())).status_code == 201
        )
        ids = [start_order(server, "inbox_approval", f"MON-{n}", total=1000 * n) for n in range(1, 5)]
        task = server.get("/tasks", params={"businessKey": "MON-1"}).json()["items"][0]
        done = server.post(f"/tasks/{task['id']}/complete", json={"userId": "sam", "variables": {"approved": True}})
        assert done.status_code == 200
        assert wait_until_ended(server, ids[0])["status"] == "completed"
        yield server
    finally:
        stop(server.proc)


def test_the_dashboard_shows_the_kpis_and_throughput(site: Server, page):
    log_in(page, site, "olga")
    page.click("nav >> text=Monitoring")
    page.wait_for_selector("#throughput[data-ready=true]")
    assert "1 orders completed" in page.inner_text("[data-testid=kpi-processing]")
    assert page.inner_text("[data-testid=kpi-processing] .value") not in ("—", "")
    assert page.inner_text("[data-testid=kpi-sla] .value") == "100.0 %"  # one order, done well within an hour
    assert "target 90.0 %" in page.inner_text("[data-testid=kpi-sla]")
    assert "Updated" in page.inner_text("[data-testid=freshness]")
    page.select_option("[data-testid=window]", "5m")  # the page reloads for the new window
    page.wait_for_url("**/monitoring?*window=5m*")
    page.wait_for_selector("#throughput[data-ready=true]")
    assert page.locator("[data-testid=window]").input_value() == "5m"


def _is_hot(pixel: tuple[int, int, int]) -> bool:
    red, green, blue = pixel
    return red > 190 and green < 140 and blue < 140


def test_the_heatmap_shows_where_orders_wait(site: Server, page, tmp_path: Path):
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring")
    page.click('a:has-text("inbox_approval")')
    page.wait_for_selector("#heatmap[data-ready=true]")
    approve = page.locator(".heat-cell[data-element=approve]")
    assert approve.get_attribute("data-value") == "3"  # three orders wait for approval now
    assert page.inner_text(".heat-active[data-element=approve]") == "3"
    assert page.locator(".heat-cell[data-element=received]").get_attribute("data-value") == "0"
    # On a screenshot: the waiting step is painted hot, an element nobody waits at is not.
    shot = tmp_path / "heatmap.png"
    page.screenshot(path=str(shot))
    image = Image.open(shot).convert("RGB")

    def hot_share(locator) -> float:
        box = locator.bounding_box()
        area = image.crop((int(box["x"]) + 4, int(box["y"]) + 4, int(box["x"] + box["width"]) - 4,
                           int(box["y"] + box["height"]) - 4))  # fmt: skip
        width, height = area.size
        hot = sum(1 for x in range(width) for y in range(height) if _is_hot(area.getpixel((x, y))))
        return hot / (width * height)

    assert hot_share(approve) > 0.3
    assert hot_share(page.locator(".heat-cell[data-element=received]")) == 0
    # Coloured by orders that passed instead, the start event is as hot as it gets.
    page.select_option("#heat-by", "entered")
    assert page.locator(".heat-cell[data-element=received]").get_attribute("data-value") == "4"


def test_an_orders_page_has_its_position_and_audit_trail(site: Server, page):
    log_in(page, site, "anna", start="/")  # an analyst lands on monitoring
    assert page.url.endswith("/monitoring")
    page.click("text=Orders")
    page.fill("[data-testid=order-search]", "MON-2")
    page.click("text=Search")
    page.click("[data-testid=order-row] a")
    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.inner_text("[data-testid=order-status]") == "waiting"
    assert page.locator("#diagram [data-element-id=approve].current-step").count() == 1
    assert "task created" in page.inner_text("[data-testid=history]")


def test_the_audit_trail_is_searched_and_exported(site: Server, page):
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring/audit?actor=sam")
    rows = page.locator("[data-testid=audit-results] tbody tr, [data-testid=audit-results] tr").all_inner_texts()
    assert any("task_completed" in row and "MON-1" in row for row in rows)
    assert not any("MON-2" in row for row in rows)
    href = page.get_attribute("[data-testid=export-csv]", "href")
    exported = page.request.get(f"{site.url}{href}")
    assert exported.ok and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text())))
    assert table and {r["actor"] for r in table} == {"sam"}
    assert any(r["type"] == "task_completed" and r["businessKey"] == "MON-1" for r in table)


def test_monitoring_is_for_operators_and_analysts(site: Server, page):
    log_in(page, site, "sam")
    assert page.locator("nav >> text=Monitoring").count() == 0
    assert page.goto(f"{site.url}/monitoring").status == 403
