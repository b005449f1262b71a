"""Camunda 7 clients from PyPI, unmodified, against /engine-rest of a real `orderflow serve`: a
`camunda-external-task-client-python3` worker serving the order story's compliance topics (completing, failing
and throwing BPMN errors), and `pycamunda` starting orders, correlating messages and working the inbox. The
server leaves `tax.calculate` and `customs.documents` to external workers (ORDERFLOW_EXTERNAL_TOPICS), as an
installation does whose Camunda workers keep serving them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pycamunda.message
import pycamunda.processdef
import pycamunda.processinst
import pycamunda.task
import pytest
import requests
from requests.auth import HTTPBasicAuth

from tests.support.diagrams import ERROR_BOUNDARY, process, service_task, signal_wait
from tests.support.order_story import completed, events, finished, order, sent, waiting_at
from tests.support.paths import ROOT
from tests.support.rest import add_user, deploy, start
from tests.support.server import TOKEN, Server, read_line, start_server, stop

ZURICH = {"name": "Ada Lovelace", "street": "Bahnhofstrasse 1", "city": "Zurich", "postalCode": "8001", "country": "CH"}
EXTERNAL = ("tax.calculate", "customs.documents")


@pytest.fixture(scope="module")
def server(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("camunda7"), sandbox_url, ORDERFLOW_EXTERNAL_TOPICS=",".join(EXTERNAL)
    )
    try:
        yield server
    finally:
        stop(server.proc)


def token_of(session: requests.Session) -> str:
    return session.headers["Authorization"].split()[1]


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, str]:
    """API tokens: ivan integrates (workers, starts, messages), sam works the sales inbox."""
    return {
        "ivan": token_of(add_user(server, "ivan", ["integrator"])),
        "sam": token_of(add_user(server, "sam", ["approver"], ["sales"])),
        "olga": token_of(add_user(server, "olga", ["operator", "approver"], ["operations"])),
    }


@pytest.fixture(scope="module")
def worker(server: Server, sandbox_url: str, people: dict[str, str]) -> Iterator[None]:
    """The external-task worker, a process of its own with ivan's token as its Basic password."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.camunda_worker", server.url, people["ivan"], sandbox_url, *EXTERNAL],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert read_line(proc.stdout, 30).startswith("worker subscribing")
        yield
    finally:
        stop(proc)


@pytest.fixture(autouse=True)
def healthy_sandbox(sandbox_url: str) -> Iterator[None]:
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield


def engine_rest(server: Server) -> str:
    return f"{server.url}/engine-rest"


def start_order(server: Server, token: str, business_key: str, **variables) -> str:
    """Start an order with pycamunda, objects sent as Json variables as a Camunda client sends them."""
    start = pycamunda.processdef.StartInstance(engine_rest(server), key="order_management", business_key=business_key)
    for name, value in order(**variables).items():
        if isinstance(value, dict | list):
            start.add_variable(name, json.dumps(value), type_="Json")
        else:
            start.add_variable(name, value, type_="String")
    start.auth = HTTPBasicAuth("ivan", token)
    instance = start()
    assert instance.business_key == business_key and instance.definition_id
    return instance.id_


def camunda(server: Server, token: str) -> requests.Session:
    session = requests.Session()
    session.auth = HTTPBasicAuth("someone", token)
    return session


# -- the order story through Camunda clients -------------------------------------------------------------------


def test_an_order_abroad_completes_with_its_compliance_done_by_a_camunda_worker(
    server: Server, sandbox_url: str, people: dict, worker: None
) -> None:
    business_key = f"ORD-{uuid.uuid4().hex[:8]}"
    instance_id = start_order(server, people["ivan"], business_key, shippingAddress=dict(ZURICH))
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    assert done["variables"]["customsDocuments"]  # what the worker got from the customs system
    passed = completed(server, instance_id)
    assert "SubProcess_Compliance" in passed
    worked = [e for e in events(server, instance_id) if e["type"] == "element_completed" and e["actor"] == "ivan"]
    assert {e["elementId"] for e in worked} >= {"Task_CalculateTax", "Task_CustomsDocuments"}
    assert sent(sandbox_url, business_key)[-1] == "order_shipped"
    # The ended order is history, with the worker's variables typed as Camunda types them.
    history = camunda(server, people["ivan"]).get(
        f"{engine_rest(server)}/history/process-instance", params={"processInstanceBusinessKey": business_key}
    )
    assert [(h["id"], h["state"]) for h in history.json()] == [(instance_id, "COMPLETED")]
    variables = camunda(server, people["ivan"]).get(
        f"{engine_rest(server)}/history/variable-instance", params={"processInstanceId": instance_id}
    )
    by_name = {v["name"]: v for v in variables.json()}
    assert by_name["customsDocuments"]["type"] == "Json" and json.loads(by_name["customsDocuments"]["value"])
    assert by_name["orderOutcome"] == {**by_name["orderOutcome"], "type": "String", "value": "readyToShip"}
    gone = camunda(server, people["ivan"]).get(f"{engine_rest(server)}/process-instance/{instance_id}")
    assert gone.status_code == 404 and gone.json()["type"] == "InvalidRequestException"


