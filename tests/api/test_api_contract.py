"""The REST API's contract, in process: status codes, problem+json errors, pagination and the token check, answered by
the Flask app itself (tests/api/conftest.py's `client`), no server process needed."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient

from tests.support.diagrams import simple
from tests.support.rest import assert_problem

API = "/api/v1"


def deploy(client: FlaskClient, *files: tuple[str, bytes]):
    upload = {"files": [(io.BytesIO(data), name, "application/xml") for name, data in files]}
    return client.post(f"{API}/deployments", data=upload, content_type="multipart/form-data")


def total(client: FlaskClient, **params: str) -> int:
    return client.get(f"{API}/process-instances", query_string=params).json["total"]


def test_openapi_spec_lists_the_contract(client: FlaskClient) -> None:
    spec = client.application.test_client().get(f"{API}/openapi.json").json  # no token needed
    paths = spec["paths"]
    for path in (
        "/api/v1/deployments",
        "/api/v1/process-definitions/{key}/instances",
        "/api/v1/process-instances/{instance_id}/events",
        "/api/v1/process-instances/{instance_id}/cancel",
        "/api/v1/health",
    ):
        assert path in paths, path


def test_requests_without_the_token_are_refused(client: FlaskClient) -> None:
    anonymous = client.application.test_client()  # no Authorization header at all
    assert_problem(anonymous.get(f"{API}/process-instances"), 401)
    assert_problem(client.get(f"{API}/process-instances", headers={"Authorization": "Bearer wrong"}), 401)


def test_list_instances_filters_and_paginates(client: FlaskClient) -> None:
    deploy(client, ("listed.bpmn", simple("listed")))
    ids = [
        client.post(f"{API}/process-definitions/listed/instances", json={"variables": {"amount": n}}).json["id"]
        for n in range(5)
    ]
    page1 = client.get(f"{API}/process-instances", query_string={"processKey": "listed", "perPage": 2}).json
    page3 = client.get(f"{API}/process-instances", query_string={"processKey": "listed", "perPage": 2, "page": 3}).json
    assert page1["total"] == 5 and len(page1["items"]) == 2 and len(page3["items"]) == 1
    seen = {i["id"] for i in page1["items"]} | {i["id"] for i in page3["items"]}
    assert seen <= set(ids)
    assert total(client, processKey="listed", status="completed") == 5
    assert_problem(client.get(f"{API}/process-instances", query_string={"status": "sleeping"}), 422, "status")


def test_list_instances_by_business_key_prefix_matches_the_prefix_as_written(client: FlaskClient) -> None:
    deploy(client, ("prefixed.bpmn", simple("prefixed")))
    for key in ("P%1", "P_2", "P/3", "PX4", "Q-5"):
        client.post(
            f"{API}/process-definitions/prefixed/instances", json={"businessKey": key, "variables": {"amount": 1}}
        )
    listed = client.get(f"{API}/process-instances", query_string={"businessKeyPrefix": "P%", "perPage": 1}).json
    assert listed["total"] == 1 and [i["businessKey"] for i in listed["items"]] == ["P%1"]
    assert total(client, processKey="prefixed", businessKeyPrefix="P_") == 1  # not "any character"
    assert total(client, processKey="prefixed", businessKeyPrefix="P/") == 1
    assert total(client, processKey="prefixed", businessKeyPrefix="P") == 4
    assert total(client, processKey="prefixed", businessKeyPrefix="P", status="completed") == 4
    assert total(client, processKey="prefixed", businessKeyPrefix="P", businessKey="PX4") == 1
    assert total(client, processKey="prefixed", businessKeyPrefix="P", status="running") == 0
    second = client.get(
        f"{API}/process-instances", query_string={"processKey": "prefixed", "businessKeyPrefix": "P", "perPage": 3,
                                                  "page": 2}
    ).json  # fmt: skip
    assert second["total"] == 4 and second["page"] == 2 and second["perPage"] == 3 and len(second["items"]) == 1


# -- bad input -----------------------------------------------------------------------------------------


def test_unknown_process_key_is_404(client: FlaskClient) -> None:
    assert_problem(client.post(f"{API}/process-definitions/nope/instances", json={}), 404, "nope")
    assert_problem(client.get(f"{API}/process-definitions/nope"), 404)
    assert_problem(client.get(f"{API}/process-instances/does-not-exist"), 404)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"variables": [1, 2]}, "variables"),
        ({"variables": "x"}, "variables"),
        ({"variables": {}, "colour": "red"}, "colour"),
        ({"variables": {"__class__": 1}}, "__class__"),
        ({"variables": {"2 words": 1}}, "2 words"),  # names with spaces are FEEL names; this one starts with a digit
        ({"businessKey": 5}, "businesskey"),
    ],
)
def test_bad_start_requests_are_422_and_start_nothing(client: FlaskClient, body: dict, fragment: str) -> None:
    before = total(client, processKey="order_fulfillment")
    assert_problem(client.post(f"{API}/process-definitions/order_fulfillment/instances", json=body), 422, fragment)
    after = total(client, processKey="order_fulfillment")
    assert after == before


def test_malformed_json_body_is_400(client: FlaskClient) -> None:
    response = client.post(
        f"{API}/process-definitions/order_fulfillment/instances",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_malformed_xml_is_rejected(client: FlaskClient) -> None:
    assert_problem(deploy(client, ("broken.bpmn", b"<bpmn:definitions")), 422, "not well-formed")


def test_xxe_and_entity_bombs_are_refused_without_reading_anything(client: FlaskClient) -> None:
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="xxe" isExecutable="true"><bpmn:documentation>&secret;</bpmn:documentation>
  <bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>"""
    body = assert_problem(deploy(client, ("xxe.bpmn", xxe)), 422, "doctype")
    assert "root:" not in str(body)
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">' + lol + "]>"
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&l9;</bpmn:definitions>'
    ).encode()
    assert_problem(deploy(client, ("bomb.bpmn", bomb)), 422)
    assert_problem(client.get(f"{API}/process-definitions/xxe"), 404)


