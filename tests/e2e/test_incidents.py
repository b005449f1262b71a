"""Incidents (list by impact, retry, resolve, bulk retry) and dead letters of intake (kept, replayed, discarded):
domain functions on the `engine` fixture, the REST contract over HTTP against the `server` fixture."""

from __future__ import annotations

from datetime import timedelta

import pytest
from SpiffWorkflow.task import TaskState
from sqlalchemy import update

from processes.core.engine import Engine
from processes.core.models import Incident, utcnow
from processes.core.spiff import tasks_in
from processes.core.step import Step
from processes.deployment.deployments import deploy
from processes.errors import Conflict, InvalidInput, NotFound
from processes.instances import get_instance, start_instance
from processes.jobs.incidents import (
    ImpactWeights,
    impact,
    list_incidents,
    order_value,
    resolution_times,
    resolve_incident,
    retry_incident,
    retry_many,
)
from processes.jobs.service import BpmnErrorThrown, JobService
from tests.support.diagrams import process
from tests.support.rest import assert_problem
from tests.support.rest import deploy as deploy_http
from tests.support.server import Server

WEIGHTS = ImpactWeights()

EXTERNAL = """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="{topic}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="done"/>
    <bpmn:endEvent id="done"/>"""

UNBOUND = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="svc"/>
  <bpmn:serviceTask id="svc"/><bpmn:sequenceFlow id="b" sourceRef="svc" targetRef="e"/><bpmn:endEvent id="e"/>"""

DIVIDE = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Task_Total"/>
  <bpmn:scriptTask id="Task_Total"><bpmn:script>share = amount / count</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Task_Total" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>
  </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/><bpmn:endEvent id="end"/>"""

