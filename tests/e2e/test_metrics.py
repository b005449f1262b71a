"""Metrics: computed from a known sequence of orders and events with fixed timestamps, checked against values worked
out by hand; then from real orders run by the engine, over REST, and as Prometheus scrapes them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from inbox.tasks import claim_task, complete_task
from processes.core.engine import Engine
from processes.core.models import AuditEvent, Deployment, HumanTask, Incident, Job, ProcessDefinition, ProcessInstance
from processes.deployment.deployments import deploy
from processes.errors import InvalidInput
from processes.features.messages import correlate
from processes.instances import get_instance, start_instance
from processes.reporting import metrics
from processes.reporting.metrics import Scope, Window
from processes.reporting.sla import SlaTargets, parse_duration
from tests.support.diagrams import process
from tests.support.orders import ORDER
from tests.support.rest import deploy as deploy_over_http
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

T0 = datetime(2026, 3, 2, 12, 0, 0)
HOUR = Window(T0, T0 + timedelta(hours=1))
NOW = T0 + timedelta(hours=1)
TARGETS = SlaTargets.parse('{"order": {"target": "PT20M", "minShare": 0.9, "elements": {"ship": "PT5M"}}}')


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ms(minutes: float) -> float:
    return minutes * 60_000


# -- a known sequence --------------------------------------------------------------------------------------------
#
# Window: T0 .. T0+60m. SLA: orders 20 minutes, element "ship" 5 minutes.
#   A order v1  started +1   completed +11 (10 min)   ship +1..+5 (4 min)
#   B order v1  started +2   completed +32 (30 min)   ship +2..+12 (10 min, one retry 60 s); approve +12..+32,
#                                                     claimed at +20 (waiting 8, working 12 min)
#   C order v2  started +5   waiting at approve since +6 (its 20-minute target passes at +25: overdue)
#   D order v1  started -30  completed +20 (50 min)   ship -20..+20 (40 min, an incident -10..+19 retried)
#   E other v1  started +10  cancelled +15
#   F order v1  started -10  at ship since +50, an open incident since +40 (its target passed at +10: overdue)
# Incidents resolved in the window: D's (29 min, retried), A's (1 min, resolved); E's was closed by the cancel.
# Decisions: risk v1 matched [r1] (A), [r1, r2] (B), nothing (C); tier v2 matched [t3] (A).


@pytest.fixture
def known(engine: Engine) -> Engine:
    instances = {
        "A": ("order", 1, at(1), at(11), "completed", []),
        "B": ("order", 1, at(2), at(32), "completed", []),
        "C": ("order", 2, at(5), None, "waiting", [active("approve", "UserTask", at(6))]),
        "D": ("order", 1, at(-30), at(20), "completed", []),
        "E": ("other", 1, at(10), at(15), "cancelled", []),
        "F": ("order", 1, at(-10), None, "incident", [active("ship", "ServiceTask", at(50))]),
    }
    events = []
    for name, (_, _, created, ended, status, _) in instances.items():
        events.append(event(name, created, "instance_started"))
        if status == "completed":
            events.append(event(name, ended, "instance_completed"))
        if status == "cancelled":
            events.append(event(name, ended, "instance_cancelled"))
    events += [
        event("A", at(1), "element_completed", "start", "StartEvent", entered=at(1)),
        event("A", at(5), "element_completed", "ship", "ServiceTask", entered=at(1)),
        event("A", at(11), "element_completed", "end", "EndEvent", entered=at(11)),
        event("B", at(2), "element_completed", "start", "StartEvent", entered=at(2)),
        event("B", at(4), "job_failed", "ship", data={"jobId": "jb", "error": "timeout", "retryInSeconds": 60}),
        event("B", at(12), "element_completed", "ship", "ServiceTask", entered=at(2)),
        event("B", at(32), "task_completed", "approve", "UserTask", entered=at(12)),
        event("B", at(32), "element_completed", "end", "EndEvent", entered=at(32)),
        event("D", at(20), "element_completed", "ship", "ServiceTask", entered=at(-20)),
        event("D", at(-10), "incident_opened", "ship"),
        event("A", at(2), "incident_opened", "ship"),
        event("E", at(12), "incident_opened"),
        event("F", at(40), "incident_opened", "ship"),
        event("F", at(50), "job_created", "ship", "ServiceTask", entered=at(50)),
        decided("A", at(3), "risk", 1, ["r1"]),
        decided("B", at(3), "risk", 1, ["r1", "r2"]),
        decided("C", at(6), "risk", 1, []),
        decided("A", at(4), "tier", 2, ["t3"]),
    ]  # fmt: skip
    events.sort(key=lambda e: e["at"])  # the engine appends in time order
    with engine.write_session() as session:
        session.execute(insert(Deployment), [{"id": "d1", "created_at": at(-60)}])
        session.execute(
            insert(ProcessDefinition),
            [
                {"id": f"{key}:{v}", "key": key, "version": v, "deployment_id": "d1", "resource_name": f"{key}.bpmn",
                 "content_hash": f"{key}{v}", "xml": "<definitions/>", "spec_json": "{}", "created_at": at(-60)}
                for key, v in (("order", 1), ("order", 2), ("other", 1))
            ],
        )  # fmt: skip
        session.execute(
            insert(ProcessInstance),
            [
                {"id": name, "definition_id": f"{key}:{version}", "process_key": key, "definition_version": version,
                 "business_key": f"{name}-1", "status": status, "state": "{}", "variables": {},
                 "active_elements": elements, "created_at": created, "updated_at": ended or created, "ended_at": ended}
                for name, (key, version, created, ended, status, elements) in instances.items()
            ],
        )  # fmt: skip
        session.execute(insert(AuditEvent), events)
        session.execute(
            insert(HumanTask),
            [{"id": "hb", "instance_id": "B", "task_id": "t", "element_id": "approve", "process_key": "order",
              "status": "completed", "created_at": at(12), "claimed_at": at(20), "completed_at": at(32)},
             {"id": "hc", "instance_id": "C", "task_id": "t", "element_id": "approve", "process_key": "order",
              "status": "open", "created_at": at(6)}],
        )  # fmt: skip
        session.execute(
            insert(Incident),
            [
                incident("D", "ship", at(-10), at(19), "retried", job_id="jd"),
                incident("A", "ship", at(2), at(3), "resolved"),
                incident("E", None, at(12), at(15), None),
                incident("F", "ship", at(40), None, None, job_id="jf"),
            ],
        )
        session.execute(
            insert(Job),
            [
                job("j1", "F", "ready", due=at(40)),
                job("j2", "F", "ready", due=at(55)),
                job("j3", "C", "ready", due=at(120)),
                job("j4", "C", "locked", due=at(30)),
                job("j5", "A", "done", due=at(1), topic="pay"),
                job("j6", "C", "ready", due=at(70), kind="timer", topic=None),
            ],
        )
        session.commit()
    return engine


def active(element_id: str, type_: str, since: datetime) -> dict:
    return {"elementId": element_id, "name": element_id.title(), "type": type_, "state": "ready", "taskId": "x",
            "since": since.isoformat(timespec="milliseconds") + "Z"}  # fmt: skip


def event(instance: str, moment: datetime, type_: str, element: str | None = None, element_type: str | None = None,
          entered: datetime | None = None, data: dict | None = None) -> dict:  # fmt: skip
    return {"instance_id": instance, "at": moment, "type": type_, "element_id": element, "element_name": None,
            "element_type": element_type, "actor": "worker", "data": data, "entered_at": entered}  # fmt: skip


def decided(instance: str, moment: datetime, decision: str, version: int, rules: list[str]) -> dict:
    data = {"decision": decision, "version": version, "matchedRules": rules}
    return event(instance, moment, "decision_evaluated", f"{decision}_check", "BusinessRuleTask", data=data)


def incident(instance: str, element: str | None, opened: datetime, resolved: datetime | None, how: str | None,
             job_id: str | None = None) -> dict:  # fmt: skip
    return {"id": f"inc-{instance}", "instance_id": instance, "element_id": element, "error_type": "job_failed",
            "message": "failed", "created_at": opened, "resolved_at": resolved, "resolution": how,
            "job_id": job_id}  # fmt: skip


def job(id_: str, instance: str, status: str, due: datetime, kind: str = "service", topic: str | None = "wms.ship"):
    return {"id": id_, "instance_id": instance, "kind": kind, "topic": topic, "status": status, "due_at": due,
            "created_at": due, "updated_at": due, "variables": {}}  # fmt: skip


def by_element(found: dict, key: str, version: int) -> dict[str, dict]:
    process_ = next(p for p in found["processes"] if (p["processKey"], p["version"]) == (key, version))
    return {e["elementId"]: e for e in process_["elements"]}


def test_element_metrics_equal_the_hand_computed_values(known: Engine):
    found = metrics.element_metrics(known, HOUR, targets=TARGETS, now=NOW)
    v1 = by_element(found, "order", 1)
    ship = v1["ship"]
    # Entered in the window: A, B and F (D reached ship before it). Completed: A, B, D. F waits there now.
    assert (ship["entered"], ship["completed"], ship["active"]) == (3, 3, 1)
    assert ship["oldestActiveSince"] == "2026-03-02T12:50:00.000Z"
    assert ship["timeSpent"] == {
        "count": 3, "avgMs": ms(18), "p50Ms": ms(10), "p95Ms": ms(40), "maxMs": ms(40)
    }  # fmt: skip
    # Waiting: B's 60 s backoff + D's 29-minute incident, over 3 visits = 10 minutes; working: the rest of 18.
    assert (ship["waitingMs"], ship["workingMs"]) == (ms(10), ms(8))
    # 5-minute target: A met it; B and D completed late; F's target passed at +55 while it still waits.
    assert ship["sla"] == {"targetMs": ms(5), "met": 1, "missed": 3, "share": 0.25}

    approve = v1["approve"]
    assert (approve["entered"], approve["completed"], approve["active"]) == (1, 1, 0)
    assert approve["timeSpent"]["avgMs"] == ms(20)
    assert (approve["waitingMs"], approve["workingMs"]) == (ms(8), ms(12))  # unclaimed 8 min, claimed 12
    assert approve["sla"] is None
    assert (v1["start"]["completed"], v1["start"]["timeSpent"]["maxMs"]) == (2, 0.0)

    v2_approve = by_element(found, "order", 2)["approve"]
    assert (v2_approve["entered"], v2_approve["completed"], v2_approve["active"]) == (1, 0, 1)
    assert v2_approve["timeSpent"]["count"] == 0 and v2_approve["waitingMs"] is None

    assert found["freshness"]["newestEventAt"] == "2026-03-02T12:50:00.000Z"  # F's job, the newest event
    assert [(p["processKey"], p["version"]) for p in found["processes"]] == [("order", 1), ("order", 2)]


def test_a_scope_limits_the_metrics_to_one_process_version(known: Engine):
    found = metrics.element_metrics(known, HOUR, Scope("order", 2), targets=TARGETS, now=NOW)
    assert [(p["processKey"], p["version"]) for p in found["processes"]] == [("order", 2)]
    assert metrics.order_metrics(known, HOUR, Scope("order", 1), now=NOW)["started"] == 2  # A and B; D, F before
    with pytest.raises(InvalidInput):
        Scope(None, 2)


def test_order_metrics_and_throughput(known: Engine):
    orders = metrics.order_metrics(known, HOUR, now=NOW)
    assert (orders["started"], orders["completed"], orders["cancelled"]) == (4, 3, 1)
    assert orders["processingTime"] == {
        "count": 3, "avgMs": ms(30), "p50Ms": ms(30), "p95Ms": ms(50), "maxMs": ms(50)
    }  # fmt: skip
    assert orders["active"] == {"waiting": 1, "incident": 1}

    found = metrics.throughput(known, HOUR, buckets=4, now=NOW)
    assert found["bucketSeconds"] == 900
    assert [(b["started"], b["completed"], b["cancelled"]) for b in found["buckets"]] == [
        (4, 1, 0),  # A B C E started; A completed at +11
        (0, 1, 1),  # D completed at +20; E cancelled at +15 (a bucket's start belongs to it)
        (0, 1, 0),  # B at +32
        (0, 0, 0),
    ]
    assert found["buckets"][1]["from"] == "2026-03-02T12:15:00.000Z"


def test_incidents_decisions_and_jobs(known: Engine):
    incidents = metrics.incident_metrics(known, HOUR, now=NOW)
    assert (incidents["open"], incidents["opened"], incidents["resolved"], incidents["closedByCancel"]) == (1, 3, 2, 1)
    assert incidents["oldestOpenAt"] == "2026-03-02T12:40:00.000Z"
    assert incidents["resolutionTime"] == {
        "count": 2, "avgMs": ms(15), "p50Ms": ms(1), "p95Ms": ms(29), "maxMs": ms(29)
    }  # fmt: skip
    assert set(incidents["resolutionTimeBy"]) == {"resolved", "retried"}

    decisions = metrics.decision_metrics(known, HOUR)
    risk, tier = decisions
    assert (risk["decision"], risk["evaluations"], risk["withMatch"], risk["hitRate"]) == ("risk", 3, 2, 0.6667)
    assert risk["rules"] == [
        {"ruleId": "r1", "matches": 2, "share": 0.6667},
        {"ruleId": "r2", "matches": 1, "share": 0.3333},
    ]
    assert (tier["decision"], tier["version"], tier["hitRate"]) == ("tier", 2, 1.0)

    ship, timer = metrics.job_metrics(known, now=NOW)
    assert ship == {
        "topic": "wms.ship", "kind": "service", "backlog": 2, "oldestDueAt": "2026-03-02T12:40:00.000Z",
        "oldestAgeSeconds": 1200.0, "scheduled": 1, "inProgress": 1, "inReview": 0,
    }  # fmt: skip
    assert (timer["kind"], timer["topic"], timer["backlog"], timer["scheduled"]) == ("timer", None, 0, 1)


def test_sla_and_the_three_kpis_on_one_call(known: Engine):
    (sla,) = metrics.sla_metrics(known, HOUR, TARGETS, now=NOW)
    # A within 20 minutes; B and D completed late; C and F still running when their target passed.
    assert (sla["met"], sla["completedLate"], sla["overdue"], sla["share"]) == (1, 2, 2, 0.2)
    kpis = metrics.kpis(known, HOUR, targets=TARGETS, now=NOW)
    assert kpis["averageOrderProcessingMs"] == ms(30)
    assert (kpis["ruleHitRate"], kpis["decisionEvaluations"]) == (0.75, 4)
    assert (kpis["exceptionResolutionMs"], kpis["incidentsResolved"]) == (ms(15), 2)
    assert kpis["slaShare"] == 0.2
    assert kpis["freshness"]["newestEventAt"] == "2026-03-02T12:50:00.000Z"


def test_windows(known: Engine):
    # A quarter of an hour in the past: only what happened in it.
    quarter = Window(at(10), at(15))
    orders = metrics.order_metrics(known, quarter, now=NOW)
    assert (orders["started"], orders["completed"], orders["cancelled"]) == (1, 1, 0)  # E started; A completed
    ship = by_element(metrics.element_metrics(known, quarter, now=NOW), "order", 1)["ship"]
    assert (ship["completed"], ship["entered"]) == (1, 0)  # B's visit completed at +12, entered at +2
    assert metrics.order_metrics(known, quarter, now=NOW)["freshness"]["newestEventAt"] == "2026-03-02T12:12:00.000Z"
    # An empty window is honest about it.
    empty = metrics.kpis(known, Window(at(-600), at(-500)), now=NOW)
    assert (empty["averageOrderProcessingMs"], empty["ruleHitRate"], empty["slaShare"]) == (None, None, None)

    now = datetime(2026, 5, 1, 8, 0)
    assert Window.parse("5m", now=now).start == now - timedelta(minutes=5)
    assert Window.parse(None, now=now).start == now - timedelta(hours=1)  # the default
    assert Window.parse("7d", now=now).view()["seconds"] == 7 * 86400
    assert Window.parse(start=at(0), now=now) == Window(at(0), now)
    for bad in ({"window": "2h"}, {"start": at(5), "end": at(1)}, {"end": at(1)}, {"window": "1h", "start": at(0)}):
        with pytest.raises(InvalidInput):
            Window.parse(**bad, now=now)


def test_sla_settings_are_checked():
    assert parse_duration("PT1H30M") == timedelta(minutes=90) and parse_duration(45) == timedelta(seconds=45)
    assert SlaTargets.parse('{"p": "P1D"}').for_process("p").target == timedelta(days=1)
    for text in ('{"p": "1 hour"}', '{"p": {"target": "PT1H", "minShare": 2}}', '{"p": {"tagret": "PT1H"}}',
                 "[1]", "{", '{"p": "PT0S"}'):  # fmt: skip
        with pytest.raises(InvalidInput):
            SlaTargets.parse(text)


# -- real orders -------------------------------------------------------------------------------------------------

APPROVAL = process(
    "approval",
    """<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="paid"/>
    <bpmn:intermediateCatchEvent id="paid" name="Paid"><bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="paid" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)
