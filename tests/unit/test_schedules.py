"""Timer start events: when they fire (ISO cycles, dates, durations, Camunda 7 Quartz and Camunda 8 cron), that each
tick starts exactly one instance however many workers race for it, and that a new version replaces the schedule."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from processes.core.engine import Engine
from processes.core.models import SCHEDULE, Job, ProcessInstance, utcnow
from processes.deployment.deployments import deploy
from processes.errors import Conflict, DeploymentRejected
from processes.features.schedules import (
    CAMUNDA7,
    CAMUNDA8,
    ScheduleError,
    TimerStart,
    first_tick,
    next_tick,
    timer_starts,
)
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import HEADER, process, scheduled

ZEEBE_HEADER = HEADER.replace(
    "<bpmn:definitions ", '<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
)
NOW = datetime(2026, 3, 4, 8, 59, 58)  # a Wednesday, UTC


def timer(kind: str, text: str, flavour: str = CAMUNDA7) -> TimerStart:
    return TimerStart("p", "start", kind, text, None, flavour)


def ticks(kind: str, text: str, flavour: str = CAMUNDA7, count: int = 4) -> list[datetime]:
    """The first `count` ticks (fewer when the schedule ends), each fired on time."""
    tick, state = first_tick(timer(kind, text, flavour), NOW)
    found = [tick]
    while len(found) < count:
        tick = next_tick(state, tick, tick)
        if tick is None:
            break
        found.append(tick)
    return found


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    "kind, text, flavour, expected",
    [
        # ISO 8601 repeating intervals: a count, forever, from a start in the past (joins at the next tick).
        ("timeCycle", "R3/PT1H", CAMUNDA7, ["2026-03-04T09:59:58", "2026-03-04T10:59:58", "2026-03-04T11:59:58"]),
        ("timeCycle", "R/PT10M", CAMUNDA7, ["2026-03-04T09:09:58", "2026-03-04T09:19:58", "2026-03-04T09:29:58"]),
        ("timeCycle", "R/2026-01-01T09:00:00Z/P1D", CAMUNDA7, ["2026-03-04T09:00:00", "2026-03-05T09:00:00"]),
        ("timeCycle", "R2/2026-03-31T09:00:00Z/P1M", CAMUNDA7, ["2026-03-31T09:00:00", "2026-04-30T09:00:00"]),
        # Once: a date (a past one fires at once), a duration after the deploy.
        ("timeDate", "2026-12-24T18:00:00+01:00", CAMUNDA7, ["2026-12-24T17:00:00"]),
        ("timeDate", "2020-01-01T00:00:00Z", CAMUNDA7, ["2026-03-04T08:59:58"]),
        ("timeDuration", "PT2H", CAMUNDA7, ["2026-03-04T10:59:58"]),
        # Camunda 7 (Quartz): seconds first, `?`, day-of-week 1 = Sunday, `6L` = last Friday, a year.
        ("timeCycle", "0 0 9 * * ?", CAMUNDA7, ["2026-03-04T09:00:00", "2026-03-05T09:00:00"]),
        ("timeCycle", "0 30 9 ? * 2-6", CAMUNDA7, ["2026-03-04T09:30:00", "2026-03-05T09:30:00", "2026-03-06T09:30:00",
                                                  "2026-03-09T09:30:00"]),
        ("timeCycle", "0 0 12 ? * 6L", CAMUNDA7, ["2026-03-27T12:00:00", "2026-04-24T12:00:00"]),
        ("timeCycle", "0 0 12 1 1 ? 2027", CAMUNDA7, ["2027-01-01T12:00:00"]),
        ("timeCycle", "0/5 0/1 * 1/1 * ?", CAMUNDA7, ["2026-03-04T09:00:00", "2026-03-04T09:00:05"]),
        # Camunda 8 (Spring): seconds first, day-of-week 1 = Monday; and the plain five fields.
        ("timeCycle", "0 30 9 * * 1-5", CAMUNDA8, ["2026-03-04T09:30:00", "2026-03-05T09:30:00", "2026-03-06T09:30:00",
                                                  "2026-03-09T09:30:00"]),
        ("timeCycle", "30 9 * * MON", CAMUNDA8, ["2026-03-09T09:30:00", "2026-03-16T09:30:00"]),
        # Expressions are evaluated at deploy, without variables.
        ("timeCycle", "${'R2/PT1M'}", CAMUNDA7, ["2026-03-04T09:00:58", "2026-03-04T09:01:58"]),
        ("timeDuration", '=duration("PT1M")', CAMUNDA8, ["2026-03-04T09:00:58"]),
    ],
)  # fmt: skip
def test_when_a_timer_start_event_fires(kind: str, text: str, flavour: str, expected: list[str]) -> None:
    assert ticks(kind, text, flavour, count=len(expected)) == [at(e) for e in expected]


def test_a_count_ends_the_schedule_and_missed_ticks_start_one_instance_late() -> None:
    assert len(ticks("timeCycle", "R3/PT1H", count=10)) == 3
    tick, state = first_tick(timer("timeCycle", "0 0 * * * ?"), NOW)
    assert tick == at("2026-03-04T09:00:00")
    # Nothing ran for five hours: the next tick is the next one from now, not the five that were missed.
    assert next_tick(state, tick, at("2026-03-04T14:30:00")) == at("2026-03-04T15:00:00")


@pytest.mark.parametrize(
    "kind, text, fragment",
    [
        ("timeCycle", "every day at nine", "neither an ISO repeating interval"),
        ("timeCycle", "0 0 9 LW * ?", "not a cron expression orderflow can run"),
        ("timeCycle", "R/P", "not an ISO 8601 duration"),
        ("timeCycle", "R/PT1H/2027-01-01T00:00:00Z", r"write R\[n\]/duration or R\[n\]/start/duration"),
        ("timeDate", "next tuesday", "not an ISO 8601 date"),
        ("timeDuration", "PT0S", "longer than zero"),
        ("timeCycle", "${nextRun}", "cannot be evaluated at deploy"),
    ],
)
def test_timers_orderflow_cannot_schedule_are_named(kind: str, text: str, fragment: str) -> None:
    with pytest.raises(ScheduleError, match=fragment):
        first_tick(timer(kind, text), NOW)


def schedules_of(engine: Engine, key: str | None = None) -> list[Job]:
    with engine.read_session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == SCHEDULE).order_by(Job.created_at)).all()
    return [j for j in jobs if key is None or j.variables.get("processKey") == key]


def instances_of(engine: Engine, key: str) -> list[ProcessInstance]:
    with engine.read_session() as session:
        query = select(ProcessInstance).where(ProcessInstance.process_key == key).order_by(ProcessInstance.created_at)
        return list(session.scalars(query))


def test_a_due_tick_starts_one_instance_at_its_start_event_and_moves_on(engine: Engine) -> None:
    deploy(engine, [scheduled("nightly", "R/PT0.2S", none_start=True)])
    [schedule] = schedules_of(engine, "nightly")
    assert schedule.status == "ready" and schedule.instance_id is None and schedule.element_id == "tick"
    time.sleep(0.25)
    jobs = JobService(engine)
    [claimed] = jobs.claim("scheduler")
    jobs.run(claimed)
    [instance] = instances_of(engine, "nightly")
    view = get_instance(engine, instance.id)
    # Only the timer's path ran, though the process also has a none start event.
    assert view["status"] == "completed" and view["variables"]["how"] == "on time"
    started = [e for e in instance_events(engine, instance.id) if e["type"] == "instance_started"][0]
    assert started["elementId"] == "tick" and started["data"]["timer"] == "R/PT0.2S"
    [moved] = schedules_of(engine, "nightly")
    assert moved.status == "ready" and moved.due_at > schedule.due_at and moved.locked_by is None
    # A start by hand takes the none start event.
    by_hand = start_instance(engine, "nightly").instance["id"]
    assert get_instance(engine, by_hand)["variables"]["how"] == "by hand"


def test_a_worker_whose_lease_was_taken_over_starts_nothing(engine: Engine) -> None:
    deploy(engine, [scheduled("leased", "R/PT0.1S")])
    time.sleep(0.15)
    jobs = JobService(engine)
    [stale] = jobs.claim("slow-worker", lease_seconds=0.05)
    time.sleep(0.1)
    [fresh] = jobs.claim("other-worker")  # the first lease expired: the tick is claimable again
    jobs.run(fresh)
    with pytest.raises(Conflict):
        jobs.run(stale)
    assert len(instances_of(engine, "leased")) == 1


def test_each_tick_starts_exactly_one_instance_with_several_schedulers_racing(engine: Engine) -> None:
    deploy(engine, [scheduled("raced", "R6/PT0.15S")])
    stop = threading.Event()
    errors: list[Exception] = []

    def scheduler(name: str) -> None:
        jobs = JobService(engine)
        while not stop.is_set():
            for job in jobs.claim(name, limit=5):
                try:
                    jobs.run(job)
                except Conflict:
                    pass
                except Exception as exc:  # any other failure fails the test
                    errors.append(exc)
            time.sleep(0.005)

    threads = [threading.Thread(target=scheduler, args=(f"scheduler-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while schedules_of(engine, "raced")[0].status != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert schedules_of(engine, "raced")[0].status == "done"
    instances = instances_of(engine, "raced")
    assert len(instances) == 6
    assert len({i.idempotency_key for i in instances}) == 6  # one per tick


def test_the_outbox_sweep_sends_due_schedules_to_the_broker(engine: Engine) -> None:
    deploy(engine, [scheduled("swept", "R/PT0.1S")])
    time.sleep(0.15)
    [schedule] = schedules_of(engine, "swept")
    assert JobService(engine).sweep(topics=["payment"]) == [schedule.id]  # other topics' workers still see it


def test_a_new_version_replaces_the_schedule(engine: Engine) -> None:
    deploy(engine, [scheduled("versions", "0 0 9 * * ?")])
    assert deploy(engine, [scheduled("versions", "0 0 9 * * ?")]).definitions[0]["isNew"] is False
    [v1] = schedules_of(engine, "versions")
    assert v1.status == "ready"  # the same content again: the same schedule

    deploy(engine, [scheduled("versions", "0 0 18 * * ?")])
    v1, v2 = schedules_of(engine, "versions")
    assert (v1.status, v2.status) == ("cancelled", "ready")
    assert v2.variables["definitionId"] == "versions:2" and v2.due_at.hour == 18

    body = '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>'
    deploy(engine, [process("versions", body)])  # version 3 has no timer start event
    assert [j.status for j in schedules_of(engine, "versions")] == ["cancelled", "cancelled"]


def test_a_timer_start_event_orderflow_cannot_schedule_is_refused_at_deploy(engine: Engine) -> None:
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [scheduled("bad_cron", "0 0 9 LW * ?")])
    assert [(p.element_id, p.line) for p in rejected.value.problems] == [("tick", 3)]
    assert "0 0 9 LW * ?" in rejected.value.problems[0].message


def test_camunda8_diagrams_read_six_field_cron_the_spring_way() -> None:
    root = etree.fromstring(scheduled("c8", "0 0 9 * * 1", header=ZEEBE_HEADER)[1])
    [start] = timer_starts(root)
    assert start.flavour == CAMUNDA8
    assert first_tick(start, NOW)[0].weekday() == 0  # 1 is Monday in Camunda 8, Sunday in Camunda 7


# -- camunda7/order-handling, unchanged --------------------------------------------------------------------------


def test_order_handling_starts_every_five_seconds_and_runs_both_ways(engine: Engine, conformance: Path) -> None:
    """Its timer start event is the Quartz cycle `0/5 0/1 * 1/1 * ?`; its subprocess has a conditional boundary
    event `${invoiceId != null}`. A created invoice interrupts the subprocess and is archived; without one, the
    subprocess ends normally."""
    xml = (conformance / "camunda7" / "order-handling.bpmn").read_bytes()
    deploy(engine, [("order-handling.bpmn", xml)])
    [schedule] = schedules_of(engine, "Order_Process")
    assert schedule.due_at - utcnow() <= timedelta(seconds=5) and schedule.due_at.second % 5 == 0

    def tick() -> str:
        wait = (schedules_of(engine, "Order_Process")[0].due_at - utcnow()).total_seconds()
        time.sleep(max(wait, 0) + 0.05)
        jobs = JobService(engine)
        [claimed] = jobs.claim("scheduler")
        jobs.run(claimed)
        return instances_of(engine, "Order_Process")[-1].id

    def work(topic: str, result: dict) -> None:
        jobs = JobService(engine, lambda job: result)
        [claimed] = jobs.claim("worker", topics=[topic], limit=1)
        jobs.run(claimed)

    invoiced = tick()
    work("invoiceCreator", {"invoiceId": "INV-1"})
    assert [e["elementId"] for e in get_instance(engine, invoiced)["activeElements"]] == ["Task_1yjkccw"]
    work("invoiceArchiver", {})
    view = get_instance(engine, invoiced)
    assert view["status"] == "completed" and view["variables"]["invoiceId"] == "INV-1"
    completed = [e["elementId"] for e in instance_events(engine, invoiced) if e["type"] == "element_completed"]
    assert "EndEvent_0q2wrcp" in completed and "EndEvent_00asnpf" not in completed

    not_invoiced = tick()
    work("invoiceCreator", {})  # no invoice: the condition reads an undefined variable, which is false
    view = get_instance(engine, not_invoiced)
    assert view["status"] == "completed", view
    completed = [e["elementId"] for e in instance_events(engine, not_invoiced) if e["type"] == "element_completed"]
    assert "EndEvent_00asnpf" in completed and "Task_1yjkccw" not in completed
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 2