DECIDES = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide" camunda:decisionRef="discount" camunda:resultVariable="discount"
     camunda:mapDecisionResult="singleEntry"/>
  <bpmn:sequenceFlow id="b" sourceRef="decide" targetRef="e"/><bpmn:endEvent id="e"/>"""


def discount_table(second_rule: str) -> tuple[str, bytes]:
    """A decision whose v1 has overlapping UNIQUE rules for totals of 1500 and more; v2 fixes the second rule."""
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="discounts" name="D" namespace="orderflow">
  <decision id="discount" name="Discount">
    <decisionTable id="dt" hitPolicy="UNIQUE">
      <input id="i1"><inputExpression typeRef="number"><text>total</text></inputExpression></input>
      <output id="o1" name="discount" typeRef="number"/>
      <rule id="r_small"><inputEntry><text>&lt; 1000</text></inputEntry>
        <outputEntry><text>0</text></outputEntry></rule>
      <rule id="r_big"><inputEntry><text>{second_rule}</text></inputEntry>
        <outputEntry><text>5</text></outputEntry></rule>
      <rule id="r_huge"><inputEntry><text>&gt;= 1500</text></inputEntry>
        <outputEntry><text>10</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""
    return "discounts.dmn", xml.encode()


def open_incidents(engine: Engine, instance_id: str) -> list[dict]:
    return [i for i in get_instance(engine, instance_id)["incidents"] if i["resolvedAt"] is None]


def only_incident(engine: Engine, instance_id: str) -> str:
    found = open_incidents(engine, instance_id)
    assert len(found) == 1, found
    return found[0]["id"]


# -- impact ----------------------------------------------------------------------------------------------


def test_impact_parts_and_weights() -> None:
    opened = utcnow()
    order = {"items": [{"quantity": 2, "unitPrice": 600.0}, {"quantity": 1, "unitPrice": 25}]}
    assert order_value(order) == 1225.0
    assert order_value({**order, "total": 99.5}) == 99.5  # the variable total wins over the items
    assert order_value({"items": "junk", "total": True}) == 0.0
    gold = impact({"total": 100, "customer": {"tier": "Gold"}}, opened, opened + timedelta(hours=3), WEIGHTS)
    assert (gold.value, gold.tier, gold.age_hours) == (100.0, "gold", 3.0)
    assert gold.score == 100 + 2 * 500 + 3 * 10
    assert ImpactWeights.parse("value=2, tier=0,age_hours=1.5") == ImpactWeights(value=2, tier=0, age_hours=1.5)
    assert ImpactWeights.parse("") == ImpactWeights(value=1, tier=500, age_hours=10)
    assert ImpactWeights.parse("tier=7") == ImpactWeights(tier=7)
    for wrong in ("colour=1", "value", "value=lots"):
        with pytest.raises(ValueError):
            ImpactWeights.parse(wrong)


def test_impact_weights_come_from_the_setting_and_a_wrong_one_stops_the_start(tmp_path) -> None:
    from app import create_app
    from app.setup import prepare

    config = {
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'orderflow.db'}",
        "ORDERFLOW_API_TOKEN": "t",
        "ORDERFLOW_DEPLOY_SHIPPED": False,
    }
    app = create_app({**config, "ORDERFLOW_IMPACT_WEIGHTS": "value=0, tier=0, age_hours=1"})
    prepare(app)
    listed = app.test_client().get("/api/v1/incidents", headers={"Authorization": "Bearer t"}).get_json()
    assert listed["weights"] == {"value": 0.0, "tier": 0.0, "ageHours": 1.0} and listed["items"] == []
    with pytest.raises(RuntimeError, match="ORDERFLOW_IMPACT_WEIGHTS"):
        create_app({**config, "ORDERFLOW_IMPACT_WEIGHTS": "speed=3"})


def test_incidents_come_highest_impact_first_and_weights_change_the_order(engine: Engine) -> None:
    deploy(engine, [process("unbound", UNBOUND)])  # a service task with no binding: an incident at once
    orders = {
        "big": {"total": 5000, "customer": {"tier": "standard"}},  # opened 1 hour ago
        "gold": {"total": 800, "customer": {"tier": "gold"}},  # opened 2 hours ago
        "old": {"items": [{"quantity": 1, "unitPrice": 100}], "customer": {"tier": "silver"}},  # 100 hours ago
    }
    ids = {}
    for name, variables in orders.items():
        instance_id = start_instance(engine, "unbound", variables=variables, business_key=name).instance["id"]
        ids[name] = only_incident(engine, instance_id)
    now = utcnow()
    with engine.write_session() as session:
        for name, hours in (("big", 1), ("gold", 2), ("old", 100)):
            session.execute(
                update(Incident).where(Incident.id == ids[name]).values(created_at=now - timedelta(hours=hours))
            )
        session.commit()

    listed = list_incidents(engine, weights=WEIGHTS, process_key="unbound", now=now)
    # big: 5000 + 0 + 10 = 5010; gold: 800 + 1000 + 20 = 1820; old: 100 + 500 + 1000 = 1600
    assert [i["businessKey"] for i in listed["items"]] == ["big", "gold", "old"]
    first = listed["items"][0]
    assert first["impact"] == {"score": 5010.0, "value": 5000.0, "tier": "standard", "ageHours": 1.0}
    assert (
        first["errorType"] == "unbound_service_task"
        and first["elementId"] == "svc"
        and first["processKey"] == "unbound"
    )
    assert listed["total"] == 3 and listed["weights"] == {"value": 1.0, "tier": 500.0, "ageHours": 10.0}

    by_age = ImpactWeights.parse("value=0,tier=0,age_hours=1")
    assert [i["businessKey"] for i in list_incidents(engine, weights=by_age, now=now)["items"]] == [
        "old",
        "gold",
        "big",
    ]
    by_tier = ImpactWeights.parse("value=0.01,tier=1000,age_hours=0")
    assert [i["businessKey"] for i in list_incidents(engine, weights=by_tier, now=now)["items"]] == [
        "gold",
        "old",
        "big",
    ]

    page2 = list_incidents(engine, weights=WEIGHTS, per_page=2, page=2, now=now)
    assert [i["businessKey"] for i in page2["items"]] == ["old"] and page2["total"] == 3
    assert list_incidents(engine, weights=WEIGHTS, business_key="gold")["total"] == 1
    assert list_incidents(engine, weights=WEIGHTS, error_type="job_failed")["total"] == 0
    assert list_incidents(engine, weights=WEIGHTS, element_id="svc")["total"] == 3
    assert list_incidents(engine, weights=WEIGHTS, status="resolved")["total"] == 0


# -- retry, domain -------------------------------------------------------------------------------------


def test_engine_error_retried_after_the_decision_was_fixed(engine: Engine) -> None:
    """A transient cause with a clean path: the analyst fixes the decision table and deploys it; the retry
    evaluates the latest version."""
    # not(< 1000) overlaps >= 1500 where lint cannot be sure (a warning, it deploys): the evaluation finds it.
    deploy(engine, [discount_table("not(&lt; 1000)"), process("decides", DECIDES)])
    instance_id = start_instance(engine, "decides", variables={"total": 2000}).instance["id"]
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident" and "UNIQUE" in view["incidents"][0]["message"]
    incident_id = view["incidents"][0]["id"]
    assert view["incidents"][0]["errorType"] == "engine_error"

    deploy(engine, [discount_table("[1000..1500)")])  # version 2: the rules no longer overlap
    outcome = retry_incident(engine, incident_id, actor="olga")
    assert (outcome.result, outcome.new_incident_id, outcome.instance_status) == ("retried", None, "completed")
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["discount"] == 10
    [incident] = list_incidents(engine, weights=WEIGHTS, status="resolved")["items"]
    assert incident["id"] == incident_id and incident["resolution"] == "retried" and incident["resolvedBy"] == "olga"
    assert incident["resolutionSeconds"] >= 0
    with pytest.raises(Conflict):
        retry_incident(engine, incident_id)


def test_engine_error_retry_resets_the_failed_task_and_the_status_is_derived_again(engine: Engine) -> None:
    deploy(engine, [process("divide", DIVIDE)])
    instance_id = start_instance(engine, "divide", variables={"amount": 10, "count": 0}).instance["id"]
    first = only_incident(engine, instance_id)

    # The data has not changed: the retry runs the script again, it fails again, a new incident opens and the
    # retried one stays resolved.
    outcome = retry_incident(engine, first)
    assert outcome.result == "failed" and "division by zero" in outcome.detail
    assert outcome.new_incident_id not in (None, first) and outcome.instance_status == "incident"
    second = only_incident(engine, instance_id)
    assert second == outcome.new_incident_id

    # TEST ONLY: there is no API to change an instance's variables yet, so a test-only engine step corrects the
    # data the failed task starts from (its parent's), as a future "set variables" command would.
    def correct_count(step: Step) -> None:
        [failed] = tasks_in(step.workflow, TaskState.ERROR)
        failed.parent.data["count"] = 4

    engine.step(instance_id, correct_count)
    assert get_instance(engine, instance_id)["status"] == "incident"  # the fix alone does not move the instance

    outcome = retry_incident(engine, second, actor="ops")
    assert outcome.result == "retried" and "Task_Total" in outcome.detail
    view = get_instance(engine, instance_id)
    # _derive recomputed the status: the instance now waits on its timer (not "running", not "incident").
    assert view["status"] == "waiting" and view["variables"]["share"] == 2.5
    assert [e["elementId"] for e in view["activeElements"]] == ["wait"]
    assert [j["kind"] for j in view["jobs"] if j["status"] == "ready"] == ["timer"]
    assert not open_incidents(engine, instance_id)


def test_uncaught_bpmn_error_retry_makes_a_new_job(engine: Engine) -> None:
    deploy(engine, [process("svc", EXTERNAL.format(topic="stock.check"))])
    answers = iter([BpmnErrorThrown("OUT_OF_STOCK", "no stock"), {"reserved": True}])

    def executor(job) -> dict:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    jobs = JobService(engine, executor)
    instance_id = start_instance(engine, "svc").instance["id"]
    [job] = jobs.claim("w")
    jobs.run(job)
    incident_id = only_incident(engine, instance_id)
    outcome = retry_incident(engine, incident_id)
    assert outcome.result == "retried" and outcome.instance_status == "running"
    [again] = jobs.claim("w")
    assert again.id != job.id and again.element_id == "charge" and again.attempt == 1
    jobs.run(again)
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["reserved"] is True


def test_unbound_service_task_retry_fails_again_with_a_new_incident(engine: Engine) -> None:
    deploy(engine, [process("unbound", UNBOUND)])
    instance_id = start_instance(engine, "unbound").instance["id"]
    first = only_incident(engine, instance_id)
    outcome = retry_incident(engine, first)
    assert outcome.result == "failed" and outcome.new_incident_id and "no topic" in outcome.detail
    assert only_incident(engine, instance_id) == outcome.new_incident_id
    assert get_instance(engine, instance_id)["status"] == "incident"


def test_resolve_with_a_comment_leaves_the_instance_as_it_is(engine: Engine) -> None:
    deploy(engine, [process("divide", DIVIDE)])
    instance_id = start_instance(engine, "divide", variables={"amount": 1, "count": 0}).instance["id"]
    incident_id = only_incident(engine, instance_id)
    with pytest.raises(InvalidInput):
        resolve_incident(engine, incident_id, comment="  ")
    resolved = resolve_incident(engine, incident_id, comment="order re-keyed by hand in the ERP", actor="ops")
    assert resolved["resolution"] == "resolved" and resolved["comment"] == "order re-keyed by hand in the ERP"
    assert resolved["resolvedBy"] == "ops" and resolved["resolutionSeconds"] >= 0
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident" and view["activeElements"][0]["state"] == "error"  # untouched
    with pytest.raises(Conflict):
        resolve_incident(engine, incident_id, comment="again")
    with pytest.raises(Conflict):
        retry_incident(engine, incident_id)
    with pytest.raises(NotFound):
        resolve_incident(engine, "nope", comment="x")
    kpi = resolution_times(engine)
    assert kpi["all"]["count"] == 1 and kpi["resolved"]["count"] == 1 and kpi["resolved"]["maxSeconds"] >= 0


def test_bulk_retry_by_filter_goes_highest_impact_first(engine: Engine) -> None:
    deploy(engine, [process("unbound", UNBOUND), process("divide", DIVIDE)])
    start_instance(engine, "unbound", variables={"total": 10})
    start_instance(engine, "unbound", variables={"total": 900})
    start_instance(engine, "divide", variables={"amount": 1, "count": 0})
    batch = retry_many(engine, filters={"processKey": "unbound"}, weights=WEIGHTS, actor="ops")
    assert batch["total"] == 2 and batch["request"]["matched"] == 2
    assert [i["result"] for i in batch["items"]] == ["failed", "failed"]  # unbound: fails again, honestly
    assert all(i["newIncidentId"] for i in batch["items"])
    assert (batch["succeeded"], batch["failed"], batch["createdBy"]) == (0, 2, "ops") and batch["finishedAt"]
    resolved = list_incidents(engine, weights=WEIGHTS, status="resolved", process_key="unbound")["items"]
    assert [i["id"] for i in batch["items"]] == [i["id"] for i in resolved]  # the 900 order went first
    assert [i["impact"]["value"] for i in resolved] == [900.0, 10.0]
    assert list_incidents(engine, weights=WEIGHTS, process_key="divide")["total"] == 1  # not in the filter
    with pytest.raises(InvalidInput):
        retry_many(engine, filters={"colour": "red"}, weights=WEIGHTS)
    with pytest.raises(InvalidInput):
        retry_many(engine, weights=WEIGHTS)


# -- over HTTP -------------------------------------------------------------------------------------------


def deploy_external(server: Server, key: str, topic: str) -> None:
    response = deploy_http(server, process(key, EXTERNAL.format(topic=topic)))
    assert response.status_code == 201, response.text


def start(server: Server, key: str, **body) -> dict:
    response = server.post(f"/process-definitions/{key}/instances", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def fail_for_good(server: Server, topic: str, message: str = "carrier API down") -> dict:
    """Activate the topic's job and fail it with no retries left: an incident."""
    [job] = server.post("/jobs/activate", json={"topic": topic, "workerId": "w1"}).json()["jobs"]
    failed = server.post(f"/jobs/{job['id']}/fail", json={"workerId": "w1", "errorMessage": message, "retries": 0})
    assert failed.status_code == 200, failed.text
    return job