MESSAGE = b'<bpmn:message id="m" name="payment"/></bpmn:definitions>'
APPROVAL = (APPROVAL[0], APPROVAL[1].replace(b"</bpmn:definitions>", MESSAGE))


def test_the_engine_stamps_when_each_element_was_entered(engine: Engine):
    deploy(engine, [APPROVAL])
    started = start_instance(engine, "approval", business_key="R-1").instance
    waiting = get_instance(engine, started["id"])["activeElements"]
    task_id = waiting[0]["humanTaskId"]
    window = Window.parse("5m")
    approve = by_element(metrics.element_metrics(engine, window), "approval", 1)["approve"]
    assert (approve["entered"], approve["active"], approve["completed"]) == (1, 1, 0)
    time.sleep(0.2)
    claim_task(engine, task_id, "ann")
    time.sleep(0.3)
    complete_task(engine, task_id, {}, "ann")
    time.sleep(0.25)
    correlate(engine, "payment", business_key="R-1")

    found = by_element(metrics.element_metrics(engine, Window.parse("5m")), "approval", 1)
    approve, paid = found["approve"], found["paid"]
    assert (approve["completed"], approve["active"]) == (1, 0)
    assert 500 <= approve["timeSpent"]["avgMs"] < 2000  # from the start event's completion to the person's
    assert 200 <= approve["waitingMs"] < 1000 and 300 <= approve["workingMs"] < 1000
    assert abs(approve["waitingMs"] + approve["workingMs"] - approve["timeSpent"]["avgMs"]) < 20
    assert 250 <= paid["timeSpent"]["avgMs"] < 1500  # waited for the message since approve completed
    assert found["end"]["timeSpent"]["avgMs"] < 50  # passed straight through
    orders = metrics.order_metrics(engine, Window.parse("5m"))
    assert orders["completed"] == 1 and orders["processingTime"]["avgMs"] >= 750