def test_a_worker_failure_is_retried_and_the_order_completes(server: Server, people: dict, worker: None) -> None:
    business_key = f"ORD-{uuid.uuid4().hex[:8]}"
    instance_id = start_order(
        server, people["ivan"], business_key, shippingAddress=dict(ZURICH), workerTrouble="fail-once"
    )
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    failures = [e for e in events(server, instance_id) if e["type"] == "job_failed"]
    assert failures and all("the tax service timed out" in e["data"]["error"] for e in failures)
    assert "read timeout after 10 s" in failures[0]["data"]["error"]  # errorDetails kept with the message


def test_a_denied_party_is_a_bpmn_error_thrown_by_the_worker_and_blocks_the_order(
    server: Server, sandbox_url: str, people: dict, worker: None
) -> None:
    business_key = f"ORD-{uuid.uuid4().hex[:8]}"
    denied = {"id": "C-DENIED", "name": "Denied Trading Ltd", "email": "x@denied.example"}
    instance_id = start_order(server, people["ivan"], business_key, shippingAddress=dict(ZURICH), customer=denied)
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "blocked"
    assert done["variables"]["workerNote"] == "customs.documents: DENIED_PARTY"  # the BPMN error's variables
    assert sent(sandbox_url, business_key) == ["order_blocked"]


def test_pycamunda_works_the_review_task_and_the_order_completes(server: Server, people: dict) -> None:
    business_key = f"ORD-{uuid.uuid4().hex[:8]}"
    no_city = {"street": "Unter den Linden 5", "postalCode": "10117", "country": "DE"}
    key_account = {"id": "C-KEY-7", "email": "buyer@bigcorp.example", "tier": "gold", "accountType": "key"}
    instance_id = start_order(server, people["ivan"], business_key, shippingAddress=no_city, customer=key_account)
    waiting_at(server, instance_id, "Task_ReviewOrder")

    sam = HTTPBasicAuth("sam", people["sam"])
    listing = pycamunda.task.GetList(engine_rest(server), candidate_group="sales", process_instance_id=instance_id)
    listing.auth = sam
    [task] = listing()
    assert task.name == "Review the order" and task.task_definition_key == "Task_ReviewOrder"
    assert task.assignee is None and task.created is not None
    claim = pycamunda.task.Claim(engine_rest(server), id_=task.id_, user_id="sam")
    claim.auth = sam
    claim()
    form = requests.get(f"{engine_rest(server)}/task/{task.id_}/form-variables", auth=sam, timeout=10)
    assert form.status_code == 200 and "reviewDecision" in form.json()
    complete = pycamunda.task.Complete(engine_rest(server), id_=task.id_)
    complete.add_variable("reviewDecision", "accept", type_="String")
    complete.add_variable("reviewNote", "called them: Berlin, Mitte", type_="String")
    complete.auth = sam
    complete()
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "readyToShip"
    assert done["variables"]["validation"] == {"decision": "accept", "reason": "called them: Berlin, Mitte"}
    assert [(e["elementId"], e["actor"]) for e in events(server, instance_id) if e["type"] == "task_completed"] == [
        ("Task_ReviewOrder", "sam")
    ]


