"""Nothing a client or a diagram sends gets a 5xx, in process: numbers past what the database stores, JSON nested
too deeply, pages without a login, task headers without a value, reserved and duplicate element ids, the fallback
error handler itself; infrastructure errors are 503 with Retry-After and never dead letters; Idempotency-Keys and
dead letters; the spec."""

from __future__ import annotations

import io
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from tests.support.diagrams import HEADER, c8, process, simple
from tests.support.rest import assert_problem

API = "/api/v1"
HUGE = "9999999999999999999"  # past SQLite's 64 bits and PostgreSQL's INTEGER


def deploy(client: FlaskClient, *files: tuple[str, bytes]):
    upload = {"files": [(io.BytesIO(data), name, "application/xml") for name, data in files]}
    return client.post(f"{API}/deployments", data=upload, content_type="multipart/form-data")


def _operations_with(client: FlaskClient, names: set[str]) -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every operation in the spec with one of these query parameters."""
    spec = client.get(f"{API}/openapi.json").json
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] in names:
                    found.append((method, path, parameter["name"]))
    return found


def test_numbers_past_the_database_are_422_on_every_operation(client: FlaskClient) -> None:
    deploy(client, ("numbers.bpmn", simple("numbers")))
    operations = _operations_with(client, {"page", "version", "base", "to"})
    assert len(operations) >= 11  # every list and every versioned read, as the spec has them
    for method, path, name in operations:
        url = path.replace("{key}", "numbers").replace("{", "").replace("}", "")
        query = {name: HUGE, "base": "1"} if name == "to" else {name: HUGE}
        body = {} if method == "post" else None
        response = client.open(url, method=method.upper(), query_string=query, json=body)
        assert response.status_code == 422, (method, path, name, response.status_code, response.get_data(True)[:200])
        assert name in response.json["detail"]


def test_json_nested_a_thousand_deep_is_400(client: FlaskClient) -> None:
    deep = '{"variables": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    for url in (f"{API}/process-definitions/order_fulfillment/instances", f"{API}/messages"):
        response = client.post(url, data=deep, content_type="application/json")
        assert_problem(response, 400)
    nested = "[" * 1000 + "]" * 1000
    assert_problem(client.post(f"{API}/messages", data=nested, content_type="application/json"), 400)


def test_the_welcome_page_wants_a_login(client: FlaskClient) -> None:
    response = client.application.test_client().get("/welcome")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


HEADERLESS = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="pay"/>
  <bpmn:serviceTask id="pay"><bpmn:extensionElements><zeebe:taskDefinition type="erp.charge"/>
    <zeebe:taskHeaders><zeebe:header key="method"/><zeebe:header key="bank" value="ACME"/></zeebe:taskHeaders>
  </bpmn:extensionElements></bpmn:serviceTask>
  <bpmn:sequenceFlow id="b" sourceRef="pay" targetRef="e"/><bpmn:endEvent id="e"/>"""


def _activate(client: FlaskClient):
    return client.post(f"{API}/jobs/activate", json={"topic": "erp.charge", "workerId": "w1"})


def test_a_task_header_without_a_value_reaches_the_worker_empty(client: FlaskClient) -> None:
    assert deploy(client, c8("headerless", HEADERLESS)).status_code == 201
    client.post(f"{API}/process-definitions/headerless/instances", json={})
    response = _activate(client)
    assert response.status_code == 200, response.get_data(True)
    assert response.json["jobs"][0]["customHeaders"] == {"method": "", "bank": "ACME"}


def test_jobs_whose_answer_fails_are_given_back_not_locked(client: FlaskClient, monkeypatch) -> None:
    assert deploy(client, c8("headerless", HEADERLESS)).status_code == 201
    client.post(f"{API}/process-definitions/headerless/instances", json={})
    jobs = client.application.extensions["orderflow"].jobs

    def broken(*args, **kwargs):
        raise RuntimeError("reading the headers failed")

    monkeypatch.setattr(jobs, "task_headers", broken)
    assert_problem(_activate(client), 500)
    monkeypatch.undo()
    again = _activate(client)
    assert len(again.json["jobs"]) == 1, "the job stayed locked to a worker that never heard of it"