# -- over HTTP ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orders(server: Server) -> list[str]:
    """Three shipped orders run to completion by the server's workers and the sandbox systems."""
    ids = []
    for n in range(3):
        response = server.post("/process-definitions/order_fulfillment/instances",
                               json={"businessKey": f"MET-{n}", "variables": ORDER})  # fmt: skip
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    for instance_id in ids:
        assert wait_until_ended(server, instance_id)["status"] == "completed"
    return ids


def test_metrics_over_rest(server: Server, orders: list[str]):
    kpis = server.get("/metrics/kpis", params={"window": "1h", "processKey": "order_fulfillment"}).json()
    assert kpis["ordersCompleted"] >= 3 and kpis["averageOrderProcessingMs"] > 0
    assert kpis["window"]["name"] == "1h" and kpis["freshness"]["newestEventAt"] is not None

    elements = server.get("/metrics/elements", params={"processKey": "order_fulfillment", "version": 1}).json()
    (shipped,) = elements["processes"]
    ship = next(e for e in shipped["elements"] if e["elementId"] == "Task_ShipOrder")
    assert ship["completed"] >= 3 and ship["timeSpent"]["p95Ms"] >= ship["timeSpent"]["p50Ms"] > 0
    assert ship["workingMs"] is not None

    overview = server.get("/metrics/overview", params={"window": "24h"}).json()
    assert overview["orders"]["completed"] >= 3 and overview["orders"]["started"] >= 3
    buckets = server.get("/metrics/throughput", params={"window": "5m", "buckets": 10}).json()["buckets"]
    assert len(buckets) == 10 and sum(b["completed"] for b in buckets) >= 3
    assert server.get("/metrics/jobs").status_code == 200

    since = (datetime.now() - timedelta(days=1)).isoformat()  # no zone: UTC
    explicit = server.get("/metrics/kpis", params={"from": since}).json()
    assert explicit["window"]["name"] is None and explicit["ordersCompleted"] >= 3


