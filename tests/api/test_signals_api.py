"""`POST /api/v1/signals`: its contract (roles, validation, the answer's shape, the OpenAPI spec)."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.rest import assert_problem


def token_of(client: FlaskClient, username: str, roles: list[str]) -> dict[str, str]:
    created = client.post(
        "/api/v1/users", json={"username": username, "password": "a-long-password", "roles": roles, "groups": []}
    )
    assert created.status_code == 201, created.json
    token = client.post(f"/api/v1/users/{username}/tokens", json={"name": "test"}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_signal_nobody_waits_for_reaches_nobody(client: FlaskClient) -> None:
    answer = client.post("/api/v1/signals", json={"name": "warehouse-open", "variables": {"dock": 4}})
    assert answer.status_code == 200, answer.json
    assert answer.json == {"signal": "warehouse-open", "reached": [], "started": []}


def test_bad_signals_are_422_and_only_integrators_and_operators_send_them(client: FlaskClient) -> None:
    assert_problem(client.post("/api/v1/signals", json={"variables": {}}), 422)
    assert_problem(client.post("/api/v1/signals", json={"name": ""}), 422)
    assert_problem(client.post("/api/v1/signals", json={"name": "x", "unknown": 1}), 422)
    assert_problem(client.post("/api/v1/signals", json={"name": "x"}, headers={"Authorization": "Bearer no"}), 401)
    analyst = token_of(client, "anna", ["analyst"])
    assert_problem(client.post("/api/v1/signals", json={"name": "x"}, headers=analyst), 403)
    integrator = token_of(client, "ivan", ["integrator"])
    assert client.post("/api/v1/signals", json={"name": "x"}, headers=integrator).status_code == 200


def test_the_signal_endpoint_is_in_the_openapi_spec(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/signals"]["post"]
    assert operation["summary"] == "Broadcast a signal" and "200" in operation["responses"]
