"""The pages as a new user finds them (issue #19): an approver on a phone, the order shown as an order, steps by
their names, the diagram at the waiting step, a heatmap that zooms, a dashboard that says when it updated, lists
that page. One server for the module: the demo people, one order of the story waiting for sales' approval, and
enough small approvals to fill more than a page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import buttons_out_of_view, fits_the_width, log_in, start_order, watch
from tests.support.order_story import order, wait_for
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop

STORY_ORDER = "ORD-ZURICH-1"
APPROVAL = "Approve order: sales, order over 5,000"
PHONE = {"width": 390, "height": 844}
SMALL_ORDERS = 51  # one more than the order list shows on a page


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("pages"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        name = "inbox_approval.bpmn"
        assert deploy(server, (name, (DIAGRAMS / name).read_bytes())).status_code == 201
        variables = order(
            items=[{"sku": "SKU-1008", "quantity": 40, "unitPrice": 150.0},
                   {"sku": "SKU-1001", "quantity": 2, "unitPrice": 12.5}],
            shippingAddress={"name": "Grace Hopper", "street": "Rue de l’Église 5", "city": "Zürich",
                             "postalCode": "10117", "country": "DE"},
        )  # fmt: skip
        response = server.post(
            "/process-definitions/order_management/instances", json={"businessKey": STORY_ORDER, "variables": variables}
        )
        assert response.status_code == 201, response.text
        instance_id = response.json()["id"]
        wait_for(server, instance_id, lambda v: "Task_ApproveOrder" in str(v.get("activeElements")))
        for n in range(SMALL_ORDERS):
            start_order(server, "inbox_approval", f"SMALL-{n:02d}", total=100 + n)
        server.story_instance = instance_id  # type: ignore[attr-defined]
        yield server
    finally:
        stop(server.proc)


def _story_task(site: Server) -> dict:
    return site.get("/tasks", params={"businessKey": STORY_ORDER}).json()["items"][0]


def test_on_a_phone_neither_the_inbox_nor_the_task_page_scrolls_sideways(site: Server, browser):
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        problems = watch(page)
        log_in(page, site, "sam")
        width, viewport = fits_the_width(page)
        assert width <= viewport == 390
        assert page.locator("[data-testid=task-row]").first.is_visible()
        page.goto(f"{site.url}/inbox/tasks/{_story_task(site)['id']}")
        page.wait_for_selector("#diagram[data-ready=true]")
        width, viewport = fits_the_width(page)
        assert width <= viewport == 390
        assert buttons_out_of_view(page, 390) == []
        for name in ("Claim", "Delegate", "Complete", "Whole diagram"):
            button = page.get_by_role("button", name=name)
            assert button.is_visible()
            button.click(trial=True)  # nothing covers it: a tap would reach it
        assert problems == []
    finally:
        context.close()


def test_the_inbox_opens_where_the_work_is_and_finds_processes_by_part_of_their_name(site: Server, page):
    problems = watch(page)
    log_in(page, site, "sam")
    # Nothing is Sam's own yet: the inbox opens on his groups' tasks, which hold the work.
    assert "active" in page.get_attribute("[data-testid=view-group]", "class")
    assert page.inner_text("[data-testid=view-mine] .count") == "0"
    pager = page.inner_text("[data-testid=pager]")
    assert f"{SMALL_ORDERS + 1} tasks · page 1 of 3" in pager
    page.click("[data-testid=next-page]")
    expect(page.locator("[data-testid=pager]")).to_contain_text("page 2 of 3")
    assert page.locator("[data-testid=previous-page]").is_visible()
    # The empty tab says why it is empty and where the work is.
    page.click("[data-testid=view-mine]")
    empty = page.inner_text("[data-testid=empty]")
    assert "No task is assigned to you" in empty and "claim" in empty
    assert f"My groups' tasks ({SMALL_ORDERS + 1})" in empty
    # The process filter takes part of a key or a name, in any case.
    page.click("[data-testid=view-group]")
    for typed in ("ORDER_man", "order manage"):
        page.fill("[data-testid=process-filter]", typed)
        page.press("[data-testid=process-filter]", "Enter")
        expect(page.locator("[data-testid=task-row]")).to_have_count(1)
        assert STORY_ORDER in page.inner_text("[data-testid=task-row]")
    page.fill("[data-testid=process-filter]", "no such process")
    page.press("[data-testid=process-filter]", "Enter")
    page.wait_for_selector("[data-testid=empty]")
    assert "contains “no such process”" in page.inner_text("[data-testid=empty]")
    assert problems == []


def test_the_task_page_shows_the_order_as_an_order(site: Server, page):
    problems = watch(page)
    log_in(page, site, "sam")
    page.goto(f"{site.url}/inbox/tasks/{_story_task(site)['id']}")
    data = page.locator("[data-testid=order-data]")
    assert "Ada Lovelace" in data.locator("[data-testid=party]").inner_text()
    assert data.locator("[data-testid=address]").inner_text().splitlines() == [
        "Grace Hopper", "Rue de l’Église 5", "10117 Zürich", "DE"
    ]  # fmt: skip
    rows = [row.split("\t") for row in data.locator("[data-testid=items] tbody tr").all_inner_texts()]
    assert rows == [["SKU-1008", "40", "150.00", "6,000.00"], ["SKU-1001", "2", "12.50", "25.00"]]
    assert data.locator("[data-testid=items-sum]").inner_text() == "6,025.00 EUR"
    assert "Total\n6,025.00 EUR" in data.locator("[data-testid=totals]").inner_text()
    # The rest is folded away, with real characters; the scripts' working variables are not shown to approvers.
    everything = data.locator("[data-testid=all-data]")
    assert not everything.locator(":scope > dl").is_visible()
    page.click("[data-testid=all-data] summary")
    names = everything.locator(":scope > dl > dt").all_inner_texts()
    assert {"customer", "items", "validation", "addressStatus"} <= set(names)
    assert not {"eu", "postalLengths", "part", "loopCounter", "level"} & set(names)
    assert page.locator("[data-testid=internal-data]").count() == 0
    text = page.inner_text("main")
    assert "\\u" not in text and "Zürich" in text
    # Each value stays in its own column: no line runs under the next one.
    overflowing = page.evaluate(
        """[...document.querySelectorAll('[data-testid=all-data] dd')]
             .filter((dd) => dd.scrollWidth > dd.clientWidth + 1).length"""
    )
    assert overflowing == 0
    # Steps by their names: the task's evaluated name in the history, no raw expression anywhere.
    assert APPROVAL in page.locator("[data-testid=history]").inner_text()
    assert "${" not in text
    assert problems == []


def test_the_task_diagram_zooms_to_the_waiting_step_and_marks_only_it(site: Server, page):
    problems = watch(page)
    log_in(page, site, "sam")
    page.goto(f"{site.url}/inbox/tasks/{_story_task(site)['id']}")
    page.wait_for_selector("#diagram[data-ready=true]")
    marked = page.locator("#diagram .current-step")
    assert [marked.nth(i).get_attribute("data-element-id") for i in range(marked.count())] == ["Task_ApproveOrder"]
    # Drawn at life size inside the box, not shrunk with the whole story.
    step = page.locator("#diagram [data-element-id=Task_ApproveOrder]").bounding_box()
    box = page.locator("#diagram").bounding_box()
    assert step["width"] >= 90
    assert box["x"] <= step["x"] and step["x"] + step["width"] <= box["x"] + box["width"]
    assert box["y"] <= step["y"] and step["y"] + step["height"] <= box["y"] + box["height"]
    labels = page.locator("#diagram .djs-visual text").all_text_contents()
    assert "Approve order" in " ".join(labels) and not any("${" in label for label in labels)
    page.click("[data-testid=diagram-fit]")  # the whole story, for those who want it
    assert page.locator("#diagram [data-element-id=Task_ApproveOrder]").bounding_box()["width"] < step["width"] / 2
    assert problems == []


def test_the_order_page_and_audit_trail_name_the_steps(site: Server, page):
    problems = watch(page)
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring/orders/{site.story_instance}")  # type: ignore[attr-defined]
    assert page.inner_text("[data-testid=waiting-at]") == APPROVAL
    # Operators may still look at the scripts' working variables, folded twice.
    page.click("[data-testid=all-data] summary")
    page.click("[data-testid=internal-data] summary")
    assert "postalLengths" in page.inner_text("[data-testid=internal-data]")
    page.goto(f"{site.url}/monitoring/audit?businessKey={STORY_ORDER}")
    results = page.inner_text("[data-testid=audit-results]")
    assert APPROVAL in results and "${" not in results
    assert problems == []


def test_the_heatmap_zooms_and_its_figures_stay_readable(site: Server, page):
    problems = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring/processes/order_management")
    page.wait_for_selector("#heatmap[data-ready=true]")
    heatmap = page.locator("#heatmap")

    def zoom() -> float:
        return float(heatmap.get_attribute("data-zoom"))

    badge = page.locator(".heat-active[data-element=Task_ApproveOrder]")
    label = page.locator(".heat-label[data-element=Task_ApproveOrder]")
    waiting = page.get_attribute(".heat-cell[data-element=Task_ApproveOrder]", "data-value")
    assert int(waiting) > 0 and badge.inner_text() == waiting and label.is_visible()
    start = zoom()
    page.click("[data-testid=zoom-fit]")  # the whole story fits: too small for the figures of every step
    fitted = zoom()
    assert fitted < start
    assert not label.is_visible() and badge.is_visible()
    assert badge.bounding_box()["height"] >= 16  # the waiting count stays readable at any zoom
    page.click("[data-testid=zoom-in]")
    assert zoom() == pytest.approx(fitted * 1.25, rel=0.01)
    page.click("[data-testid=zoom-out]")
    assert zoom() == pytest.approx(fitted, rel=0.01)
    box = heatmap.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -100)
    assert zoom() > fitted * 2
    assert problems == []


def test_the_dashboard_says_when_it_updated_and_each_heading_heads_its_table(site: Server, page):
    problems = watch(page)
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring")
    freshness = page.inner_text("[data-testid=freshness]")
    assert re.search(r"Updated \d\d:\d\d:\d\d UTC · last event \d\d:\d\d:\d\d UTC", freshness), freshness
    assert "ago" not in freshness
    tables = page.evaluate(
        """[...document.querySelectorAll('.dashboard-tables table')].map((table) => {
             const heading = table.previousElementSibling;
             return {heading: heading && heading.tagName, gap: heading &&
                     table.getBoundingClientRect().top - heading.getBoundingClientRect().bottom,
                     others: table.parentElement.querySelectorAll('table').length};
           })"""
    )
    assert len(tables) == 4
    for table in tables:  # right under its own heading, alone in its card
        assert table["heading"] == "H2" and 0 <= table["gap"] <= 30 and table["others"] == 1
    assert problems == []


def test_the_order_list_pages(site: Server, page):
    problems = watch(page)
    log_in(page, site, "olga")
    page.goto(f"{site.url}/monitoring/orders")
    total = SMALL_ORDERS + 1
    assert page.locator("[data-testid=order-row]").count() == 50
    assert f"{total} orders, newest first · 1–50 shown (page 1 of 2)" in page.inner_text("[data-testid=pager]")
    page.click("[data-testid=next-page]")
    expect(page.locator("[data-testid=order-row]")).to_have_count(total - 50)
    assert STORY_ORDER in page.inner_text("table")  # the oldest order, on the last page
    page.click("[data-testid=previous-page]")
    expect(page.locator("[data-testid=order-row]")).to_have_count(50)
    page.goto(f"{site.url}/monitoring/orders?businessKey=NOPE")
    assert "No order whose business key starts with “NOPE”" in page.inner_text("[data-testid=empty]")
    assert problems == []
