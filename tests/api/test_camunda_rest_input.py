"""Whatever a Camunda client sends to /engine-rest or /v2, the answer is a clear 4xx in Camunda's error shape, never a
5xx; requests for nothing that exists get 404."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

JUNK = [None, "text", 7, True, [1, 2], {"nested": {"deep": [None]}}, -1, 1.5]

CAMUNDA7 = [
    ("/engine-rest/external-task/fetchAndLock", "workerId"),
    ("/engine-rest/external-task/fetchAndLock", "maxTasks"),
    ("/engine-rest/external-task/fetchAndLock", "topics"),
    ("/engine-rest/external-task/fetchAndLock", "asyncResponseTimeout"),
    ("/engine-rest/external-task/nope/complete", "workerId"),
    ("/engine-rest/external-task/nope/complete", "variables"),
    ("/engine-rest/external-task/nope/failure", "retries"),
    ("/engine-rest/external-task/nope/failure", "retryTimeout"),
    ("/engine-rest/external-task/nope/bpmnError", "errorCode"),
    ("/engine-rest/external-task/nope/extendLock", "newDuration"),
    ("/engine-rest/external-task/nope/unlock", "workerId"),
    ("/engine-rest/process-definition/key/order_fulfillment/start", "variables"),
    ("/engine-rest/process-definition/key/order_fulfillment/start", "businessKey"),
    ("/engine-rest/message", "messageName"),
    ("/engine-rest/message", "businessKey"),
    ("/engine-rest/message", "processInstanceId"),
    ("/engine-rest/message", "correlationKeys"),
    ("/engine-rest/message", "processVariables"),
    ("/engine-rest/task/nope/claim", "userId"),
    ("/engine-rest/task/nope/complete", "variables"),
]
CAMUNDA8 = [
    ("/v2/jobs/activation", "type"),
    ("/v2/jobs/activation", "timeout"),
    ("/v2/jobs/activation", "maxJobsToActivate"),
    ("/v2/jobs/activation", "fetchVariable"),
    ("/v2/jobs/activation", "requestTimeout"),
    ("/v2/jobs/nope/completion", "variables"),
    ("/v2/jobs/nope/failure", "retries"),
    ("/v2/jobs/nope/error", "errorCode"),
    ("/v2/process-instances", "processDefinitionId"),
    ("/v2/process-instances", "variables"),
    ("/v2/messages/publication", "name"),
    ("/v2/messages/correlation", "correlationKey"),
]


@pytest.mark.parametrize("endpoints", [CAMUNDA7, CAMUNDA8], ids=["camunda7", "camunda8"])
def test_junk_in_any_field_is_a_clear_client_error(client: FlaskClient, endpoints: list[tuple[str, str]]) -> None:
    valid = {
        "workerId": "w",
        "maxTasks": 1,
        "topics": [{"topicName": "erp.x", "lockDuration": 1000}],
        "messageName": "m",
        "type": "erp.x",
        "timeout": 1000,
        "maxJobsToActivate": 1,
        "requestTimeout": -1,
        "name": "m",
        "processDefinitionId": "order_fulfillment",
        "errorCode": "E",
    }
    for path, field in endpoints:
        for value in JUNK:
            answer = client.post(path, json={**valid, field: value})
            assert answer.status_code < 500, (path, field, value, answer.get_data(as_text=True))
            if answer.status_code >= 400:
                body = answer.get_json()
                assert ("message" in body and "type" in body) if path.startswith("/engine-rest") else "detail" in body


def test_a_body_that_is_not_a_json_object_is_400(client: FlaskClient) -> None:
    for body in (b"not json", b"[1, 2]", b'"text"', b"{"):
        seven = client.post("/engine-rest/message", data=body, content_type="application/json")
        assert seven.status_code == 400 and seven.get_json()["type"] == "InvalidRequestException"
        eight = client.post("/v2/jobs/activation", data=body, content_type="application/json")
        assert eight.status_code == 400 and eight.get_json()["status"] == 400


def test_bad_query_parameters_are_400(client: FlaskClient) -> None:
    for query in ("locked=maybe", "firstResult=-1", "maxResults=x", "latestVersion=1", "withIncident=yes"):
        for path in ("/engine-rest/external-task", "/engine-rest/process-definition", "/engine-rest/process-instance"):
            answer = client.get(f"{path}?{query}")
            assert answer.status_code in (200, 400), (path, query)
            assert answer.status_code == 200 or answer.get_json()["type"] == "InvalidRequestException"


def test_unknown_things_are_404_in_each_api_shape(client: FlaskClient) -> None:
    assert client.get("/engine-rest/task/nope").get_json()["type"] == "InvalidRequestException"
    assert client.get("/engine-rest/process-instance/nope").status_code == 404
    assert client.delete("/engine-rest/process-instance/nope").status_code == 404
    assert client.get("/engine-rest/history/process-instance/nope").status_code == 404
    assert client.post("/v2/jobs/nope/completion", json={}).status_code == 404
    assert client.put("/engine-rest/task/nope/variables/x").get_json()["type"] == "NotSupported"
