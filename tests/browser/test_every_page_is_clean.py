"""Every page the app serves, as each demo role opens it on a phone (issue #19): no console error, no script error,
no failed request to orderflow, and nothing that scrolls sideways at 390 px. The pages are read from the app's own
URL map, so a page added later is visited without touching this test; its path parameters are filled from a real
order, task, incident batch and process of the module's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.web.modeler import KINDS
from app.web.people import AREAS
from tests.support.apps import in_process_app
from tests.support.browser import log_in, start_order
from tests.support.paths import DIAGRAMS
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended

PHONE = {"width": 390, "height": 844}
TABS = 10
# One person per role that has pages (README "Demo users"): the approvers fiona and mike see what sam sees.
ROLES = {"admin": ("admin",), "anna": ("analyst",), "sam": ("approver",), "olga": ("operator", "approver"),
         "ivan": ("integrator",)}  # fmt: skip
# Which area of the navigation opens each blueprint's pages (app/web/people.py AREAS); None: anyone logged in.
AREA_OF = {"web_login": None, "web_inbox": "inbox", "web_monitoring": "monitoring", "web_operations": "monitoring",
           "web_modeler": "modeler"}  # fmt: skip
# Pages that show something else without a query: a new diagram needs its name, a comparison and a migration two
# versions.
QUERIES = {"web_modeler.new": "?name=Sweep+page", "web_modeler.diff": "?base=1&to=2",
           "web_operations.migrate": "?from=1&to=2"}  # fmt: skip


def _approval(group: str, key: str, name: str = "Approve") -> tuple[str, bytes]:
    xml = (DIAGRAMS / "inbox_approval.bpmn").read_text()
    xml = xml.replace('candidateGroups="sales"', f'candidateGroups="{group}"').replace("inbox_approval", key)
    return f"{key}.bpmn", xml.replace('name="Approve', f'name="{name}', 1).encode()


@pytest.fixture(scope="module")
def site(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An approval waiting for sales (version 1 of a process with two) and one for operations, a decision table, an
    order in an incident and a batch that retried it."""
    server = start_server(tmp_path_factory.mktemp("sweep"), sandbox_url, ORDERFLOW_DEMO_USERS="true")
    try:
        files = [(name, (DIAGRAMS / name).read_bytes()) for name in ("split_bill.bpmn", "approval_rules.dmn")]
        first = deploy(server, _approval("sales", "sweep_approval"), _approval("operations", "ops_approval"), *files)
        assert first.status_code == 201, first.text
        start_order(server, "sweep_approval", "SWEEP-1", total=5000)
        start_order(server, "ops_approval", "SWEEP-2", total=10)
        table = (DIAGRAMS / "approval_rules.dmn").read_text().replace('name="Approval levels"', 'name="Levels"')
        second = deploy(server, _approval("sales", "sweep_approval", "Approve the order"), ("t.dmn", table.encode()))
        assert second.status_code == 201, second.text  # version 2 of both: something to compare and migrate to
        failing = start_order(server, "ops_split", "SWEEP-3", amount=10, count=0)
        assert wait_until_ended(server, failing)["status"] == "incident"
        incident = server.get("/incidents", params={"instanceId": failing}).json()["items"][0]["id"]
        batch = server.post("/incidents/retry-batch", json={"ids": [incident]})
        assert batch.status_code == 202, batch.text

        def task(key: str) -> str:
            return server.get("/tasks", params={"businessKey": key}).json()["items"][0]["id"]

        server.values = {  # type: ignore[attr-defined]
            "instance_id": failing, "batch_id": batch.json()["batchId"], "sales_task": task("SWEEP-1"),
            "operations_task": task("SWEEP-2"),
        }  # fmt: skip
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(scope="module")
def page_rules(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str | None]]:
    """(rule, endpoint, area) of every page: GET routes of the app/web blueprints, files (diagram.xml, exports)
    aside."""
    app = in_process_app(tmp_path_factory.mktemp("url-map"), deploy_shipped=False)
    rules = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if "GET" not in rule.methods or not blueprint.startswith("web_") or "." in rule.rule.rsplit("/", 1)[-1]:
            continue
        assert blueprint in AREA_OF, f"{blueprint}: which area opens its pages? (AREA_OF)"
        rules.append((rule.rule, rule.endpoint, AREA_OF[blueprint]))
    assert len(rules) >= 15, rules  # the inbox, task, monitoring, operations and modeler pages are all there
    return sorted(rules)


def _paths(rule: str, endpoint: str, values: dict[str, str], user: str) -> list[str]:
    """The rule's path with real values; the modeler's <kinds> gives one page per kind of diagram."""
    task = values["operations_task"] if user == "olga" else values["sales_task"]
    fill = {"<task_id>": task, "<instance_id>": values["instance_id"], "<batch_id>": values["batch_id"]}
    kinds = [None]
    if "<kinds>" in rule:
        kinds = sorted(KINDS)
    paths = []
    for kind in kinds:
        path = rule
        if kind is not None:
            path = path.replace("<kinds>", kind)
            fill["<key>"] = "approval_levels" if kind == "decisions" else "sweep_approval"
        else:
            fill.setdefault("<key>", "sweep_approval")
        for name, value in fill.items():
            path = path.replace(name, value)
        assert "<" not in path, f"{rule}: give its parameters a real value in _paths"
        paths.append(path + QUERIES.get(endpoint, ""))
    return paths


def _watch(page, origin: str, problems: list[str]) -> None:
    """Note every console error, script error and failed or refused request to orderflow of a page in `problems`."""
    page.on("pageerror", lambda error: problems.append(f"{page.url}: script error: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))
    page.on(
        "requestfailed",
        lambda r: r.url.startswith(origin) and problems.append(f"{page.url}: failed {r.url}: {r.failure}"),
    )
    page.on(
        "response",
        lambda r: r.url.startswith(origin) and r.status >= 400 and problems.append(f"{page.url}: {r.status} {r.url}"),
    )


@pytest.mark.parametrize("user", sorted(ROLES))
def test_every_page_opens_clean_and_fits_a_phone(site: Server, page_rules, browser, user: str) -> None:
    roles = ROLES[user]
    paths = [
        path
        for rule, endpoint, area in page_rules
        if area is None or "admin" in roles or set(roles) & set(AREAS[area])  # the pages the navigation offers
        for path in _paths(rule, endpoint, site.values, user)  # type: ignore[attr-defined]
    ]
    context = browser.new_context(viewport=PHONE)
    problems: list[str] = []
    too_wide: list[str] = []
    try:
        login = context.new_page()
        _watch(login, site.url, problems)
        log_in(login, site, user, start="/welcome")
        login.close()
        # A few tabs at a time, as a person opening links in new tabs would: the pages load side by side.
        for at in range(0, len(paths), TABS):
            tabs = []
            for path in paths[at : at + TABS]:
                tab = context.new_page()
                _watch(tab, site.url, problems)
                response = tab.goto(f"{site.url}{path}", wait_until="commit")
                if response.status != 200:
                    problems.append(f"{path}: answered {response.status}")
                tabs.append((path, tab))
            for path, tab in tabs:
                tab.wait_for_load_state("networkidle")
                if tab.locator("[data-ready=error]").count():
                    problems.append(f"{path}: a diagram did not draw")
                width = tab.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"]:
                    too_wide.append(f"{path}: {width} px")
                tab.close()
    finally:
        context.close()
    assert problems == [], "\n".join(problems)
    assert too_wide == [], too_wide
