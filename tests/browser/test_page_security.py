"""Every page under the Content-Security-Policy, in headless Chromium: the bundles (bpmn-js, dmn-js, form-js, htmx,
uPlot) and the page scripts still draw what they draw, and the browser refuses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.browser import log_in, start_order
from tests.support.diagrams import simple
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Demo people, an approval waiting in the inbox, a form-js task, a decision, and a process with two versions."""
    server = start_server(tmp_path_factory.mktemp("csp"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        files = [(name, (DIAGRAMS / name).read_bytes()) for name in
                 ("inbox_approval.bpmn", "inbox_camunda_form.bpmn", "approval_rules.dmn")]  # fmt: skip
        assert deploy(server, *files).status_code == 201
        for script in ("x = 1", "x = 2"):
            assert deploy(server, ("versions.bpmn", simple("versions", script))).status_code == 201
        start_order(server, "inbox_approval", "CSP-1", total=5000)
        start_order(server, "inbox_camunda_form", "CSP-2")
        yield server
    finally:
        stop(server.proc)


def _task_id(server: Server, business_key: str) -> str:
    return server.get("/tasks", params={"businessKey": business_key}).json()["items"][0]["id"]


def test_every_page_works_under_the_content_security_policy(site: Server, page) -> None:
    refused: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda error: refused.append(f"{page.url}: script error {error}"))
    log_in(page, site, "admin")
    order = site.get("/process-instances", params={"businessKey": "CSP-1"}).json()["items"][0]["id"]
    visits = {
        "/inbox": "[data-testid=who]",
        f"/inbox/tasks/{_task_id(site, 'CSP-1')}": "#diagram .djs-container",
        f"/inbox/tasks/{_task_id(site, 'CSP-2')}": "#formjs .fjs-container",
        "/monitoring": ".uplot",
        "/monitoring/processes/inbox_approval": "#heatmap .djs-container",
        "/monitoring/orders": "[data-testid=order-search]",
        f"/monitoring/orders/{order}": "#diagram[data-ready=true]",
        "/monitoring/audit": "form",
        "/modeler": "[data-testid=new-process]",
        "/modeler/processes/inbox_approval": ".djs-container",
        "/modeler/decisions/approval_levels": ".tjs-table",
        "/modeler/processes/versions/diff?base=1&to=2": "[data-testid=changes] li",
    }
    for path, drawn in visits.items():
        response = page.goto(f"{site.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_selector(drawn, timeout=15_000)
    page.goto(f"{site.url}/monitoring")
    with page.expect_navigation():  # the window filter submits itself (pages.js, no inline handler)
        page.select_option("[data-testid=window]", "24h")
    assert "window=24h" in page.url
    assert not refused, "\n".join(refused)


def _watch(page) -> list[str]:
    """Every console error, script error and failed request of the page, to assert that there are none."""
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    return problems


def test_the_api_docs_show_the_operations_without_the_internet(site: Server, page) -> None:
    outside: list[str] = []

    def only_this_machine(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_machine)
    problems = _watch(page)
    response = page.goto(f"{site.url}/api/v1/docs")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock-tag-section").count() >= 5  # Deployments, Process instances, Tasks, …
    page.get_by_text("/api/v1/process-definitions/{key}/instances", exact=True).first.wait_for()
    assert page.locator(".opblock").count() > 20
    assert not outside, outside
    assert not problems, "\n".join(problems)


def test_a_mistyped_address_shows_a_page_with_places_to_go(site: Server, page) -> None:
    problems = _watch(page)
    response = page.goto(f"{site.url}/nope")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.get_by_text("There is no page at /nope.").is_visible()
    page.get_by_role("link", name="Log in").click()
    page.wait_for_url("**/login*")
    log_in(page, site, "admin")
    page.goto(f"{site.url}/nope")
    places = page.locator("[data-testid=places]")
    for place in ("Inbox", "Modeler", "Monitoring", "API docs"):
        assert places.get_by_role("link", name=place).is_visible(), place
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{site.url}{icon}").ok
    assert page.request.get(f"{site.url}/favicon.ico").headers["content-type"] == "image/vnd.microsoft.icon"
    problems = [p for p in problems if "404" not in p]  # the two visits to /nope answer 404 on purpose
    assert not problems, "\n".join(problems)