def test_pycamunda_cancels_an_order_by_message_and_compensation_undoes_it(server: Server, people: dict) -> None:
    business_key = f"ORD-{uuid.uuid4().hex[:8]}"
    items = [{"sku": "SKU-1014", "quantity": 1, "unitPrice": 9.9, "category": "hazardous"}]
    instance_id = start_order(server, people["ivan"], business_key, items=items)
    waiting_at(server, instance_id, "Task_CheckDangerousGoods")
    running = pycamunda.processinst.GetList(engine_rest(server), business_key=business_key)
    running.auth = HTTPBasicAuth("ivan", people["ivan"])
    assert [p.id_ for p in running()] == [instance_id]

    cancel = pycamunda.message.CorrelateSingle(
        engine_rest(server), message_name="order-cancelled", business_key=business_key, result_enabled=True
    )
    cancel.add_process_variable("cancellationReason", "ordered twice", type_="String")
    cancel.auth = HTTPBasicAuth("ivan", people["ivan"])
    [result] = cancel()
    assert result.result_type == pycamunda.message.ResultType.execution
    assert result.execution.process_instance_id == instance_id
    done = finished(server, instance_id)
    assert done["variables"]["orderOutcome"] == "cancelled"
    assert done["variables"]["cancellationReason"] == "ordered twice"
    undone = [e["data"]["handler"] for e in events(server, instance_id) if e["type"] == "compensation_completed"]
    assert "Task_VoidPayment" in undone  # the payment hold was voided

    again = pycamunda.message.CorrelateSingle(
        engine_rest(server), message_name="order-cancelled", business_key=business_key
    )
    again.auth = HTTPBasicAuth("ivan", people["ivan"])
    with pytest.raises(pycamunda.BadRequest, match="no process instance is waiting"):
        again()


# -- the API as Camunda documents it ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def invoicing(server: Server) -> str:
    """A small process of its own, deployed through /engine-rest, whose topic no worker of this module serves: the
    calls below are made by hand, as Camunda's REST reference shows them."""
    name, xml = process("camunda_invoicing", service_task(boundary=ERROR_BOUNDARY).replace('"pay"', '"erp.invoice"'))
    xml = xml.replace(b"</bpmn:definitions>", b'<bpmn:error id="Error_Declined" errorCode="INVOICE_REFUSED"/>'
                      b"</bpmn:definitions>")  # fmt: skip
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {TOKEN}"  # Bearer works as well as Basic
    deployed = admin.post(f"{engine_rest(server)}/deployment/create", files={name: (name, xml)}, timeout=30)
    assert deployed.status_code == 200, deployed.text
    return "camunda_invoicing"


def start_invoicing(server: Server, token: str, business_key: str, **variables: dict) -> str:
    started = camunda(server, token).post(
        f"{engine_rest(server)}/process-definition/key/camunda_invoicing/start",
        json={"businessKey": business_key, "variables": variables, "withVariablesInReturn": True},
    )
    assert started.status_code == 200, started.text
    assert started.json()["businessKey"] == business_key and started.json()["ended"] is False
    return started.json()["id"]