@pytest.mark.parametrize("element_id", ["Start", "End", "Root", "order.EndJoin"])
def test_reserved_element_ids_are_refused_at_deploy_naming_the_element(client: FlaskClient, element_id: str) -> None:
    body = f"""<bpmn:startEvent id="{element_id}"/><bpmn:sequenceFlow id="a" sourceRef="{element_id}" targetRef="t"/>
      <bpmn:scriptTask id="t"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="b" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"""
    problem = assert_problem(deploy(client, process("order", body)), 422, "reserved")
    assert problem["problems"][0]["elementId"] == element_id


def test_duplicate_element_ids_are_refused_at_deploy(client: FlaskClient) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="t"/>
      <bpmn:scriptTask id="t"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="b" sourceRef="t" targetRef="e"/><bpmn:endEvent id="t"/>"""
    problem = assert_problem(deploy(client, process("twice", body)), 422, "used twice")
    assert problem["problems"][0]["elementId"] == "t"


def test_an_unexpected_error_in_a_start_is_a_plain_500_problem_with_its_dead_letter(client, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.api.instances.start_instance", broken)
    body = assert_problem(client.post(f"{API}/process-definitions/order_fulfillment/instances", json={}), 500)
    assert body["title"] == "Internal Server Error" and "a bug" not in body["detail"] and body["deadLetterId"]


def test_a_database_outage_is_503_with_retry_after_and_no_dead_letter(client, monkeypatch) -> None:
    def outage(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr("app.api.instances.start_instance", outage)
    url = f"{API}/process-definitions/order_fulfillment/instances"
    response = client.post(url, json={}, headers={"Idempotency-Key": "blip-1"})
    assert_problem(response, 503, "send the same request again")
    assert int(response.headers["Retry-After"]) > 0
    monkeypatch.undo()
    assert client.get(f"{API}/dead-letters").json["total"] == 0
    assert client.post(url, json={}, headers={"Idempotency-Key": "blip-1"}).status_code == 201


def test_a_dead_letter_closes_when_the_same_idempotency_key_succeeds(client: FlaskClient) -> None:
    url = f"{API}/process-definitions/order_fulfillment/instances"
    failed = client.post(url, json={}, query_string={"version": 99}, headers={"Idempotency-Key": "order-7"})
    letter = assert_problem(failed, 404)["deadLetterId"]  # no version 99: kept as a dead letter
    started = client.post(url, json={"variables": {"amount": 1}}, headers={"Idempotency-Key": "order-7"})
    assert started.status_code == 201
    closed = client.get(f"{API}/dead-letters/{letter}").json
    assert closed["status"] == "replayed" and closed["instanceId"] == started.json["id"]
    assert client.get(f"{API}/dead-letters").json["total"] == 0


def test_an_idempotency_key_reused_with_another_request_is_422(client: FlaskClient) -> None:
    url = f"{API}/process-definitions/order_fulfillment/instances"
    first = client.post(url, json={"businessKey": "A-1", "variables": {"amount": 1}}, headers={"Idempotency-Key": "k"})
    same = client.post(url, json={"businessKey": "A-1", "variables": {"amount": 1}}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 201 and same.status_code == 200 and same.json["id"] == first.json["id"]
    other = client.post(url, json={"businessKey": "A-2", "variables": {"amount": 2}}, headers={"Idempotency-Key": "k"})
    assert_problem(other, 422, "Idempotency-Key", first.json["id"], "businessKey", "variables")
    assert client.get(f"{API}/dead-letters").json["total"] == 0  # a client's mistake, not a request to replay


def test_a_huge_rejected_start_is_kept_as_an_excerpt_with_its_hash(client: FlaskClient) -> None:
    variables = {"blob": "x" * (9 * 1024 * 1024)}
    failed = client.post(f"{API}/process-definitions/order_fulfillment/instances", json={"variables": variables})
    letter = client.get(f"{API}/dead-letters/{assert_problem(failed, 422)['deadLetterId']}").json
    assert letter["variables"] == {} and letter["body"]["bytes"] > 9 * 1024 * 1024
    assert len(letter["body"]["excerpt"]) == 4096 and len(letter["body"]["sha256"]) == 64
    assert len(json.dumps(letter)) < 10_000
    replay = client.post(f"{API}/dead-letters/{letter['id']}/replay", json={})
    assert_problem(replay, 422, "excerpt")
    fixed = client.post(f"{API}/dead-letters/{letter['id']}/replay", json={"variables": {"amount": 1}})
    assert fixed.status_code == 201


def test_a_flood_of_bad_starts_keeps_a_bounded_number_of_dead_letters(client: FlaskClient) -> None:
    client.application.config["ORDERFLOW_DEAD_LETTERS_PER_MINUTE"] = 3
    url = f"{API}/process-definitions/nowhere/instances"
    answers = [assert_problem(client.post(url, json={"variables": {"n": n}}), 404) for n in range(5)]
    assert [bool(a.get("deadLetterId")) for a in answers] == [True, True, True, False, False]
    assert client.get(f"{API}/dead-letters").json["total"] == 3


def test_the_spec_documents_problem_json_and_multipart(client: FlaskClient) -> None:
    spec = client.get(f"{API}/openapi.json").json
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    for operations in spec["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (status, operation)
    for path in ("/api/v1/deployments", "/api/v1/lint"):
        assert "multipart/form-data" in spec["paths"][path]["post"]["requestBody"]["content"]


# -- decoding and lint of diagrams ------------------------------------------------------------------------

NAMED = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="{key}" name="Bestellung prüfen – Größe" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process></bpmn:definitions>"""


