"""External workers over REST: fetch-and-lock by topic, complete, fail with retries, BPMN errors, expired locks."""

from __future__ import annotations

import time

from tests.support.diagrams import ERROR_BOUNDARY, process
from tests.support.rest import activate, assert_problem, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

SERVICE = """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="{topic}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="done"/>
    <bpmn:endEvent id="done"/>
    {boundary}"""


def deploy_external(server: Server, key: str, topic: str, boundary: str = "") -> None:
    name, xml = process(key, SERVICE.format(topic=topic, boundary=boundary))
    if boundary:
        errors = b'<bpmn:error id="Error_Declined" errorCode="PAYMENT_DECLINED"/>'
        xml = xml.replace(b"</bpmn:definitions>", errors + b"</bpmn:definitions>")
    response = deploy(server, (name, xml))
    assert response.status_code == 201, response.text


def start(server: Server, key: str, **variables) -> str:
    return server.post(f"/process-definitions/{key}/instances", json={"variables": variables}).json()["id"]


def test_an_external_worker_completes_a_job(server: Server) -> None:
    deploy_external(server, "ext_complete", "erp.documents")
    instance_id = start(server, "ext_complete", country="US")
    time.sleep(0.2)  # the embedded workers have no connector for this topic and must leave it alone
    jobs = activate(server, "erp.documents", maxJobs=5)
    assert len(jobs) == 1
    job = jobs[0]
    assert job["instanceId"] == instance_id and job["elementId"] == "charge"
    assert job["variables"] == {"country": "US"} and job["retries"] == 3
    assert activate(server, "erp.documents", worker="w2") == []  # locked to w1
    done = server.post(f"/jobs/{job['id']}/complete", json={"workerId": "w1", "variables": {"documents": ["CN23"]}})
    assert done.status_code == 200, done.text
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["documents"] == ["CN23"]
    assert_problem(server.post(f"/jobs/{job['id']}/complete", json={"workerId": "w1"}), 409)


def test_another_worker_or_an_expired_lock_gets_409(server: Server) -> None:
    deploy_external(server, "ext_expire", "erp.tax")
    instance_id = start(server, "ext_expire")
    job = activate(server, "erp.tax", worker="slow", lockDuration=1000)[0]
    assert_problem(server.post(f"/jobs/{job['id']}/complete", json={"workerId": "intruder"}), 409, "not locked")
    time.sleep(1.1)
    again = activate(server, "erp.tax", worker="fast")
    assert [j["id"] for j in again] == [job["id"]]  # the expired lock made it available again
    assert_problem(server.post(f"/jobs/{job['id']}/complete", json={"workerId": "slow"}), 409)
    server.post(f"/jobs/{job['id']}/complete", json={"workerId": "fast", "variables": {"tax": 19}})
    assert wait_until_ended(server, instance_id)["variables"]["tax"] == 19
    assert_problem(server.post("/jobs/nope/complete", json={"workerId": "fast"}), 404)


def test_failures_retry_after_the_backoff_then_open_an_incident(server: Server) -> None:
    deploy_external(server, "ext_fail", "erp.booking")
    instance_id = start(server, "ext_fail")
    job = activate(server, "erp.booking")[0]
    failed = server.post(
        f"/jobs/{job['id']}/fail",
        json={"workerId": "w1", "errorMessage": "carrier API 503", "retries": 1, "retryBackoff": 300},
    )
    assert failed.status_code == 200, failed.text
    assert activate(server, "erp.booking") == []  # not before the backoff
    time.sleep(0.35)
    retry = activate(server, "erp.booking")
    assert [j["id"] for j in retry] == [job["id"]] and retry[0]["retries"] == 1
    server.post(f"/jobs/{job['id']}/fail", json={"workerId": "w1", "errorMessage": "still 503", "retries": 0})
    view = server.get(f"/process-instances/{instance_id}").json()
    assert view["status"] == "incident" and "still 503" in view["incidents"][0]["message"]


def test_a_bpmn_error_takes_the_boundary_path(server: Server) -> None:
    deploy_external(server, "ext_error", "fraud.check", boundary=ERROR_BOUNDARY)
    instance_id = start(server, "ext_error")
    job = activate(server, "fraud.check")[0]
    thrown = server.post(
        f"/jobs/{job['id']}/bpmn-error",
        json={"workerId": "w1", "errorCode": "PAYMENT_DECLINED", "variables": {"reason": "card stolen"}},
    )
    assert thrown.status_code == 200, thrown.text
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["notified"] is True
    completed = [e["elementId"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    assert "cancelled" in completed and "done" not in completed


def test_bad_activation_requests_are_422(server: Server) -> None:
    assert_problem(server.post("/jobs/activate", json={"topic": "x"}), 422, "workerid")
    assert_problem(server.post("/jobs/activate", json={"topic": "x", "workerId": "w", "maxJobs": 0}), 422)
    assert_problem(server.post("/jobs/activate", json={"topic": "x", "workerId": "w", "colour": 1}), 422, "colour")