def test_fetch_and_lock_filters_typed_variables_and_lock_rules(server: Server, people: dict, invoicing: str) -> None:
    ivan = camunda(server, people["ivan"])
    url = engine_rest(server)
    business_key = f"INV-{uuid.uuid4().hex[:8]}"
    instance_id = start_invoicing(
        server,
        people["ivan"],
        business_key,
        address={"value": json.dumps(ZURICH), "type": "Json"},
        total={"value": 61.9, "type": "Double"},
        lines={"value": 3, "type": "Integer"},
        urgent={"value": "true", "type": "Boolean"},
        dueOn={"value": "2027-01-31T12:00:00.000+0100", "type": "Date"},
        note={"value": None, "type": "Null"},
    )
    variables = ivan.get(f"{url}/process-instance/{instance_id}/variables").json()
    assert variables["address"]["type"] == "Json" and json.loads(variables["address"]["value"]) == ZURICH
    assert variables["total"] == {"type": "Double", "value": 61.9, "valueInfo": {}}
    assert variables["lines"]["type"] == "Integer" and variables["urgent"]["value"] is True
    assert variables["dueOn"]["value"] == "2027-01-31T12:00:00+01:00" and variables["note"]["type"] == "Null"

    topic = {"topicName": "erp.invoice", "lockDuration": 10000, "variables": ["address", "total"]}
    other = ivan.post(
        f"{url}/external-task/fetchAndLock",
        json={"workerId": "w0", "maxTasks": 1, "topics": [{**topic, "businessKey": "INV-NOBODY"}]},
    )
    assert other.status_code == 200 and other.json() == []  # no task of that order
    fetched = ivan.post(
        f"{url}/external-task/fetchAndLock",
        json={"workerId": "w1", "maxTasks": 1, "asyncResponseTimeout": 10000,
              "topics": [{**topic, "businessKey": business_key, "processDefinitionKey": invoicing,
                          "processVariables": {"lines": 3}}]},
    )  # fmt: skip
    [task] = fetched.json()
    assert task["processInstanceId"] == instance_id and task["businessKey"] == business_key
    assert task["topicName"] == "erp.invoice" and task["workerId"] == "w1" and task["retries"] is None
    assert task["activityId"] == "charge" and task["processDefinitionKey"] == invoicing
    assert set(task["variables"]) == {"address", "total"}

    listed = ivan.get(f"{url}/external-task", params={"processInstanceId": instance_id, "locked": "true"}).json()
    assert [(t["id"], t["workerId"]) for t in listed] == [(task["id"], "w1")]
    intruder = ivan.post(f"{url}/external-task/{task['id']}/complete", json={"workerId": "w2"})
    assert intruder.status_code == 400 and intruder.json()["type"] == "BadUserRequestException"
    extended = ivan.post(f"{url}/external-task/{task['id']}/extendLock", json={"workerId": "w1", "newDuration": 60000})
    assert extended.status_code == 204
    assert ivan.post(f"{url}/external-task/{task['id']}/unlock").status_code == 204
    again = ivan.post(f"{url}/external-task/fetchAndLock", json={"workerId": "w2", "maxTasks": 5, "topics": [topic]})
    assert task["id"] in [t["id"] for t in again.json()]

    failed = ivan.post(
        f"{url}/external-task/{task['id']}/failure",
        json={"workerId": "w2", "errorMessage": "ERP down", "errorDetails": "503", "retries": 1, "retryTimeout": 0},
    )
    assert failed.status_code == 204, failed.text
    retry = ivan.post(f"{url}/external-task/fetchAndLock", json={"workerId": "w3", "maxTasks": 5, "topics": [topic]})
    [retried] = [t for t in retry.json() if t["id"] == task["id"]]
    assert retried["retries"] == 1 and retried["errorMessage"] == "ERP down" and retried["errorDetails"] == "503"
    bad = ivan.post(
        f"{url}/external-task/{task['id']}/complete",
        json={"workerId": "w3", "variables": {"invoiceId": {"value": "lots", "type": "Integer"}}},
    )
    assert bad.status_code == 400 and "invoiceId" in bad.json()["message"]
    done = ivan.post(
        f"{url}/external-task/{task['id']}/complete",
        json={"workerId": "w3", "variables": {"invoiceId": {"value": "INV-1", "type": "String"}},
              "localVariables": {"pages": {"value": 2, "type": "Integer"}}},
    )  # fmt: skip
    assert done.status_code == 204, done.text
    history = ivan.get(f"{url}/history/process-instance/{instance_id}").json()
    assert history["state"] == "COMPLETED" and history["businessKey"] == business_key
    assert ivan.post(f"{url}/external-task/{task['id']}/complete", json={"workerId": "w3"}).status_code in (400, 404)


def test_a_bpmn_error_from_a_worker_takes_the_boundary_event(server: Server, people: dict, invoicing: str) -> None:
    ivan = camunda(server, people["ivan"])
    url = engine_rest(server)
    business_key = f"INV-{uuid.uuid4().hex[:8]}"
    instance_id = start_invoicing(server, people["ivan"], business_key)
    topic = {"topicName": "erp.invoice", "lockDuration": 10000, "businessKey": business_key}
    [task] = ivan.post(
        f"{url}/external-task/fetchAndLock", json={"workerId": "w1", "maxTasks": 1, "topics": [topic]}
    ).json()
    thrown = ivan.post(
        f"{url}/external-task/{task['id']}/bpmnError",
        json={"workerId": "w1", "errorCode": "INVOICE_REFUSED", "errorMessage": "customer blocked",
              "variables": {"refusal": {"value": "blocked", "type": "String"}}},
    )  # fmt: skip
    assert thrown.status_code == 204, thrown.text
    variables = ivan.get(f"{url}/history/variable-instance", params={"processInstanceId": instance_id}).json()
    by_name = {v["name"]: v["value"] for v in variables}
    assert by_name["notified"] is True and by_name["refusal"] == "blocked"  # the boundary path ran, with the variables