@pytest.mark.parametrize("encoding", ["UTF-16", "ISO-8859-1", "windows-1252"])
def test_diagrams_are_read_in_the_encoding_they_declare(client: FlaskClient, encoding: str) -> None:
    key = "enc_" + encoding.replace("-", "_").lower()
    text = NAMED.format(key=key)
    if encoding == "ISO-8859-1":
        text = text.replace(" –", "")  # no dash in Latin-1
    xml = f'<?xml version="1.0" encoding="{encoding}"?>\n' + text
    assert deploy(client, (f"{key}.bpmn", xml.encode(encoding))).status_code == 201
    stored = client.get(f"{API}/process-definitions/{key}/xml").get_data(as_text=True)
    assert "Bestellung prüfen" in stored and "Größe" in stored and 'encoding="UTF-8"' in stored
    assert client.get(f"{API}/process-definitions/{key}").json["name"].startswith("Bestellung prüfen")
    assert client.post(f"{API}/process-definitions/{key}/instances", json={}).status_code == 201


MAPPED = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="pay"/>
  <bpmn:serviceTask id="pay" camunda:type="external" camunda:topic="erp.pay"><bpmn:extensionElements>
    <camunda:inputOutput>
      <camunda:inputParameter name="amount">${{{source}}}</camunda:inputParameter>
      <camunda:outputParameter name="paid">${{true}}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>
  <bpmn:sequenceFlow id="b" sourceRef="pay" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_mapping_expressions_are_checked_at_deploy(client: FlaskClient) -> None:
    problem = assert_problem(deploy(client, process("mapped", MAPPED.format(source="total +"))), 422, "amount")
    assert problem["problems"][0]["elementId"] == "pay"
    assert deploy(client, process("mapped", MAPPED.format(source="total + 1"))).status_code == 201


def test_reserved_ids_in_a_c7_header_diagram_name_the_file(client: FlaskClient) -> None:
    xml = (HEADER + '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="Root"/></bpmn:process>'
           "</bpmn:definitions>").encode()  # fmt: skip
    problem = assert_problem(deploy(client, ("p.bpmn", xml)), 422)
    assert problem["problems"][0]["file"] == "p.bpmn"


# -- found by probing every route and parameter ------------------------------------------------------------


def test_times_off_the_calendar_and_huge_cursors_are_422(client: FlaskClient) -> None:
    for path in (
        "/audit-events?cursor=99999999999999999999999999",
        "/audit-events?from=0001-01-01T00:00:00Z",
        "/audit-events/export?to=9999-12-31T23:59:59",
        "/metrics/kpis?from=0001-01-01T00:00:00%2B14:00",
        "/metrics/throughput?from=9999-12-31T23:59:59-12:00",
        "/tasks?dueBefore=0001-01-01T00:00:00%2B14:00",
    ):
        assert_problem(client.get(f"{API}{path}"), 422)


def test_nan_and_infinity_are_not_json(client: FlaskClient) -> None:
    url = f"{API}/process-definitions/order_fulfillment/instances"
    for value in ("NaN", "Infinity", "-Infinity"):
        body = '{"variables": {"amount": ' + value + "}}"
        assert_problem(client.post(url, data=body, content_type="application/json"), 400)


def test_the_modeler_s_decision_check_refuses_variables_that_are_not_an_object(client: FlaskClient) -> None:
    from processes.errors import InvalidInput
    from processes.features.decisions import evaluate_decision

    with pytest.raises(InvalidInput, match="JSON object"):
        evaluate_decision(client.application.extensions["orderflow"].engine, "order_settings", "x")