def test_bad_metrics_requests_are_problems(server: Server):
    for params in ({"window": "2h"}, {"window": "1h", "from": "2026-01-01T00:00:00Z"}, {"version": 2},
                   {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"buckets": 0}):  # fmt: skip
        response = server.get("/metrics/throughput", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
    assert server.http.get(f"{server.api}/metrics/kpis", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_prometheus_scrape(server: Server, orders: list[str]):
    deploy_over_http(server, process("stuck", '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" '
                                     'targetRef="t"/><bpmn:serviceTask id="t"/>'))  # fmt: skip
    assert server.post("/process-definitions/stuck/instances", json={}).status_code == 201  # no topic: an incident

    response = server.http.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    listed = server.get("/process-instances", params={"processKey": "order_fulfillment", "perPage": 500}).json()
    completed = sum(1 for i in listed["items"] if i["status"] == "completed")
    assert samples[("orderflow_instances_started_total", (("process", "order_fulfillment"),))] == listed["total"]
    ended = ("orderflow_instances_ended_total", (("process", "order_fulfillment"), ("status", "completed")))
    assert samples[ended] == completed
    assert samples[("orderflow_instances", (("process", "stuck"), ("status", "incident"), ("version", "1")))] == 1
    assert samples[("orderflow_incidents_open", (("process", "stuck"),))] == 1
    assert samples[("orderflow_element_active", (("element", "t"), ("process", "stuck"), ("version", "1")))] == 1
    now = time.time()
    assert abs(samples[("orderflow_newest_event_timestamp_seconds", ())] - now) < 600  # a recent event, not a speed
    assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 401