def test_a_long_poll_is_answered_when_a_job_arrives(server: Server, people: dict, invoicing: str) -> None:
    ivan = camunda(server, people["ivan"])
    url = engine_rest(server)
    answers: list = []
    topic = {"topicName": "erp.invoice", "lockDuration": 5000, "businessKey": "INV-LONGPOLL"}
    body = {"workerId": "poller", "maxTasks": 1, "asyncResponseTimeout": 20000, "topics": [topic]}
    poll = threading.Thread(target=lambda: answers.append(ivan.post(f"{url}/external-task/fetchAndLock", json=body)))
    poll.start()
    instance_id = start_invoicing(server, people["ivan"], "INV-LONGPOLL")
    poll.join(30)
    [task] = answers[0].json()
    assert task["processInstanceId"] == instance_id and task["topicName"] == "erp.invoice"
    nobody = {**body, "asyncResponseTimeout": 300, "topics": [{**topic, "businessKey": "INV-NOBODY"}]}
    empty = ivan.post(f"{url}/external-task/fetchAndLock", json=nobody)
    assert empty.status_code == 200 and empty.json() == []
    assert ivan.delete(f"{url}/process-instance/{instance_id}").status_code == 204
    assert ivan.get(f"{url}/history/process-instance/{instance_id}").json()["state"] == "EXTERNALLY_TERMINATED"


def test_definitions_deployments_and_errors_as_camunda_answers_them(server: Server, people: dict) -> None:
    url = engine_rest(server)
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {TOKEN}"  # Bearer works as well as Basic
    latest = admin.get(f"{url}/process-definition", params={"key": "order_management", "latestVersion": "true"})
    [definition] = latest.json()
    assert definition["key"] == "order_management" and definition["resource"] == "order_management.bpmn"
    xml = admin.get(f"{url}/process-definition/key/order_management/xml").json()
    assert xml["id"] == definition["id"] and "<bpmn:process" in xml["bpmn20Xml"]
    missing = admin.get(f"{url}/process-definition/key/nothing_here")
    assert missing.status_code == 404 and "nothing_here" in missing.json()["message"]

    diagram = (ROOT / "bpmn" / "order_fulfillment.bpmn").read_bytes()  # deployed already: the same version
    deployed = admin.post(
        f"{url}/deployment/create",
        data={"deployment-name": "from-camunda", "enable-duplicate-filtering": "true"},
        files={"order_fulfillment.bpmn": ("order_fulfillment.bpmn", diagram)},
    )
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["name"] == "from-camunda"
    assert [d["key"] for d in deployed.json()["deployedProcessDefinitions"].values()] == ["order_fulfillment"]
    broken = admin.post(f"{url}/deployment/create", files={"x.bpmn": ("x.bpmn", b"<not-bpmn/>")})
    assert broken.status_code == 400 and broken.json()["type"] == "ParseException"

    sam = camunda(server, people["sam"])
    refused = sam.post(f"{url}/external-task/fetchAndLock", json={"workerId": "w", "maxTasks": 1, "topics": []})
    assert refused.status_code == 403 and refused.json()["type"] == "AuthorizationException"
    nobody = requests.get(f"{url}/process-definition", auth=("ivan", "wrong-token"), timeout=10)
    assert nobody.status_code == 401 and nobody.json()["type"] == "AuthenticationException"
    unsupported = admin.get(f"{url}/case-definition")
    assert unsupported.status_code == 404 and "not supported" in unsupported.json()["message"]
    assert deploy(server, signal_wait("c7_signal_wait", "c7-dock-open")).status_code == 201
    waiting = [start(server, "c7_signal_wait") for _ in range(2)]
    typed = {"dock": {"value": 4, "type": "Integer"}}
    signal = admin.post(f"{url}/signal", json={"name": "c7-dock-open", "variables": typed})
    assert signal.status_code == 204, signal.text
    for instance_id in waiting:
        view = server.get(f"/process-instances/{instance_id}").json()
        assert view["status"] == "completed" and view["variables"]["dock"] == 4
    no_signal_name = admin.post(f"{url}/signal", json={"variables": typed})
    assert no_signal_name.status_code == 400 and "name" in no_signal_name.json()["message"]
    no_name = admin.post(f"{url}/message", json={"businessKey": "x"})
    assert no_name.status_code == 400 and "messageName" in no_name.json()["message"]
    basic = base64.b64encode(f"ivan:{people['ivan']}".encode()).decode()
    raw = requests.get(f"{url}/engine", headers={"Authorization": f"Basic {basic}"}, timeout=10)
    assert raw.json() == [{"name": "default"}]
    spec = admin.get(f"{server.url}/api/v1/openapi.json").json()
    assert "/engine-rest/external-task/fetchAndLock" in spec["paths"] and "/v2/jobs/activation" in spec["paths"]
