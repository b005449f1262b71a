"""The inbox in a real browser (headless Debian chromium): log in, find the task, claim it, fill its form, decide;
the order moves on. Plus what the pages refuse: other groups' tasks, forms without a CSRF token, wrong passwords."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser import DEMO_PASSWORD, log_in, start_order
from tests.support.diagrams import refund_with_form
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the demo people of the README, and the two test approvals deployed."""
    server = start_server(tmp_path_factory.mktemp("pages"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        for name in ("inbox_approval.bpmn", "inbox_camunda_form.bpmn"):
            assert deploy(server, (name, (DIAGRAMS / name).read_bytes())).status_code == 201
        yield server
    finally:
        stop(server.proc)


def test_an_approver_logs_in_claims_fills_the_form_and_approves(site: Server, page):
    instance_id = start_order(site, "inbox_approval", "ORD-UI-1", total=25000)
    log_in(page, site, "sam")
    assert page.url.endswith("/inbox")
    # Nothing is Sam's yet; the task waits in his group's list.
    page.click("[data-testid=view-group]")
    row = page.locator("[data-testid=task-row]", has_text="ORD-UI-1")
    row.locator("a").click()
    assert page.inner_text("[data-testid=task-name]") == "Approve large order"
    # The diagram is drawn with the waiting step highlighted.
    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.locator("#diagram [data-element-id=approve].current-step").count() == 1
    page.click("[data-testid=claim]")
    assert page.inner_text("[data-testid=assignee]") == "sam"
    # The form's rules hold in the page: a required answer and a maximum discount.
    page.fill("input[name=discount]", "40")
    page.click("[data-testid=complete]")
    errors = page.locator(".field-error")
    expect(errors.filter(has_text="Approve the order? is required")).to_have_count(1)
    expect(errors.filter(has_text="Discount (%) must be at most 15")).to_have_count(1)
    page.check("input[name=approved][value=true]")
    page.fill("input[name=discount]", "5")
    page.fill("input[name=comment]", "good customer")
    page.click("[data-testid=complete]")
    assert "Done: Approve large order for order ORD-UI-1" in page.inner_text(".flash")
    # The order went on along the approved path, with Sam's answers, and the history says who did what.
    ended = wait_until_ended(site, instance_id)
    assert ended["status"] == "completed"
    instance = site.get(f"/process-instances/{instance_id}").json()
    assert (
        instance["variables"] | {"approved": True, "discount": 5, "comment": "good customer"} == instance["variables"]
    )
    events = site.get(f"/process-instances/{instance_id}/events").json()["items"]
    assert [(e["type"], e["actor"]) for e in events if e["type"] in ("task_claimed", "task_completed")] == [
        ("task_claimed", "sam"), ("task_completed", "sam")
    ]  # fmt: skip
    assert "approved_end" in [e["elementId"] for e in events]


def test_another_groups_approver_neither_sees_nor_opens_the_task(site: Server, page):
    start_order(site, "inbox_approval", "ORD-UI-2", total=30000)
    task = next(t for t in site.get("/tasks", params={"businessKey": "ORD-UI-2"}).json()["items"])
    log_in(page, site, "fiona")  # finance, not sales
    page.click("[data-testid=view-all]")
    expect(page.locator("[data-testid=view-all]")).to_have_class("active")
    expect(page.locator("[data-testid=task-row]", has_text="ORD-UI-2")).to_have_count(0)
    response = page.goto(f"{site.url}/inbox/tasks/{task['id']}")
    assert response.status == 403
    assert "not offered to fiona" in page.inner_text("main")


def test_a_camunda_form_renders_validates_and_completes(site: Server, page):
    instance_id = start_order(site, "inbox_camunda_form", "ORD-UI-3", street="Old Street 1")
    task = site.get("/tasks", params={"businessKey": "ORD-UI-3"}).json()["items"][0]
    log_in(page, site, "sam")
    page.goto(f"{site.url}/inbox/tasks/{task['id']}")
    page.wait_for_selector("#formjs[data-ready=true]")
    street = page.get_by_label("Street")
    assert street.input_value() == "Old Street 1"  # the form opens with the order's data
    street.fill("")
    page.click("[data-testid=complete]")
    expect(page.locator("#formjs .fjs-form-field-error").first).to_be_visible()  # form-js refuses, nothing is sent
    assert site.get(f"/tasks/{task['id']}").json()["status"] == "open"
    street.fill("Rue Neuve 5")
    page.locator("#formjs .fjs-form-field-select .fjs-input-group").click()  # form-js draws its own dropdown
    page.locator("#formjs .fjs-dropdownlist-item", has_text="France").click()
    page.get_by_label("The carrier can deliver here").check()
    page.click("[data-testid=complete]")
    page.wait_for_selector(".flash")
    assert wait_until_ended(site, instance_id)["status"] == "completed"
    variables = site.get(f"/process-instances/{instance_id}").json()["variables"]
    assert (variables["street"], variables["country"], variables["deliverable"]) == ("Rue Neuve 5", "FR", True)


def test_the_server_checks_a_camunda_form_too(site: Server):
    """What the browser's form-js checks, the server checks again for anyone posting around it."""
    start_order(site, "inbox_camunda_form", "ORD-UI-4")
    task = site.get("/tasks", params={"businessKey": "ORD-UI-4"}).json()["items"][0]
    assert [f["id"] for f in task["formFields"]] == ["street", "country", "deliverable"]
    bad = site.post(f"/tasks/{task['id']}/complete", json={"variables": {"street": "x" * 61, "country": "XX"}})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"street": ["must be at most 60 characters"], "country": ["must be one of DE, FR"]}


def test_forms_without_a_csrf_token_and_wrong_passwords_are_refused(site: Server):
    browser = requests.Session()
    login_page = browser.get(f"{site.url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
    forged = browser.post(f"{site.url}/login", data={"username": "sam", "password": DEMO_PASSWORD}, timeout=10)
    assert forged.status_code == 400
    wrong = browser.post(f"{site.url}/login", data={"username": "sam", "password": "guess", "csrf_token": token},
                         timeout=10)  # fmt: skip
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    ok = browser.post(f"{site.url}/login", data={"username": "sam", "password": DEMO_PASSWORD, "csrf_token": token},
                      timeout=10, allow_redirects=False)  # fmt: skip
    assert ok.status_code == 302 and ok.headers["Location"] == "/inbox"
    # Logged in, but a posted action still needs the token.
    start_order(site, "inbox_approval", "ORD-UI-CSRF", total=30000)
    task = site.get("/tasks", params={"businessKey": "ORD-UI-CSRF"}).json()["items"][0]
    assert browser.post(f"{site.url}/inbox/tasks/{task['id']}/claim", timeout=10).status_code == 400
    # People without an inbox role do not get one.
    ivan = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', ivan.get(f"{site.url}/login", timeout=10).text).group(1)
    ivan.post(
        f"{site.url}/login", data={"username": "ivan", "password": DEMO_PASSWORD, "csrf_token": token}, timeout=10
    )
    assert ivan.get(f"{site.url}/inbox", timeout=10).status_code == 403


def test_an_operator_reviews_a_discrepancy_seeing_what_was_asked_and_answered(site: Server, page, sandbox_url: str):
    from tests.support.orders import order_with_skewed_payment

    instance_id, task = order_with_skewed_payment(site, sandbox_url, "ORD-UI-REVIEW")
    log_in(page, site, "olga")  # operations, in the reviewers group
    page.goto(f"{site.url}/inbox/tasks/{task['id']}")
    details = page.locator("[data-testid=review-details]")
    assert "amount" in details.inner_text()
    differing = details.locator("tr.overdue")  # the rows where the answer differs from the question
    assert differing.count() >= 1
    page.check("input[name=accept][value=true]")
    page.click("[data-testid=complete]")
    assert "Done: Review" in page.inner_text(".flash")
    assert wait_until_ended(site, instance_id)["status"] == "completed"


def test_a_camunda_form_evaluates_its_feel_constraints_with_the_orders_data(site: Server, page):
    assert deploy(site, refund_with_form("refund_page")).status_code == 201
    instance_id = start_order(site, "refund_page", "ORD-UI-5", amount=250)
    task = site.get("/tasks", params={"businessKey": "ORD-UI-5"}).json()["items"][0]
    log_in(page, site, "sam")
    page.goto(f"{site.url}/inbox/tasks/{task['id']}")
    page.wait_for_selector("#formjs[data-ready=true]")
    page.get_by_label("Refund").fill("300")  # "max": "=amount" is 250 for this order
    page.click("[data-testid=complete]")
    expect(page.locator("#formjs .fjs-form-field-error", has_text="250")).to_have_count(1)
    assert site.get(f"/tasks/{task['id']}").json()["status"] == "open"
    page.get_by_label("Refund").fill("220")
    page.get_by_label("Approval code").fill("A-1")  # shown from 200 on ("hide": "=refund < 200")
    page.click("[data-testid=complete]")
    page.wait_for_selector(".flash")
    assert wait_until_ended(site, instance_id)["status"] == "completed"
