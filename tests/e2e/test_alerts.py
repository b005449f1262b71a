"""Alerts: an SLA breach or too many incidents posts JSON to a webhook (a local receiver here), once per breach,
however many processes check; a cleared breach re-arms the alert; a failed post is tried again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from processes.core.engine import Engine
from processes.core.models import AlertState, AuditEvent, Deployment, ProcessDefinition, ProcessInstance
from processes.errors import InvalidInput
from processes.reporting.alerts import AlertMonitor, AlertSettings
from processes.reporting.sla import SlaTargets
from tests.support.diagrams import process
from tests.support.rest import deploy
from tests.support.server import start_server, stop

T0 = datetime(2026, 4, 6, 8, 0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Receiver:
    """A webhook endpoint on loopback that keeps what it was sent; `fail` answers the next posts with 500."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                failing = receiver.fail > 0
                receiver.fail -= 1 if failing else 0
                receiver.received.append({"body": body, "failed": failing, "type": self.headers["Content-Type"]})
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/orderflow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def delivered(self) -> list[dict]:
        return [r["body"] for r in self.received if not r["failed"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def orders(engine: Engine) -> Engine:
    with engine.write_session() as session:
        session.execute(insert(Deployment), [{"id": "d1", "created_at": at(-60)}])
        session.execute(
            insert(ProcessDefinition),
            [{"id": "order:1", "key": "order", "version": 1, "deployment_id": "d1", "resource_name": "order.bpmn",
              "content_hash": "h", "xml": "<definitions/>", "spec_json": "{}", "created_at": at(-60)}],
        )  # fmt: skip
        session.commit()
    return engine


def add_order(engine: Engine, name: str, started: datetime, ended: datetime | None = None) -> None:
    with engine.write_session() as session:
        session.execute(
            insert(ProcessInstance),
            [{"id": name, "definition_id": "order:1", "process_key": "order", "definition_version": 1,
              "business_key": name, "status": "completed" if ended else "incident", "state": "{}", "variables": {},
              "active_elements": [], "created_at": started, "updated_at": ended or started, "ended_at": ended}],
        )  # fmt: skip
        events = [{"instance_id": name, "at": started, "type": "instance_started"}]
        if ended:
            events.append({"instance_id": name, "at": ended, "type": "instance_completed"})
        session.execute(insert(AuditEvent), events)
        session.commit()


def incident_opened(engine: Engine, name: str, moment: datetime) -> None:
    add_order(engine, name, moment)
    with engine.write_session() as session:
        session.execute(insert(AuditEvent), [{"instance_id": name, "at": moment, "type": "incident_opened"}])
        session.commit()


def incident_alerts(engine: Engine, receiver: Receiver) -> AlertMonitor:
    return AlertMonitor(engine, AlertSettings(webhook_url=receiver.url, incident_threshold=2))


def test_too_many_incidents_fire_once_then_re_arm(orders: Engine, receiver: Receiver):
    monitor, other_process = incident_alerts(orders, receiver), incident_alerts(orders, receiver)
    incident_opened(orders, "A", at(1))
    assert monitor.check(at(3)) == [] and receiver.received == []  # one incident: under the threshold
    incident_opened(orders, "B", at(4))
    (fired,) = monitor.check(at(5))
    assert monitor.check(at(6)) == [] and other_process.check(at(7)) == []  # still the same breach
    assert receiver.delivered == [fired]
    assert fired["alert"] == "incident_rate" and fired["status"] == "firing"
    assert (fired["value"], fired["threshold"], fired["window"]) == (2.0, 2.0, "PT1H")
    assert fired["since"] == "2026-04-06T08:05:00.000Z" and "2 incidents opened" in fired["summary"]
    assert receiver.received[0]["type"] == "application/json"

    (cleared,) = other_process.check(at(70))  # both incidents are older than the window now
    assert cleared["status"] == "resolved" and monitor.check(at(71)) == []
    incident_opened(orders, "C", at(80))
    incident_opened(orders, "D", at(81))
    (again,) = monitor.check(at(82))  # a new breach is announced again
    assert [m["status"] for m in receiver.delivered] == ["firing", "resolved", "firing"]
    assert again["since"] == "2026-04-06T09:22:00.000Z"
    with orders.read_session() as session:
        state = session.get(AlertState, "incident_rate")
        assert (state.firing, state.notified, state.value) == (True, "firing", 2.0)


def test_an_sla_breach_fires_with_its_numbers(orders: Engine, receiver: Receiver):
    targets = SlaTargets.parse('{"order": {"target": "PT10M", "minShare": 0.5}}')
    monitor = AlertMonitor(orders, AlertSettings(webhook_url=receiver.url, targets=targets))
    add_order(orders, "fast", at(0), at(5))
    assert monitor.check(at(30)) == []  # 1 of 1 within target
    add_order(orders, "slow-1", at(1), at(20))
    add_order(orders, "slow-2", at(2), at(25))
    (fired,) = monitor.check(at(30))
    assert (fired["alert"], fired["status"], fired["value"], fired["threshold"]) == ("sla:order", "firing", 0.3333, 0.5)
    assert fired["details"]["met"] == 1 and fired["details"]["completedLate"] == 2
    assert "33.3% of orders within their PT10M target" in fired["summary"]
    assert monitor.check(at(31)) == []
    assert len(receiver.delivered) == 1


def test_a_failed_post_is_tried_again_and_delivered_once(orders: Engine, receiver: Receiver):
    monitor = incident_alerts(orders, receiver)
    incident_opened(orders, "A", at(1))
    incident_opened(orders, "B", at(2))
    receiver.fail = 1
    assert monitor.check(at(3)) == []
    with orders.read_session() as session:
        state = session.get(AlertState, "incident_rate")
        assert (state.firing, state.notified, state.attempts) == (True, None, 1)
        assert "500" in state.last_error
    assert [m["status"] for m in monitor.check(at(4))] == ["firing"]
    assert monitor.check(at(5)) == []
    assert [r["failed"] for r in receiver.received] == [True, False]


def test_processes_checking_at_once_post_once(orders: Engine, receiver: Receiver):
    incident_opened(orders, "A", at(1))
    incident_opened(orders, "B", at(2))
    monitors = [incident_alerts(orders, receiver) for _ in range(4)]
    threads = [threading.Thread(target=lambda m=m: [m.check(at(3 + n / 10)) for n in range(5)]) for m in monitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [m["status"] for m in receiver.delivered] == ["firing"]


def test_alert_settings_are_checked():
    settings = AlertSettings.from_env(
        {"ORDERFLOW_ALERT_WEBHOOK_URL": "https://hooks.example/x", "ORDERFLOW_ALERT_INCIDENTS": "5",
         "ORDERFLOW_ALERT_WINDOW": "PT15M", "ORDERFLOW_ALERT_INTERVAL_SECONDS": "30"}
    )  # fmt: skip
    assert (settings.incident_threshold, settings.window, settings.interval_seconds) == (5, timedelta(minutes=15), 30)
    assert settings.enabled
    assert not AlertSettings.from_env({"ORDERFLOW_ALERT_INCIDENTS": "5"}).enabled  # nowhere to post
    assert not AlertSettings.from_env({"ORDERFLOW_ALERT_WEBHOOK_URL": "https://hooks.example/x"}).enabled  # no rule
    for env in ({"ORDERFLOW_ALERT_WEBHOOK_URL": "ftp://x"}, {"ORDERFLOW_ALERT_INCIDENTS": "many"},
                {"ORDERFLOW_ALERT_INCIDENTS": "0"}, {"ORDERFLOW_ALERT_WINDOW": "an hour"}):  # fmt: skip
        with pytest.raises(InvalidInput):
            AlertSettings.from_env(env)


def test_two_running_servers_post_one_alert(sandbox_url: str, receiver: Receiver, tmp_path: Path):
    """Two `orderflow serve` processes on one database, both checking alerts twice a second: one post."""
    env = {"ORDERFLOW_ALERT_WEBHOOK_URL": receiver.url, "ORDERFLOW_ALERT_INCIDENTS": "1",
           "ORDERFLOW_ALERT_INTERVAL_SECONDS": "0.5"}  # fmt: skip
    first = start_server(tmp_path, sandbox_url, **env)
    second = None
    try:
        second = start_server(tmp_path, sandbox_url, **env)
        # A service task with no topic: starting it opens an incident.
        bpmn = (
            '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/><bpmn:serviceTask id="t"/>'
        )
        assert deploy(first, process("unbound", bpmn)).status_code == 201
        assert second.post("/process-definitions/unbound/instances", json={}).status_code == 201
        deadline = time.monotonic() + 20
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)  # five more checks by each server
        assert [(m["alert"], m["status"]) for m in receiver.delivered] == [("incident_rate", "firing")]
        with first.http.get(f"{first.url}/metrics", timeout=10) as scraped:
            assert 'orderflow_incidents_open{process="unbound"} 1.0' in scraped.text
    finally:
        stop(first.proc)
        if second is not None:
            stop(second.proc)


def test_state_is_per_rule(orders: Engine, receiver: Receiver):
    targets = SlaTargets.parse('{"order": "PT10M"}')
    monitor = AlertMonitor(orders, AlertSettings(webhook_url=receiver.url, incident_threshold=1, targets=targets))
    add_order(orders, "slow", at(0), at(30))
    incident_opened(orders, "A", at(31))
    assert sorted(m["alert"] for m in monitor.check(at(32))) == ["incident_rate", "sla:order"]
    with orders.read_session() as session:
        assert sorted(session.scalars(select(AlertState.key))) == ["incident_rate", "sla:order"]
