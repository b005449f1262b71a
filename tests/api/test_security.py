"""Pages and API, in process: the login cookie (SameSite, Secure under https, dead after logout), the security
headers of pages, what anonymous health shows, and who reads an order's data."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

API = "/api/v1"
PASSWORD = "a-long-password"


def add_person(client: FlaskClient, name: str, roles: list[str], groups: list[str] = ()) -> str:
    """Adds a person with a password and returns an API token of theirs."""
    created = client.post(f"{API}/users", json={"username": name, "password": PASSWORD, "roles": roles,
                                               "groups": list(groups)})  # fmt: skip
    assert created.status_code == 201, created.get_data(True)
    return client.post(f"{API}/users/{name}/tokens", json={"name": "tests"}).json["token"]


def log_in(browser: FlaskClient, name: str, **environ):
    page = browser.get("/login", **environ).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": name, "password": PASSWORD, "csrf_token": csrf}
    return browser.post("/login", data=form, **environ)


def test_the_login_cookie_is_samesite_lax_and_httponly(client: FlaskClient) -> None:
    add_person(client, "olga", ["operator"])
    response = log_in(client.application.test_client(), "olga")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


def test_the_login_cookie_is_secure_under_https(client: FlaskClient) -> None:
    add_person(client, "olga", ["operator"])
    direct = log_in(client.application.test_client(), "olga", base_url="https://orders.example")
    assert "Secure" in direct.headers["Set-Cookie"]
    proxied = log_in(client.application.test_client(), "olga", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in proxied.headers["Set-Cookie"]


def test_a_copied_session_cookie_stops_working_at_logout(client: FlaskClient) -> None:
    add_person(client, "olga", ["operator"])
    browser = client.application.test_client()
    log_in(browser, "olga")
    copied = browser.get_cookie("session").value
    assert browser.get("/inbox").status_code == 200
    page = browser.get("/inbox").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302
    thief = client.application.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/inbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_pages_send_the_security_headers(client: FlaskClient) -> None:
    for response in (client.get("/login"), client.application.test_client().get("/inbox", follow_redirects=True)):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert client.get(f"{API}/process-instances").headers["X-Content-Type-Options"] == "nosniff"


def test_no_page_has_inline_script(client: FlaskClient) -> None:
    """The policy forbids inline script, so the templates must have none: no handler attributes, no script bodies
    (JSON data islands are not run)."""
    from tests.support.paths import ROOT

    for template in (ROOT / "app" / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+=", text), template
        for script in re.finditer(r"<script([^>]*)>(.*?)</script>", text, re.S):
            attributes, body = script.groups()
            assert "src=" in attributes or 'type="application/json"' in attributes or not body.strip(), template


def test_anonymous_health_says_only_up_or_down(client: FlaskClient) -> None:
    anonymous = client.application.test_client().get(f"{API}/health").json
    assert anonymous.get("checks") is None and anonymous["status"] in ("ok", "degraded")
    assert "url" not in str(anonymous) and "circuit" not in str(anonymous)
    detailed = client.get(f"{API}/health").json
    assert detailed["checks"]["database"] == {"ok": True} and "systems" in detailed["checks"]


APPROVAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="approval" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="approve"/>
    <bpmn:userTask id="approve" camunda:candidateGroups="sales"/>
    <bpmn:sequenceFlow id="b" sourceRef="approve" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process></bpmn:definitions>"""


def test_an_order_s_data_is_read_by_its_roles_and_its_approvers_only(client: FlaskClient) -> None:
    import io

    upload = {"files": [(io.BytesIO(APPROVAL.encode()), "approval.bpmn", "application/xml")]}
    assert client.post(f"{API}/deployments", data=upload, content_type="multipart/form-data").status_code == 201
    order = client.post(f"{API}/process-definitions/approval/instances",
                        json={"variables": {"card": "4111-1111", "amount": 900}}).json["id"]  # fmt: skip
    tokens = {
        "sam": add_person(client, "sam", ["approver"], ["sales"]),
        "fiona": add_person(client, "fiona", ["approver"], ["finance"]),
        "ivan": add_person(client, "ivan", ["integrator"]),
    }

    def read(name: str) -> tuple[dict, list]:
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        view = client.get(f"{API}/process-instances/{order}", headers=headers).json
        return view, client.get(f"{API}/process-instances/{order}/events", headers=headers).json["items"]

    for reader in ("sam", "ivan"):  # sam may work the order's task; ivan runs orders
        view, events = read(reader)
        assert view["variables"]["card"] == "4111-1111" and events[0]["data"]["variables"]["amount"] == 900
    view, events = read("fiona")  # an approver of another group: the order's status, not its data
    assert view["status"] == "waiting" and view["variables"] is None
    assert all(event["data"] is None for event in events) and "4111" not in str(events)
