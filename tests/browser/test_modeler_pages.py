"""The modeler in a real browser (headless Debian chromium): an analyst draws a process from the palette, sets what
orderflow runs in its panel (a connector, a group, a form, a condition built without code), sees problems on the
diagram as she draws, deploys, starts a test order and watches it run; edits a decision table and sees the next
order decide differently; compares versions. And the shipped diagrams survive the modeler unchanged."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lxml import etree
from PIL import Image

from processes import expressions
from processes.modeling import blank_decision, diff_versions
from tests.support.diagrams import laid_out
from tests.support.paths import DIAGRAMS, ROOT
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended

SHIPPED_DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))
DEMO_PASSWORD = "orderflow-demo"
RULES = (DIAGRAMS / "approval_rules.dmn").read_bytes()
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"

DISCOUNTED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="discounted_definitions" targetNamespace="t">
  <bpmn:process id="discounted_order" name="Discounted order" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="to_rate" sourceRef="start" targetRef="rate"/>
    <bpmn:businessRuleTask id="rate" name="Rate the order" camunda:decisionRef="discount"
        camunda:resultVariable="discount" camunda:mapDecisionResult="singleEntry"/>
    <bpmn:sequenceFlow id="to_gate" sourceRef="rate" targetRef="gate"/>
    <bpmn:exclusiveGateway id="gate" default="small"/>
    <bpmn:sequenceFlow id="big" sourceRef="gate" targetRef="big_discount">
      <bpmn:conditionExpression>${discount &gt;= 10}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="gate" targetRef="small_discount"/>
    <bpmn:endEvent id="big_discount"/>
    <bpmn:endEvent id="small_discount"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the demo people; the shipped workflow is deployed as on every start."""
    server = start_server(tmp_path_factory.mktemp("modeler"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        yield server
    finally:
        stop(server.proc)


def log_in(page, server: Server, username: str, start: str = "/modeler") -> None:
    page.goto(server.url + start)
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=who]")


def watch_for_errors(page) -> list[str]:
    """Script errors, console errors and failed requests of the page's own resources. (Chromium asks for
    /favicon.ico by itself and logs its 404 to the console without an address: such lines are left out.)"""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"script error: {error}"))
    page.on(
        "console",
        lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text),
    )
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    return errors


def by_id(page, element_id: str):
    return page.locator(f'.djs-element.djs-shape[data-element-id="{element_id}"]')


def click_blank(page) -> None:
    """A click on empty canvas (bottom left: the palette is at the top, the diagram in the middle)."""
    box = page.locator("[data-testid=canvas]").bounding_box()
    page.click("[data-testid=canvas]", position={"x": 60, "y": box["height"] - 30})


def select_on_canvas(page, element) -> None:
    """Click an element of the diagram as a person does: first on empty canvas (the context pad of what is
    selected may cover the element), then on the element's corner."""
    click_blank(page)
    element.click(position={"x": 4, "y": 4})
    page.wait_for_selector(f'#orderflow-panel[data-element="{element.get_attribute("data-element-id")}"]')


def in_panel(page, action) -> None:
    """Change something in the properties panel and wait until the panel shows the diagram with the change."""
    before = page.get_attribute("#orderflow-panel", "data-rendered")
    action()
    page.wait_for_function("n => document.getElementById('orderflow-panel').dataset.rendered !== n", arg=before)


def type_in_panel(page, selector: str, text: str) -> None:
    field = page.locator(f"#orderflow-panel {selector}")
    field.fill(text)
    in_panel(page, field.blur)


def lint_settled(page, expected: str) -> None:
    page.wait_for_function(
        "state => { const m = document.getElementById('modeler'); return m.dataset.lintState === 'done' "
        "&& m.dataset.lint === state; }",
        arg=expected,
    )


def append(page, action: str, name: str | None = None) -> None:
    """Add the next element with the context pad of the selected one, naming it as it appears."""
    page.click(f".djs-context-pad [data-action='{action}']")
    if name is not None:
        page.keyboard.type(name)
        click_blank(page)


def change_type(page, element, entry: str) -> None:
    select_on_canvas(page, element)
    page.click(".djs-context-pad [data-action='replace']")
    page.click(f".djs-popup [data-id='{entry}']")


