"""Every page under the Content-Security-Policy, in headless Chromium: the bundles (bpmn-js, dmn-js, form-js, htmx,
uPlot) and the page scripts still draw what they draw, and the browser refuses nothing."""

from __future__ import annotations

from collections.abc import Iterator

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