def incidents_of(server: Server, **params) -> list[dict]:
    response = server.get("/incidents", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_exhausted_job_retried_after_the_cause_is_fixed_completes(server: Server) -> None:
    deploy_external(server, "inc_job", "inc.carrier")
    order = {"total": 1200, "customer": {"tier": "gold"}}
    instance = start(server, "inc_job", businessKey="INC-1", variables=order)
    job = fail_for_good(server, "inc.carrier")
    assert server.get(f"/process-instances/{instance['id']}").json()["status"] == "incident"
    [incident] = incidents_of(server, processKey="inc_job")
    assert incident["instanceId"] == instance["id"] and incident["businessKey"] == "INC-1"
    assert incident["errorType"] == "job_failed" and "carrier API down" in incident["message"]
    assert incident["jobId"] == job["id"] and incident["elementId"] == "charge" and incident["resolvedAt"] is None
    assert incident["impact"]["value"] == 1200 and incident["impact"]["tier"] == "gold"
    assert incident["impact"]["score"] >= 1200 + 1000

    retried = server.post(f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["result"] == "retried" and body["newIncidentId"] is None and body["instanceStatus"] == "running"
    assert body["incident"]["resolution"] == "retried" and body["incident"]["resolvedBy"] == "admin"
    assert body["incident"]["resolutionSeconds"] >= 0
    view = server.get(f"/process-instances/{instance['id']}").json()
    assert view["status"] == "running"
    assert view["jobs"][0]["status"] == "ready" and view["jobs"][0]["attempt"] == 1

    [again] = server.post("/jobs/activate", json={"topic": "inc.carrier", "workerId": "w2"}).json()["jobs"]
    assert again["id"] == job["id"] and again["retries"] == 1  # attempts renewed (the worker had left 0)
    done = server.post(f"/jobs/{again['id']}/complete", json={"workerId": "w2", "variables": {"booked": True}})
    assert done.status_code == 200, done.text
    view = server.get(f"/process-instances/{instance['id']}").json()
    assert view["status"] == "completed" and view["variables"]["booked"] is True
    assert incidents_of(server, processKey="inc_job") == []
    [resolved] = incidents_of(server, processKey="inc_job", status="resolved")
    assert resolved["id"] == incident["id"]
    events = [e["type"] for e in server.get(f"/process-instances/{instance['id']}/events").json()["items"]]
    assert events.index("incident_opened") < events.index("incident_retried") < events.index("instance_completed")
    assert_problem(server.post(f"/incidents/{incident['id']}/retry"), 409, "already retried")
    assert_problem(server.post("/incidents/nope/retry"), 404, "nope")


def test_resolve_over_http_needs_a_comment_and_keeps_the_instance(server: Server) -> None:
    deploy_external(server, "inc_resolve", "inc.resolve")
    instance = start(server, "inc_resolve")
    fail_for_good(server, "inc.resolve")
    [incident] = incidents_of(server, processKey="inc_resolve")
    assert_problem(server.post(f"/incidents/{incident['id']}/resolve", json={}), 422, "comment")
    resolved = server.post(f"/incidents/{incident['id']}/resolve", json={"comment": "booked by phone"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "resolved" and resolved.json()["comment"] == "booked by phone"
    assert server.get(f"/process-instances/{instance['id']}").json()["status"] == "incident"
    assert_problem(server.post(f"/incidents/{incident['id']}/resolve", json={"comment": "x"}), 409)
    assert server.get(f"/incidents/{incident['id']}").json()["resolvedAt"] is not None
    assert_problem(server.get("/incidents", params={"status": "sleeping"}), 422, "status")


def test_bulk_retry_reports_each_item_honestly(server: Server) -> None:
    deploy_external(server, "inc_bulk", "inc.bulk")
    start(server, "inc_bulk", businessKey="BULK-1")
    fail_for_good(server, "inc.bulk")
    start(server, "inc_bulk", businessKey="BULK-2")
    fail_for_good(server, "inc.bulk")
    by_key = {i["businessKey"]: i["id"] for i in incidents_of(server, processKey="inc_bulk")}
    server.post(f"/incidents/{by_key['BULK-2']}/resolve", json={"comment": "done by hand"})

    ids = [by_key["BULK-1"], by_key["BULK-2"], "no-such-incident", by_key["BULK-1"]]  # a repeated id counts once
    response = server.post("/incidents/retry", json={"ids": ids})
    assert response.status_code == 201, response.text
    batch = response.json()
    results = {item["id"]: item["result"] for item in batch["items"]}
    assert results == {
        by_key["BULK-1"]: "retried",
        by_key["BULK-2"]: "already resolved",
        "no-such-incident": "not found",
    }
    assert [i["id"] for i in batch["items"]] == ids[:3]
    assert (batch["total"], batch["succeeded"], batch["failed"]) == (3, 1, 2)
    assert batch["counts"] == {"retried": 1, "already resolved": 1, "not found": 1}
    assert all(item["detail"] for item in batch["items"])
    assert response.headers["Location"] == f"/api/v1/incident-batches/{batch['id']}"
    assert server.get(f"/incident-batches/{batch['id']}").json() == batch
    assert_problem(server.get("/incident-batches/nope"), 404)
    assert_problem(server.post("/incidents/retry", json={}), 422, "ids or filter")
    assert_problem(server.post("/incidents/retry", json={"ids": ["a"], "filter": {}}), 422, "ids or filter")

    # The retried job is back: a filter batch now finds nothing open for this process.
    assert len(server.post("/jobs/activate", json={"topic": "inc.bulk", "workerId": "w"}).json()["jobs"]) == 1
    empty = server.post("/incidents/retry", json={"filter": {"processKey": "inc_bulk"}}).json()
    assert (empty["total"], empty["items"], empty["request"]["filter"]) == (0, [], {"processKey": "inc_bulk"})


def test_openapi_lists_incident_and_dead_letter_endpoints(server: Server) -> None:
    paths = server.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}/retry",
        "/api/v1/incidents/{incident_id}/resolve",
        "/api/v1/incidents/retry",
        "/api/v1/incident-batches/{batch_id}",
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/{dead_letter_id}/replay",
        "/api/v1/dead-letters/{dead_letter_id}/discard",
    ):
        assert path in paths, path


# -- dead letters of intake ------------------------------------------------------------------------------


def test_unknown_process_key_is_kept_and_replayed_once_deployed(server: Server) -> None:
    body = {"businessKey": "DL-1", "variables": {"amount": 7}}
    response = server.post("/process-definitions/dl_later/instances", json=body)
    problem = assert_problem(response, 404, "dl_later")
    dead_letter_id = problem["deadLetterId"]
    letter = server.get(f"/dead-letters/{dead_letter_id}").json()
    assert letter["processKey"] == "dl_later" and letter["businessKey"] == "DL-1"
    assert letter["variables"] == {"amount": 7} and letter["status"] == "open" and letter["errorType"] == "NotFound"
    assert "dl_later" in letter["error"] and letter["attempts"] == 1
    assert dead_letter_id in [d["id"] for d in server.get("/dead-letters").json()["items"]]

    failed = assert_problem(server.post(f"/dead-letters/{dead_letter_id}/replay", json={}), 404, "dl_later")
    assert failed["deadLetterId"] == dead_letter_id
    assert server.get(f"/dead-letters/{dead_letter_id}").json()["attempts"] == 2  # still open, one more try

    assert deploy_http(server, process("dl_later", EXTERNAL.format(topic="dl.later"))).status_code == 201
    replayed = server.post(f"/dead-letters/{dead_letter_id}/replay", json={})
    assert replayed.status_code == 201, replayed.text
    result = replayed.json()
    assert result["created"] is True and result["instance"]["businessKey"] == "DL-1"
    assert (
        result["deadLetter"]["status"] == "replayed" and result["deadLetter"]["instanceId"] == result["instance"]["id"]
    )
    assert server.get(f"/process-instances/{result['instance']['id']}").json()["variables"] == {"amount": 7}
    assert_problem(server.post(f"/dead-letters/{dead_letter_id}/replay", json={}), 409, "replayed")
    assert dead_letter_id not in [d["id"] for d in server.get("/dead-letters").json()["items"]]
    assert dead_letter_id in [
        d["id"] for d in server.get("/dead-letters", params={"status": "replayed"}).json()["items"]
    ]


def test_invalid_variables_are_kept_and_replayed_with_corrected_variables(server: Server) -> None:
    deploy_external(server, "dl_vars", "dl.vars")
    response = server.post("/process-definitions/dl_vars/instances", json={"variables": {"2 not a name": 1}})
    dead_letter_id = assert_problem(response, 422, "2 not a name")["deadLetterId"]
    letter = server.get(f"/dead-letters/{dead_letter_id}").json()
    assert letter["variables"] == {"2 not a name": 1} and letter["errorType"] == "InvalidInput"

    again = server.post(f"/dead-letters/{dead_letter_id}/replay", json={})
    assert assert_problem(again, 422, "2 not a name")["deadLetterId"] == dead_letter_id
    replayed = server.post(f"/dead-letters/{dead_letter_id}/replay", json={"variables": {"a_name": 1}})
    assert replayed.status_code == 201, replayed.text
    instance_id = replayed.json()["instance"]["id"]
    assert server.get(f"/process-instances/{instance_id}").json()["variables"] == {"a_name": 1}
    assert replayed.json()["deadLetter"]["variables"] == {"2 not a name": 1}  # kept as it came


def test_a_repeated_idempotency_key_is_one_dead_letter_closed_by_the_clients_own_success(server: Server) -> None:
    headers = {"Idempotency-Key": "dl-idem-1"}
    first = server.post("/process-definitions/dl_idem/instances", json={}, headers=headers)
    second = server.post("/process-definitions/dl_idem/instances", json={"variables": {"x": 1}}, headers=headers)
    assert assert_problem(first, 404)["deadLetterId"] == assert_problem(second, 404)["deadLetterId"]
    letter = server.get(f"/dead-letters/{first.json()['deadLetterId']}").json()
    assert letter["attempts"] == 2 and letter["variables"] == {"x": 1} and letter["idempotencyKey"] == "dl-idem-1"

    deploy_external(server, "dl_idem", "dl.idem")
    started = server.post("/process-definitions/dl_idem/instances", json={"variables": {"x": 1}}, headers=headers)
    assert started.status_code == 201  # the client's own retry succeeded: the dead letter is done
    closed = server.get(f"/dead-letters/{letter['id']}").json()
    assert closed["status"] == "replayed" and closed["instanceId"] == started.json()["id"]
    assert_problem(server.post(f"/dead-letters/{letter['id']}/replay", json={}), 409, "replayed")  # no second order


def test_discard_closes_a_dead_letter(server: Server) -> None:
    response = server.post("/process-definitions/dl_discard/instances", json={"variables": {"test": True}})
    dead_letter_id = assert_problem(response, 404)["deadLetterId"]
    discarded = server.post(f"/dead-letters/{dead_letter_id}/discard", json={"comment": "a test order"})
    assert discarded.status_code == 200, discarded.text
    body = discarded.json()
    assert body["status"] == "discarded" and body["comment"] == "a test order" and body["closedBy"] == "admin"
    assert_problem(server.post(f"/dead-letters/{dead_letter_id}/discard", json={}), 409, "discarded")
    assert_problem(server.post(f"/dead-letters/{dead_letter_id}/replay", json={}), 409, "discarded")
    assert_problem(server.post("/dead-letters/nope/discard", json={}), 404)
    assert_problem(server.get("/dead-letters", params={"status": "lost"}), 422, "status")
