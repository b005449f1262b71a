"""Camunda 8's REST calls for job workers and starts, over plain HTTP as Camunda's documentation shows them, against
/v2 of a real `orderflow serve`: a job worker sending the order story's customer messages (`notify.customer`, left
to external workers with ORDERFLOW_EXTERNAL_TOPICS) while orders started with POST /v2/process-instances complete
against the sandbox systems; job failures, BPMN errors, messages and the errors Camunda 8 answers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import requests

from connectors import JobContext, build_registry
from tests.support.diagrams import c8, signal_wait
from tests.support.order_story import events, finished, order, sent
from tests.support.rest import add_user, deploy
from tests.support.server import TOKEN, Server, start_server, stop
from tests.support.waiting import wait_until_ended


@pytest.fixture(scope="module")
def server(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("camunda8"), sandbox_url, ORDERFLOW_EXTERNAL_TOPICS="notify.customer")
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(scope="module")
def client(server: Server) -> requests.Session:
    """An integrator's session, with the Bearer token a Camunda 8 client sends."""
    session = add_user(server, "ivan", ["integrator"])
    session.headers["Content-Type"] = "application/json"
    return session


def v2(server: Server, path: str) -> str:
    return f"{server.url}/v2{path}"


class JobWorker:
    """A Camunda 8 job worker over REST: activate jobs of a type (long polling), do the work, report the result."""

    def __init__(self, server: Server, session: requests.Session, sandbox_url: str, job_type: str) -> None:
        self.server, self.session, self.job_type = server, session, job_type
        self.registry = build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url})
        self.stopped = threading.Event()
        self.failed: set[str] = set()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.is_set():
            answer = self.session.post(
                v2(self.server, "/jobs/activation"),
                json={"type": self.job_type, "worker": "notifier", "timeout": 10000, "maxJobsToActivate": 5,
                      "requestTimeout": 1000},
                timeout=30,
            )  # fmt: skip
            answer.raise_for_status()
            for job in answer.json()["jobs"]:
                self.work(job)

    def work(self, job: dict) -> None:
        key = job["jobKey"]
        if job["variables"].get("workerTrouble") == "fail-once" and key not in self.failed:
            self.failed.add(key)
            failure = {"retries": job["retries"] - 1, "errorMessage": "mail server busy", "retryBackOff": 100}
            self.session.post(v2(self.server, f"/jobs/{key}/failure"), json=failure, timeout=30).raise_for_status()
            return
        context = JobContext(
            job_id=key,
            idempotency_key=f"c8-{key}",
            attempt=1,
            instance_id=job["processInstanceKey"],
            business_key=None,
            element_id=job["elementId"],
            topic=job["type"],
        )
        result = self.registry.get(job["type"])(job["variables"], context)
        done = self.session.post(v2(self.server, f"/jobs/{key}/completion"), json={"variables": result}, timeout=30)
        done.raise_for_status()


@pytest.fixture(scope="module")
def notifier(server: Server, client: requests.Session, sandbox_url: str) -> Iterator[JobWorker]:
    worker = JobWorker(server, client, sandbox_url, "notify.customer")
    worker.thread.start()
    try:
        yield worker
    finally:
        worker.stopped.set()
        worker.thread.join(10)


def start(server: Server, client: requests.Session, key: str, variables: dict) -> str:
    answer = client.post(v2(server, "/process-instances"), json={"processDefinitionId": key, "variables": variables})
    assert answer.status_code == 200, answer.text
    assert answer.json()["processDefinitionId"] == key
    return answer.json()["processInstanceKey"]