def test_an_analyst_draws_deploys_and_runs_a_process_from_the_browser(site: Server, page, browser) -> None:
    errors = watch_for_errors(page)
    log_in(page, site, "anna")
    page.fill("[data-testid=new-process] input[name=name]", "Check and charge")
    page.click("[data-testid=new-process] button")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.inner_text("[data-testid=version-state]").startswith("not deployed yet")
    shape = ".djs-element.djs-shape"

    # start -> a task, made a user task
    select_on_canvas(page, page.locator(f"{shape}[data-element-id=StartEvent_1]"))
    append(page, "append.append-task", "Check order")
    check = page.locator(shape, has_text="Check order")
    change_type(page, check, "replace-with-user-task")
    # the exclusive gateway from the palette, dropped right of the task, then connected to it
    box = check.bounding_box()
    page.click(".djs-palette [data-action='create.exclusive-gateway']")
    drop = (box["x"] + box["width"] + 120, box["y"] + box["height"] / 2)
    page.mouse.move(*drop)
    page.mouse.click(*drop)
    gateway_id = page.locator(f"{shape}[data-element-id^=Gateway]").first.get_attribute("data-element-id")
    gateway = page.locator(f'{shape}[data-element-id="{gateway_id}"]')
    select_on_canvas(page, check)
    page.click(".djs-context-pad [data-action='connect']")
    target = gateway.bounding_box()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    page.mouse.click(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    # gateway -> a service task -> end; gateway -> another end
    select_on_canvas(page, gateway)
    append(page, "append.append-task", "Charge the card")
    charge = page.locator(shape, has_text="Charge the card")
    change_type(page, charge, "replace-with-service-task")
    select_on_canvas(page, charge)
    append(page, "append.end-event", "Charged")
    select_on_canvas(page, gateway)
    append(page, "append.end-event", "Refused")

    # The user task: offered to sales, asks one yes/no question.
    select_on_canvas(page, check)
    panel = page.locator("[data-testid=panel]")
    in_panel(page, panel.locator("input[data-field=group-sales]").check)
    in_panel(page, panel.locator("[data-testid=form-add-field]").click)
    type_in_panel(page, "[data-field=label-0]", "Approve the order?")
    type_in_panel(page, "[data-field=id-0]", "approved")
    in_panel(page, lambda: panel.locator("[data-field=type-0]").select_option("boolean"))
    in_panel(page, panel.locator("[data-field=required-0]").check)
    # The service task: bound to the payment connector, picked from the list.
    select_on_canvas(page, charge)
    assert "payment.authorize" in panel.locator("[data-testid=connector] option").all_inner_texts()
    in_panel(page, lambda: panel.locator("[data-testid=connector]").select_option("payment.authorize"))

    # The path to "Refused" is the default: taken when no other path's condition holds.
    select_on_canvas(page, gateway)
    refused_id = panel.locator("[data-testid=path]:has-text('Refused')").get_attribute("data-target")
    panel.locator("[data-testid=path]:has-text('Refused')").click()
    panel.locator("[data-testid=condition]").wait_for()
    in_panel(page, panel.locator("[data-testid=default-flow]").check)
    type_in_panel(page, "[data-testid=element-name]", "no")
    # A condition typed by hand that cannot run: the problem shows on the gateway and in the list.
    select_on_canvas(page, gateway)
    panel.locator("[data-testid=path]:has-text('Charge the card')").click()
    panel.locator("[data-testid=condition-builder][data-ready=true] [data-testid=cb-variable]").wait_for()
    panel.locator("summary").click()
    type_in_panel(page, "[data-testid=condition-raw]", "${approved ==}")
    badge = page.locator(f'.djs-overlays[data-container-id="{gateway_id}"] [data-testid=lint-badge]')
    # The badge may first show what an earlier check found (the checks run as the analyst types); this one follows.
    from playwright.sync_api import expect

    expect(badge).to_have_attribute("title", re.compile("the expression ends too early"), timeout=15_000)
    assert "condition of flow" in page.inner_text("[data-testid=problems]")
    # The builder instead: "approved is yes", picked from the form's field.
    in_panel(page, panel.locator("[data-testid=condition-hand-written] button").click)
    variable = panel.locator("[data-testid=condition-builder][data-ready=true] [data-testid=cb-variable]")
    variable.wait_for()
    assert "approved (Approve the order?)" in variable.locator("option").all_inner_texts()
    in_panel(page, lambda: variable.select_option("approved"))
    panel.locator("[data-testid=cb-value]").select_option("true")  # already: a yes/no variable starts at yes
    from playwright.sync_api import expect

    expect(panel.locator("[data-testid=condition-raw]")).to_have_value("${approved == true}")
    type_in_panel(page, "[data-testid=element-name]", "yes")
    lint_settled(page, "clean")
    assert page.locator("[data-testid=lint-badge]").count() == 0
    assert page.locator(".djs-element[data-element-id$=_label]", has_text="yes").count() == 1  # drawn on the path

    page.click("[data-testid=deploy]")
    page.wait_for_selector("#modeler[data-deployed='1']")
    assert "Deployed check_and_charge version 1" in page.inner_text("[data-testid=modeler-message]")
    assert page.inner_text("[data-testid=version-state]") == "version 1"
    xml = site.get("/process-definitions/check_and_charge/xml").text
    assert 'camunda:topic="payment.authorize"' in xml and 'camunda:candidateGroups="sales"' in xml

    # A test order waits at the user task, highlighted on the diagram.
    page.fill("[data-testid=test-business-key]", "UI-TEST-1")
    page.fill("[data-testid=test-variables]", json.dumps({"total": 120.5, "currency": "EUR"}))
    page.click("[data-testid=start-test]")
    page.wait_for_selector("[data-testid=test-status][data-status=waiting]")
    assert page.inner_text("[data-testid=test-status]") == "Order UI-TEST-1 is waiting at Check order."
    assert "token-here" in check.get_attribute("class").split()

    # Sam approves it in his inbox, in his own browser.
    context = browser.new_context()
    try:
        sam = context.new_page()
        log_in(sam, site, "sam", start="/inbox")
        sam.click("[data-testid=view-group]")
        sam.locator("[data-testid=task-row]", has_text="UI-TEST-1").locator("a").click()
        sam.click("[data-testid=claim]")
        sam.check("input[name=approved][value=true]")
        sam.click("[data-testid=complete]")
        assert "Done: Check order for order UI-TEST-1" in sam.inner_text(".flash")
    finally:
        context.close()

    # The order went on along "yes": the payment connector charged it, and the diagram shows the way it took.
    page.wait_for_selector("[data-testid=test-status][data-status=completed]", timeout=30_000)
    assert page.inner_text("[data-testid=test-status]") == "Order UI-TEST-1 completed at Charged."
    passed = page.get_attribute("[data-testid=test-status]", "data-passed").split()
    assert charge.get_attribute("data-element-id") in passed and refused_id not in passed
    assert "token-passed" in charge.get_attribute("class").split()
    assert '"authorized"' in page.inner_text("[data-testid=test-order-data]")
    assert errors == []


def test_a_decision_cell_edited_in_the_browser_decides_the_next_order(site: Server, page) -> None:
    dmn = ("discount.dmn", blank_decision("discount", "Discount").encode())
    assert deploy(site, dmn, ("discounted.bpmn", DISCOUNTED.encode())).status_code == 201
    first = site.post("/process-definitions/discounted_order/instances", json={"variables": {"total": 2000}}).json()
    assert "small_discount" in events_of(site, first["id"])  # 5 % for 2000: the small-discount path

    errors = watch_for_errors(page)
    log_in(page, site, "anna")
    page.click("[data-testid=decisions] a:has-text('Discount')")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.locator("[data-testid=dmn-view]").all_inner_texts() == ["Requirements diagram", "Discount"]
    cell = page.locator('#dmn-canvas td[data-element-id="OutputEntry_2"] [contenteditable]')
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("10 +")  # not FEEL: the cell is outlined, the problem listed
    page.click("#dmn-canvas .decision-table-name")
    lint_settled(page, "errors")
    assert "OutputEntry_2" in page.inner_text("[data-testid=problems]")
    assert page.locator('#dmn-canvas td.lint-error[data-element-id="OutputEntry_2"]').count() == 1
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("10")
    page.click("#dmn-canvas .decision-table-name")
    lint_settled(page, "clean")
    page.click("[data-testid=deploy]")
    page.wait_for_selector("#modeler[data-deployed='2']")
    assert "Deployed discount version 2" in page.inner_text("[data-testid=modeler-message]")

    page.fill("[data-testid=try-variables]", json.dumps({"total": 2000}))
    page.click("[data-testid=evaluate]")
    page.wait_for_selector("[data-testid=try-result][data-status=done]")
    assert page.inner_text("[data-testid=try-result]") == "Version 2 decides 10 (rules Rule_2)"
    second = site.post("/process-definitions/discounted_order/instances", json={"variables": {"total": 2000}}).json()
    assert "big_discount" in events_of(site, second["id"])  # the next order takes the new decision

    # The history says who deployed what; the comparison names the changed cell.
    page.goto(f"{site.url}/modeler/decisions/discount/versions")
    assert page.locator("[data-testid=deployed-by]").all_inner_texts() == ["anna", "admin"]
    page.click("[data-testid=compare]")
    change = page.locator("[data-testid=changes] li.changed[data-element-id=OutputEntry_2]")
    assert "in Rule_2" in change.inner_text() and "text: 5 → 10" in change.inner_text()
    assert "10" in page.locator("[data-testid=xml-diff] tr.changed", has_text="<text>").first.inner_text()
    assert errors == []


def test_the_panel_picks_decisions_processes_timers_and_messages_and_the_order_runs_through_them(
    site: Server, page
) -> None:
    assert deploy(site, ("discount.dmn", blank_decision("discount", "Discount").encode())).status_code == 201
    errors = watch_for_errors(page)
    log_in(page, site, "anna", start="/modeler/processes/new?name=Pickers&key=pickers")
    page.wait_for_selector("#modeler[data-ready=true]")
    shape = ".djs-element.djs-shape"
    panel = page.locator("[data-testid=panel]")
    select_on_canvas(page, page.locator(f"{shape}[data-element-id=StartEvent_1]"))
    append(page, "append.append-task", "Rate it")
    rate = page.locator(shape, has_text="Rate it")
    change_type(page, rate, "replace-with-rule-task")
    select_on_canvas(page, rate)
    assert "Discount (discount)" in panel.locator("[data-testid=decision-ref] option").all_inner_texts()
    in_panel(page, lambda: panel.locator("[data-testid=decision-ref]").select_option("discount"))
    # The panel fills in the result variable from the decision in a render of its own: wait for it.
    from playwright.sync_api import expect  # here, so that collecting this file never needs Playwright

    expect(panel.locator("[data-testid=result-variable]")).to_have_value("discount")

    append(page, "append.intermediate-event")
    timer = by_id(page, page.locator(f"{shape}[data-element-id^=Event]").last.get_attribute("data-element-id"))
    change_type(page, timer, "replace-with-timer-intermediate-catch")
    select_on_canvas(page, timer)
    type_in_panel(page, "[data-testid=timer-value]", "PT1S")

    append(page, "append.append-task", "Fulfil it")
    fulfil = page.locator(shape, has_text="Fulfil it")
    change_type(page, fulfil, "replace-with-call-activity")
    select_on_canvas(page, fulfil)
    in_panel(page, lambda: panel.locator("[data-testid=called-process]").select_option("order_fulfillment"))
    for passed_on in ("in", "out", "businessKey"):  # Camunda 7 passes nothing unless told; the panel starts with all
        assert panel.locator(f"[data-testid=call-{passed_on}]").is_checked()

    append(page, "append.intermediate-event")
    message = by_id(page, page.locator(f"{shape}[data-element-id^=Event]").last.get_attribute("data-element-id"))
    change_type(page, message, "replace-with-message-intermediate-catch")
    select_on_canvas(page, message)
    type_in_panel(page, "[data-testid=message-name]", "payment-updated")
    append(page, "append.end-event", "Done")
    lint_settled(page, "clean")

    page.click("[data-testid=deploy]")
    page.wait_for_selector("#modeler[data-deployed='1']")
    root = etree.fromstring(site.get("/process-definitions/pickers/xml").content)
    camunda = "{http://camunda.org/schema/1.0/bpmn}"
    task = root.find(f".//{{{BPMN_NS}}}businessRuleTask")
    assert (task.get(f"{camunda}decisionRef"), task.get(f"{camunda}mapDecisionResult")) == ("discount", "singleEntry")
    assert root.find(f".//{{{BPMN_NS}}}timeDuration").text == "PT1S"
    call = root.find(f".//{{{BPMN_NS}}}callActivity")
    assert call.get("calledElement") == "order_fulfillment"
    assert [(m.tag, m.get("variables")) for m in call.iter(f"{camunda}in", f"{camunda}out") if m.get("variables")] == [
        (f"{camunda}in", "all"),
        (f"{camunda}out", "all"),
    ]
    assert root.find(f".//{{{BPMN_NS}}}message").get("name") == "payment-updated"

    # The sample order holds what the diagram reads and nothing sets: the decision's input.
    page.click("#fill-sample")
    # A function, not a bare expression: Playwright would eval() the latter in the page, which the CSP refuses.
    page.wait_for_function("() => document.querySelector('[data-testid=test-variables]').value.includes('total')")
    assert json.loads(page.input_value("[data-testid=test-variables]")) == {"total": 0}
    order = {"total": 2000, "items": [], "shippingAddress": {}}  # the called process rejects an empty order
    page.fill("[data-testid=test-business-key]", "UI-PICKERS-1")
    page.fill("[data-testid=test-variables]", json.dumps(order))
    page.click("[data-testid=start-test]")
    page.wait_for_function(
        "id => (document.querySelector('[data-testid=test-status]').dataset.passed || '').split(' ').includes(id)",
        arg=fulfil.get_attribute("data-element-id"),
        timeout=30_000,
    )
    # The token then reaches the message event (the page shows each poll's state: fulfil may pass a poll before it)
    page.wait_for_function(
        "id => document.querySelector(`.djs-element[data-element-id='${id}']`).classList.contains('token-here')",
        arg=message.get_attribute("data-element-id"),
        timeout=30_000,
    )
    sent = site.post("/messages", json={"name": "payment-updated", "businessKey": "UI-PICKERS-1"})
    assert sent.status_code in (200, 201), sent.text
    page.wait_for_selector("[data-testid=test-status][data-status=completed]", timeout=30_000)
    assert "discount\t5" in page.inner_text("[data-testid=test-order-data]")  # the decision's answer
    assert errors == []


def events_of(server: Server, instance_id: str) -> list[str]:
    assert wait_until_ended(server, instance_id)["status"] == "completed"
    return [e["elementId"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]


def test_versions_are_listed_opened_and_compared_side_by_side(site: Server, page) -> None:
    from playwright.sync_api import expect

    assert deploy(site, ("inbox_approval.bpmn", (DIAGRAMS / "inbox_approval.bpmn").read_bytes())).status_code == 201
    errors = watch_for_errors(page)
    log_in(page, site, "anna", start="/modeler/processes/inbox_approval")
    page.wait_for_selector("#modeler[data-ready=true]")
    select_on_canvas(page, page.locator('.djs-element.djs-shape[data-element-id="approve"]'))
    in_panel(page, page.locator("[data-testid=panel] input[data-field=group-finance]").check)
    type_in_panel(page, "[data-testid=due]", "2")
    in_panel(page, lambda: page.select_option("[data-testid=due-unit]", "D"))
    lint_settled(page, "clean")
    page.click("[data-testid=deploy]")
    page.wait_for_selector("#modeler[data-deployed='2']")

    page.click("#versions-link")
    expect(page.locator("[data-testid=versions] tr[data-version]")).to_have_count(2)
    page.click("[data-testid=compare]")  # A = version 1, B = version 2 by default
    page.wait_for_selector("#new-diagram[data-ready=true]")
    page.wait_for_selector("#old-diagram[data-ready=true]")
    for side in ("old", "new"):
        task = page.locator(f'#{side}-diagram .djs-element[data-element-id="approve"]')
        assert "diff-changed" in task.get_attribute("class").split()
    change = page.inner_text("[data-testid=changes] li.changed[data-element-id=approve]")
    assert "camunda:candidateGroups: sales → sales,finance" in change and "camunda:dueDate: PT4H → P2D" in change

    # Any version opens in the editor; deploying it again would make version 3.
    page.goto(f"{site.url}/modeler/processes/inbox_approval/versions")
    page.locator("tr[data-version='1'] [data-testid=open-version]").click()
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.inner_text("[data-testid=version-state]") == "version 1 (latest is 2)"
    assert errors == []


ROUND_TRIP = [*SHIPPED_DIAGRAMS, *sorted(DIAGRAMS.glob("*.bpmn"))]


@pytest.mark.parametrize("path", ROUND_TRIP, ids=[p.name for p in ROUND_TRIP])
def test_what_the_modeler_saves_keeps_every_element_attribute_and_shape(site: Server, page, path: Path) -> None:
    errors = watch_for_errors(page)
    key = next(
        p.get("id") for p in etree.parse(str(path)).iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable") != "false"
    )
    if path in SHIPPED_DIAGRAMS:  # deployed on start: opened from the modeler's list
        log_in(page, site, "anna", start=f"/modeler/processes/{key}")
        page.wait_for_selector("#modeler[data-ready=true]")
    else:  # from disk, as a person opens a file Camunda Modeler saved
        log_in(page, site, "anna", start="/modeler/processes/order_fulfillment")
        page.wait_for_selector("#modeler[data-ready=true]")
        page.set_input_files("#open-file", str(path))
        page.wait_for_function("key => document.getElementById('process-key').textContent === key", arg=key)
    assert page.evaluate("orderflowEditor.modeler.get('commandStack').canUndo()") is False  # opening changes nothing
    saved = page.evaluate("orderflowEditor.xml()")
    original = path.read_text()

    changes = diff_versions(original, saved)
    assert (changes["added"], changes["removed"], changes["moved"]) == ([], [], [])
    for element in changes["changed"]:  # only attributes at their schema default may go (and Camunda Modeler's too)
        for change in element["changes"]:
            name, _, values = change.partition(": ")
            before, _, after = values.partition(" → ")
            assert after == "(none)" and default_of(page, element["id"], name) == before, change
    assert drawn(original) == drawn(saved)
    assert namespaces(original) <= namespaces(saved)
    deployed = deploy(site, (path.name, saved.encode()), ("approval_rules.dmn", RULES))  # their decisions with them
    assert deployed.status_code == 201, deployed.text
    reopened = page.evaluate("xml => orderflowEditor.modeler.importXML(xml).then(r => r.warnings.length)", saved)
    assert reopened == 0 and errors == []


def default_of(page, element_id: str, attribute: str) -> str | None:
    """The value the BPMN or Camunda schema gives an attribute of an element when it is absent."""
    return page.evaluate(
        """([id, name]) => {
            const element = orderflowEditor.modeler.get('elementRegistry').get(id);
            const property = element && element.businessObject.$descriptor.propertiesByName[name];
            return property && property.default !== undefined ? String(property.default) : null;
        }""",
        [element_id, attribute],
    )


def drawn(xml: str) -> dict[str, str]:
    """Every DI shape and edge: the element it draws -> its geometry (bounds, waypoints, label bounds)."""
    root = etree.fromstring(xml.encode())
    found = {}
    for element in root.iter(f"{{{DI_NS}}}BPMNShape", f"{{{DI_NS}}}BPMNEdge"):
        geometry = [
            tuple(round(float(g.get(a)), 1) for a in ("x", "y", "width", "height") if g.get(a) is not None)
            for g in element.iter()
            if etree.QName(g).localname in ("Bounds", "waypoint")
        ]
        found[element.get("bpmnElement")] = f"{element.get('isExpanded')}{element.get('isMarkerVisible')}{geometry}"
    return found


def namespaces(xml: str) -> set[str]:
    return {ns for _, ns in etree.iterparse(io.BytesIO(xml.encode()), events=("start-ns",))}


CONDITIONS = [
    ({"join": "and", "groups": [{"join": "and", "rules": [
        {"variable": "total", "op": ">", "value": "1000", "type": "number"}]}]},
     "${total > 1000}", [({"total": 1500}, True), ({"total": 1000}, False)]),
    ({"join": "and", "groups": [{"join": "and", "rules": [
        {"variable": "tier", "op": "==", "value": "gold", "type": "string"},
        {"variable": "total", "op": ">=", "value": "1000", "type": "number"}]}]},
     '${tier == "gold" && total >= 1000}',
     [({"tier": "gold", "total": 1000}, True), ({"tier": "gold", "total": 5}, False)]),
    ({"join": "or", "groups": [
        {"join": "and", "rules": [{"variable": "approved", "op": "==", "value": "true", "type": "boolean"},
                                  {"variable": "total", "op": "<", "value": "500", "type": "number"}]},
        {"join": "and", "rules": [{"variable": "customer.tier", "op": "!=", "value": "new", "type": "string"}]}]},
     '${(approved == true && total < 500) || customer.tier != "new"}',
     [({"approved": True, "total": 800, "customer": {"tier": "new"}}, False),
      ({"approved": False, "total": 1, "customer": {"tier": "gold"}}, True),
      ({"approved": True, "total": 10, "customer": {"tier": "new"}}, True)]),
    ({"join": "and", "groups": [{"join": "or", "rules": [
        {"variable": "note", "op": "==", "value": 'say "hi" \\ bye', "type": "string"},
        {"variable": "tags", "op": "contains", "value": "rush", "type": "string"},
        {"variable": "zip", "op": "==", "value": "01234", "type": "string"}]}]},
     '${note == "say \\"hi\\" \\\\ bye" || tags.contains("rush") || zip == "01234"}',
     [({"note": 'say "hi" \\ bye', "tags": [], "zip": ""}, True), ({"note": "", "tags": ["rush"], "zip": ""}, True),
      ({"note": "", "tags": [], "zip": "01234"}, True), ({"note": "", "tags": ["slow"], "zip": "1234"}, False)]),
    ({"join": "and", "groups": [{"join": "and", "rules": [
        {"variable": "reason", "op": "empty", "value": "", "type": None},
        {"variable": "items", "op": "notEmpty", "value": "", "type": None},
        {"variable": "blocked", "op": "==", "value": "false", "type": "boolean"}]}]},
     "${empty reason && !empty items && blocked == false}",
     [({"reason": "", "items": [1], "blocked": False}, True), ({"reason": "x", "items": [1], "blocked": False}, False),
      ({"reason": None, "items": [], "blocked": False}, False)]),
]  # fmt: skip


def test_the_condition_builder_writes_juel_the_engine_runs_and_reads_it_back(site: Server, page) -> None:
    log_in(page, site, "anna", start="/modeler/processes/order_fulfillment")
    page.wait_for_selector("#modeler[data-ready=true]")
    for model, text, cases in CONDITIONS:
        written = page.evaluate("model => OrderflowConditions.toJuel(model)", model)
        assert written == text
        assert expressions.check(written) == expressions.JUEL  # what the deploy-time lint runs
        for variables, expected in cases:
            assert expressions.evaluate(written, variables) is expected, (written, variables)
        assert page.evaluate("text => OrderflowConditions.parse(text)", written) == model  # opens in the builder again
    for hand_written in ("${a && b || c}", "total >= 1000", "=total > 5", "${execution.getVariable('x') != null}"):
        assert page.evaluate("text => OrderflowConditions.parse(text)", hand_written) is None


def test_the_modeler_runs_scenarios_and_draws_their_coverage_on_the_canvas(site: Server, page) -> None:
    errors = watch_for_errors(page)
    log_in(page, site, "anna", start="/modeler/processes/order_fulfillment")
    page.wait_for_selector("#scenarios[data-ready=true]")
    shipped = page.input_value("[data-testid=scenario-text]")
    assert "process: order_fulfillment" in shipped

    page.click("[data-testid=run-scenarios]")
    page.wait_for_selector("[data-testid=scenario-summary][data-state=passed]")
    summary = page.inner_text("[data-testid=scenario-summary]")
    assert "3 of 3 scenarios passed" in summary and "flows 15/15" in summary
    assert page.locator('.djs-connection.covered[data-element-id="Flow_HighValue"]').count() == 1
    assert page.locator(".djs-element.not-covered").count() == 0

    # Only the small order: the high-value path is drawn as not covered.
    document = yaml.safe_load(shipped)
    document["scenarios"] = [s for s in document["scenarios"] if s["name"] == "a small order ships without the flag"]
    page.fill("[data-testid=scenario-text]", yaml.safe_dump(document))
    page.click("[data-testid=run-scenarios]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=scenario-summary]').textContent.startsWith('1 of 1')"
    )
    assert "flows 12/15" in page.inner_text("[data-testid=scenario-summary]")
    assert page.locator('.djs-element.not-covered[data-element-id="Task_FlagHighValue"]').count() == 1
    assert page.locator('.djs-connection.not-covered[data-element-id="Flow_HighValue"]').count() == 1
    assert errors == []


def test_approvers_see_no_modeler_and_analysts_do(site: Server, page, browser) -> None:
    log_in(page, site, "sam", start="/inbox")
    assert page.locator("header nav a", has_text="Modeler").count() == 0
    assert page.goto(f"{site.url}/modeler").status == 403
    context = browser.new_context()
    try:
        anna = context.new_page()
        log_in(anna, site, "anna")
        assert anna.locator("header nav a", has_text="Modeler").count() == 1
        assert re.search(r"/modeler$", anna.url)
        assert anna.locator("[data-testid=processes] tr[data-key=order_fulfillment]").count() == 1
        assert anna.locator("a.bjs-powered-by").count() == 0  # no canvas on the list page; editors keep the watermark
        anna.goto(f"{site.url}/modeler/processes/order_fulfillment")
        anna.wait_for_selector("#modeler[data-ready=true]")
        assert anna.locator("#canvas .bjs-powered-by").is_visible()
    finally:
        context.close()


# -- what the modeler says about files and problems -----------------------------------------------------------------

STOCK_CHECK = laid_out(
    "stock_check",
    "Stock check",
    [("start", "startEvent", "Order in"), ("check", "userTask", "Check stock"),
     ("gate", "exclusiveGateway", "In stock?"), ("ship", "userTask", "Ship"), ("backorder", "userTask", "Backorder"),
     ("done", "endEvent", "Done"), ("never", "endEvent", "Never reached")],
    [("f1", "start", "check"), ("f2", "check", "gate"), ("Flow_0v6jmcy", "gate", "ship"),
     ("Flow_1b", "gate", "backorder"), ("f3", "ship", "done"), ("f4", "backorder", "done")],
)  # fmt: skip


def problems_listed(page) -> list[str]:
    return page.locator("#problems li").all_inner_texts()


def test_lint_in_the_modeler_names_the_flows_no_order_takes_and_what_no_order_reaches(
    site: Server, page, tmp_path
) -> None:
    errors = watch_for_errors(page)
    log_in(page, site, "anna", start="/modeler/processes/order_fulfillment")
    page.wait_for_selector("#modeler[data-ready=true]")
    (tmp_path / "stock_check.bpmn").write_text(STOCK_CHECK)
    page.set_input_files("#open-file", str(tmp_path / "stock_check.bpmn"))
    lint_settled(page, "warnings")  # was "✓ no problems": orders would all have gone to 'Ship'
    assert page.inner_text("[data-testid=lint-summary]") == "0 errors, 3 warnings"
    listed = problems_listed(page)  # in the order of the lines of the XML the modeler writes

    def said(start: str) -> str:
        return next(text for text in listed if text.startswith(start))

    ship = said("Warning at the flow from 'In stock?' to 'Ship': it has no condition, so every order that gets here")
    assert "give it a condition, or make it the default flow" in ship
    said("Warning at the flow from 'In stock?' to 'Backorder': no order ever takes it")
    said("Warning at the end event 'Never reached': no flow from a start leads to this end event")
    assert len(listed) == 3 and "Flow_0v6jmcy" not in "\n".join(listed)
    assert page.locator("#problems li.warning").nth(2).is_visible()  # the list shows all three
    assert page.locator("[data-testid=lint-badge]").count() == 3  # on the two flows and the end event
    assert errors == []


def test_opening_files_says_what_is_wrong_and_the_heading_follows_the_file(site: Server, page, tmp_path) -> None:
    errors = watch_for_errors(page)
    log_in(page, site, "anna")
    page.fill("[data-testid=new-process] input[name=name]", "Upload test")
    page.click("[data-testid=new-process] button[type=submit]")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.inner_text("[data-testid=heading-name]") == "Upload test"
    message = page.locator("[data-testid=modeler-message]")

    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(picture, "PNG")
    (tmp_path / "photo.bpmn").write_bytes(picture.getvalue())
    page.set_input_files("#open-file", str(tmp_path / "photo.bpmn"))
    message.wait_for()
    assert message.inner_text() == (
        "photo.bpmn is a PNG image, not a BPMN diagram: open a .bpmn file saved by orderflow or Camunda Modeler."
    )
    (tmp_path / "notes.bpmn").write_text("remember to order coffee\n")
    page.set_input_files("#open-file", str(tmp_path / "notes.bpmn"))
    page.wait_for_function("() => document.getElementById('modeler-message').textContent.startsWith('notes.bpmn')")
    assert message.inner_text() == (
        "notes.bpmn is not a BPMN diagram (it is not XML): open a .bpmn file saved by orderflow or Camunda Modeler."
    )
    assert page.inner_text("[data-testid=heading-name]") == "Upload test"  # nothing was opened

    (tmp_path / "stock_check.bpmn").write_text(STOCK_CHECK)
    page.set_input_files("#open-file", str(tmp_path / "stock_check.bpmn"))
    page.wait_for_function("() => document.getElementById('process-key').textContent === 'stock_check'")
    assert message.is_hidden()  # the earlier file's error is gone
    assert page.inner_text("[data-testid=heading-name]") == "Stock check"
    assert page.title().startswith("Stock check")
    assert errors == []


def test_long_and_foreign_names_give_a_heading_that_fits(site: Server, page) -> None:
    errors = watch_for_errors(page)
    long_name = "Approve " + "very " * 58 + "big orders"  # 300 characters
    log_in(page, site, "anna", start=f"/modeler/processes/new?name={long_name}")
    page.wait_for_selector("#modeler[data-ready=true]")
    name, key = page.locator("[data-testid=heading-name]"), page.locator("[data-testid=heading-key]")
    assert name.get_attribute("title") == long_name  # the whole name on hover
    assert len(key.inner_text()) <= 60 and key.inner_text().startswith("approve_very_very")
    width = page.viewport_size["width"]
    for part in (name, key, page.locator("[data-testid=version-state]")):
        box = part.bounding_box()
        assert box["x"] + box["width"] <= width, part  # nothing runs off the page
    assert page.evaluate("e => e.scrollWidth > e.clientWidth", name.element_handle())  # cut, with an ellipsis
    assert name.evaluate("e => getComputedStyle(e).textOverflow") == "ellipsis"

    page.goto(f"{site.url}/modeler/processes/new?name=日本")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.inner_text("[data-testid=heading-name]") == "日本"
    assert page.inner_text("[data-testid=heading-key]") == "ri_ben"
    assert errors == []


def test_rules_edited_to_overlap_are_named_with_an_input_both_match(site: Server, page) -> None:
    errors = watch_for_errors(page)
    log_in(page, site, "anna", start="/modeler/decisions/new?name=Shipping fee")
    page.wait_for_selector("#modeler[data-ready=true]")
    lint_settled(page, "clean")
    cell = page.locator('#dmn-canvas td[data-element-id="InputEntry_2"] [contenteditable]')
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(">= 500")  # now 500 to 999 match both rules
    page.click("#dmn-canvas .decision-table-name")
    lint_settled(page, "errors")
    assert page.locator("#problems li").all_inner_texts() == [
        "Error at rule 2 of decision 'Shipping fee': it overlaps rule 1 [Rule_1]: both match an input where "
        "Order total is 500, and hit policy UNIQUE lets only one rule match, so evaluating the table for such an "
        "input fails: narrow one of the two rules so they never match the same input, or choose another hit policy "
        "(FIRST takes the first rule that matches, COLLECT takes all)"
    ]
    for rule in ("Rule_1", "Rule_2"):  # both rows are outlined
        assert page.locator(f'#dmn-canvas [data-element-id="{rule}"].lint-error').count() >= 1, rule
    assert errors == []