def test_files_over_the_size_limit_are_413(client: FlaskClient) -> None:
    big = simple("big").replace(b"<bpmn:startEvent", b"<!--" + b"x" * (3 * 1024 * 1024) + b"--><bpmn:startEvent")
    assert_problem(deploy(client, ("big.bpmn", big)), 413, "limit")


def test_unsupported_elements_are_named_with_their_id(client: FlaskClient) -> None:
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="complex" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Gateway_Weird"/>
    <bpmn:complexGateway id="Gateway_Weird"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Gateway_Weird" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:dataStoreReference id="Store_Orders"/>
  </bpmn:process>
</bpmn:definitions>"""
    body = assert_problem(deploy(client, ("complex.bpmn", xml)), 422)
    problems = {p["elementId"]: p for p in body["problems"]}
    assert problems["Gateway_Weird"]["elementType"] == "bpmn:complexGateway"
    assert problems["Gateway_Weird"]["line"] == 6
    assert problems["Store_Orders"]["elementType"] == "bpmn:dataStoreReference"


def test_hostile_expressions_are_refused_at_deploy(client: FlaskClient) -> None:
    body = assert_problem(
        deploy(client, ("evil.bpmn", simple("evil", "x = __import__('os').system('touch /tmp/pwned')", "Task_Evil"))),
        422,
        "__import__",
    )
    assert body["problems"][0]["elementId"] == "Task_Evil"


def test_non_bpmn_files_are_rejected(client: FlaskClient) -> None:
    assert_problem(deploy(client, ("notes.bpmn", b"<html><body>hi</body></html>")), 422, "not a bpmn")
    assert_problem(client.post(f"{API}/deployments", data={"x": "y"}), 422, "upload")