def test_orders_started_over_v2_complete_with_a_job_worker_sending_the_customer_messages(
    server: Server, client: requests.Session, sandbox_url: str, notifier: JobWorker
) -> None:
    order_id = f"ORD-{uuid.uuid4().hex[:8]}"
    instance_id = start(server, client, "order_management", order(orderId=order_id))
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip" and done["variables"]["notificationId"]
    assert sent(sandbox_url, order_id) == ["order_shipped"]  # sent by the job worker
    notified = [e for e in events(server, instance_id) if e["elementId"] == "Task_NotifyShipped"]
    assert any(e["type"] == "element_completed" and e["actor"] == "ivan" for e in notified)

    flaky_id = f"ORD-{uuid.uuid4().hex[:8]}"
    flaky = start(server, client, "order_management", order(orderId=flaky_id, workerTrouble="fail-once"))
    assert finished(server, flaky)["variables"]["orderOutcome"] == "readyToShip"
    failures = [e for e in events(server, flaky) if e["type"] == "job_failed"]
    assert [e["data"]["error"] for e in failures] == ["mail server busy"]
    assert sent(sandbox_url, flaky_id) == ["order_shipped"]


INVOICE = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="invoice"/>
  <bpmn:serviceTask id="invoice"><bpmn:extensionElements><zeebe:taskDefinition type="erp.invoice" retries="3"/>
    <zeebe:taskHeaders><zeebe:header key="ledger" value="EU-1"/></zeebe:taskHeaders></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="b" sourceRef="invoice" targetRef="paid"/>
  <bpmn:intermediateCatchEvent id="paid"><bpmn:messageEventDefinition messageRef="Msg_Paid"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="c" sourceRef="paid" targetRef="e"/><bpmn:endEvent id="e"/>
  <bpmn:boundaryEvent id="refused" attachedToRef="invoice"><bpmn:errorEventDefinition errorRef="Err_Refused"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="d" sourceRef="refused" targetRef="r"/><bpmn:endEvent id="r"/>"""
MESSAGES = """<bpmn:message id="Msg_Paid" name="invoice-paid">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=invoiceNo"/></bpmn:extensionElements>
  </bpmn:message><bpmn:error id="Err_Refused" errorCode="INVOICE_REFUSED"/>"""


@pytest.fixture(scope="module")
def invoicing(server: Server) -> str:
    name, xml = c8("c8_invoicing", INVOICE)
    xml = xml.replace(b"</bpmn:definitions>", MESSAGES.encode() + b"</bpmn:definitions>")
    deployed = server.http.post(f"{server.api}/deployments", files={name: (name, xml)}, timeout=30)
    assert deployed.status_code == 201, deployed.text
    return "c8_invoicing"


def activate_one(server: Server, client: requests.Session, **extra) -> dict:
    body = {"type": "erp.invoice", "worker": "ledger", "timeout": 5000, "maxJobsToActivate": 1, **extra}
    answer = client.post(v2(server, "/jobs/activation"), json=body)
    assert answer.status_code == 200, answer.text
    [job] = answer.json()["jobs"]
    return job


def test_a_job_completes_and_a_message_correlates_by_its_key(
    server: Server, client: requests.Session, invoicing: str
) -> None:
    instance_id = start(server, client, invoicing, {"invoiceNo": "INV-7", "amount": 120.5, "customer": {"id": "C-1"}})
    job = activate_one(server, client, fetchVariable=["invoiceNo", "amount"], requestTimeout=5000)
    assert job["processInstanceKey"] == instance_id and job["processDefinitionId"] == invoicing
    assert job["elementId"] == "invoice" and job["retries"] == 3 and job["worker"] == "ledger"
    assert job["variables"] == {"invoiceNo": "INV-7", "amount": 120.5} and job["customHeaders"] == {"ledger": "EU-1"}
    assert job["deadline"] > 0
    done = client.post(v2(server, f"/jobs/{job['jobKey']}/completion"), json={"variables": {"booked": True}})
    assert done.status_code == 204, done.text
    again = client.post(v2(server, f"/jobs/{job['jobKey']}/completion"), json={})
    assert again.status_code == 409 and again.headers["Content-Type"] == "application/problem+json"

    nobody = client.post(v2(server, "/messages/publication"), json={"name": "invoice-paid", "correlationKey": "X"})
    assert nobody.status_code == 404 and "no process instance is waiting" in nobody.json()["detail"]
    paid = client.post(
        v2(server, "/messages/correlation"),
        json={"name": "invoice-paid", "correlationKey": "INV-7", "variables": {"paidOn": "2027-01-02"}},
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["processInstanceKey"] == instance_id
    ended = wait_until_ended(server, instance_id)
    assert ended["status"] == "completed" and ended["variables"]["booked"] is True
    assert ended["variables"]["paidOn"] == "2027-01-02"


def test_a_job_error_takes_the_boundary_event_and_a_failure_without_retries_is_an_incident(
    server: Server, client: requests.Session, invoicing: str
) -> None:
    refused = start(server, client, invoicing, {"invoiceNo": "INV-8"})
    job = activate_one(server, client)
    thrown = client.post(
        v2(server, f"/jobs/{job['jobKey']}/error"),
        json={"errorCode": "INVOICE_REFUSED", "errorMessage": "customer blocked", "variables": {"why": "blocked"}},
    )
    assert thrown.status_code == 204, thrown.text
    ended = wait_until_ended(server, refused)
    assert ended["status"] == "completed" and ended["variables"]["why"] == "blocked"
    assert "r" in [e["elementId"] for e in events(server, refused) if e["type"] == "element_completed"]

    stuck = start(server, client, invoicing, {"invoiceNo": "INV-9"})
    job = activate_one(server, client)
    failed = client.post(
        v2(server, f"/jobs/{job['jobKey']}/failure"), json={"retries": 0, "errorMessage": "ledger closed"}
    )
    assert failed.status_code == 204, failed.text
    view = server.get(f"/process-instances/{stuck}").json()
    assert view["status"] == "incident" and "ledger closed" in view["incidents"][0]["message"]


def test_what_camunda_8_clients_see_of_the_cluster_and_of_mistakes(server: Server, client: requests.Session) -> None:
    topology = client.get(v2(server, "/topology")).json()
    assert topology["clusterSize"] == 1 and topology["brokers"][0]["partitions"][0]["role"] == "leader"
    empty = client.post(
        v2(server, "/jobs/activation"),
        json={"type": "nobody.serves", "timeout": 1000, "maxJobsToActivate": 1, "requestTimeout": -1},
    )
    assert empty.status_code == 200 and empty.json() == {"jobs": []}
    no_type = client.post(v2(server, "/jobs/activation"), json={"timeout": 1000, "maxJobsToActivate": 1})
    assert no_type.status_code == 400 and "type is required" in no_type.json()["detail"]
    unknown = client.post(v2(server, "/process-instances"), json={"processDefinitionId": "no_such_process"})
    assert unknown.status_code == 404 and "no_such_process" in unknown.json()["detail"]
    assert deploy(server, signal_wait("c8_signal_wait", "c8-dock-open")).status_code == 201
    waiting = [start(server, client, "c8_signal_wait", {}) for _ in range(2)]
    signal = client.post(
        v2(server, "/signals/broadcast"), json={"signalName": "c8-dock-open", "variables": {"dock": 7}}
    )
    assert signal.status_code == 200 and signal.json()["tenantId"] == "<default>", signal.text
    for instance_id in waiting:
        view = server.get(f"/process-instances/{instance_id}").json()
        assert view["status"] == "completed" and view["variables"]["dock"] == 7
    other = client.get(v2(server, "/user-tasks/search"))
    assert other.status_code == 404 and "not supported by orderflow" in other.json()["detail"]
    anonymous = requests.post(v2(server, "/jobs/activation"), json={}, timeout=10)
    assert anonymous.status_code == 401
    basic = requests.get(v2(server, "/topology"), auth=("demo", TOKEN), timeout=10)
    assert basic.status_code == 200  # Basic with the API token as password works too
