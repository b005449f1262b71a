"""Predictions over REST on a simulated history: three weeks of back-dated orders written by `simulate-history`
(daily and weekly rhythm, one surge) and orders under way started for real. One app and one history for the module,
so the fit (a few seconds) is paid once.

The bounds these tests hold the predictions to are the ones the README states: back-tested WAPE under 35% for the
order count per hour, and an at-risk list that flags at least 80% of the orders that went on to miss their SLA
(recall), at least 30 minutes before their deadline, with at least 40% of the flagged ones really missing it
(precision)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from app.simulate_history import HistoryResult, write_history
from processes.core.models import ProcessInstance, utcnow
from processes.prediction import completed_visits, evaluate
from processes.reporting.alerts import AlertMonitor, AlertSettings
from processes.reporting.sla import SlaTargets
from tests.support.apps import in_process_app, token_client
from tests.support.paths import DIAGRAMS

SLA = '{"order_fulfillment": "PT2H", "inbox_approval": "PT1H"}'
WAPE_BOUND = 0.35


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, HistoryResult]]:
    app = in_process_app(
        tmp_path_factory.mktemp("prediction"),
        deploy_shipped=False,
        ORDERFLOW_SLA=SLA,
        ORDERFLOW_CAPACITY_WORKERS='{"wms.ship": 0, "*": 5}',
    )
    result = write_history(app.extensions["orderflow"].engine, weeks=3.2, orders_per_hour=40, running=12, seed=3)
    yield app, result


@pytest.fixture
def client(history: tuple[Flask, HistoryResult]) -> FlaskClient:
    return token_client(history[0])


def test_the_forecast_has_a_week_of_points_a_band_and_its_backtested_error(client: FlaskClient):
    answer = client.get("/api/v1/forecast?processKey=order_fulfillment&hours=168")
    assert answer.status_code == 200, answer.json
    body = answer.json
    points = body["points"]
    assert len(points) == 168
    assert all(p["low"] <= p["expected"] <= p["high"] and p["low"] >= 0 for p in points)
    assert any(p["high"] > p["low"] for p in points)  # a real band, not a line
    assert body["seasonHours"] == 168  # three weeks: the weekly rhythm is fitted
    backtest = body["backtest"]
    assert (backtest["metric"], backtest["horizonHours"], backtest["origins"]) == ("WAPE", 24, 7)
    assert 0 < backtest["value"] < WAPE_BOUND
    assert backtest["mape"] is not None and backtest["mape"] > 0
    assert backtest["value"] < backtest["seasonalNaive"]  # better than "same hour last week"
    fitted = datetime.fromisoformat(body["fittedAt"].rstrip("Z"))
    assert abs(fitted - utcnow()) < timedelta(hours=1)
    # It learnt the rhythm: the late-morning hours of a weekday are expected busier than the night before.
    by_hour = {datetime.fromisoformat(p["at"].rstrip("Z")): p["expected"] for p in points}
    weekday_11 = [v for at, v in by_hour.items() if at.hour == 11 and at.weekday() < 5]
    night_03 = [v for at, v in by_hour.items() if at.hour == 3 and at.weekday() < 5]
    assert min(weekday_11) > 3 * max(night_03)


def test_a_channel_has_a_forecast_of_its_own_and_unknown_ones_are_refused(client: FlaskClient):
    web = client.get("/api/v1/forecast?processKey=order_fulfillment&channel=web&hours=24").json
    total = client.get("/api/v1/forecast?processKey=order_fulfillment&hours=24").json
    assert len(web["points"]) == 24 and web["channel"] == "web"
    assert sum(p["expected"] for p in web["points"]) < sum(p["expected"] for p in total["points"])
    assert client.get("/api/v1/forecast?processKey=nobody_orders_this").status_code == 404
    assert client.get("/api/v1/forecast?processKey=order_fulfillment&channel=fax").status_code == 404
    assert client.get("/api/v1/forecast?processKey=order_fulfillment&hours=169").status_code == 422


def test_running_orders_carry_their_sla_risk_and_list_riskiest_first(
    client: FlaskClient, history: tuple[Flask, HistoryResult]
):
    page = client.get("/api/v1/process-instances?sort=-slaRisk&perPage=50").json
    assert page["total"] == len(history[1].running) == len(page["items"])
    risks = [item["slaRisk"] for item in page["items"]]
    assert risks == sorted(risks, reverse=True) and all(0 <= r <= 1 for r in risks)
    assert len(set(risks)) > 1  # orders placed at different times are not all alike
    riskiest = page["items"][0]
    one = client.get(f"/api/v1/process-instances/{riskiest['id']}").json
    assert one["slaRisk"] == riskiest["slaRisk"] and one["predictedCompletionAt"] and one["slaDeadlineAt"]
    # The deadline is the order's start plus the 2-hour target.
    created = datetime.fromisoformat(one["createdAt"].rstrip("Z"))
    assert datetime.fromisoformat(one["slaDeadlineAt"].rstrip("Z")) - created == timedelta(hours=2)
    # An order that has ended has no risk.
    done = client.get("/api/v1/process-instances?status=completed&perPage=1").json["items"][0]
    assert client.get(f"/api/v1/process-instances/{done['id']}").json["slaRisk"] is None
    listed = client.get("/api/v1/orders-at-risk?atRiskOnly=false&limit=500").json
    assert listed["running"] == len(history[1].running)
    assert [i["id"] for i in listed["items"]] == [i["id"] for i in page["items"]]
    assert listed["atRisk"] == sum(r >= listed["threshold"] for r in risks)


def test_the_at_risk_list_catches_most_orders_that_then_miss_their_sla(history: tuple[Flask, HistoryResult]):
    engine = history[0].extensions["orderflow"].engine
    end = history[1].end
    visits = completed_visits(engine, end - timedelta(days=30), end)
    found = evaluate(visits, SlaTargets.parse(SLA), end - timedelta(days=7), end - timedelta(hours=3))
    assert found.orders > 1000 and found.breached > 30  # enough to judge
    assert found.recall is not None and found.recall >= 0.8
    assert found.precision is not None and found.precision >= 0.4


def test_capacity_advice_is_served_and_exposed_for_an_autoscaler(client: FlaskClient):
    advice = client.get("/api/v1/capacity?hours=24").json
    topics = {item["topic"]: item for item in advice["items"]}
    assert set(topics) == {"wms.reserve", "payment.authorize", "payment.capture", "wms.ship"}
    ship = topics["wms.ship"]
    assert 20 < ship["secondsPerJob"] < 45  # the simulated ship job takes 30 s at the median
    assert len(ship["hours"]) == 24 and ship["peakWorkers"] >= 1 and ship["workersOnHand"] == 0
    assert topics["wms.reserve"]["workersOnHand"] == 5
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'orderflow_workers_recommended_peak{{topic="wms.ship"}} {float(ship["peakWorkers"])}' in metrics
    assert 'orderflow_forecast_error{process="order_fulfillment"}' in metrics
    assert 'orderflow_orders_at_risk{process="order_fulfillment"}' in metrics


def test_alerts_fire_for_orders_at_risk_and_a_peak_over_capacity(history: tuple[Flask, HistoryResult]):
    sent: list[dict] = []

    def post(url: str, json: dict, timeout) -> requests.Response:
        sent.append(json)
        response = requests.Response()
        response.status_code = 204
        return response

    predictor = history[0].extensions["orderflow"].predictor
    at_risk = len(predictor.at_risk(predictor.risks()))
    assert at_risk >= 1
    settings = AlertSettings(webhook_url="http://127.0.0.1:9/hook")
    monitor = AlertMonitor(predictor.engine, settings, post=post, rules=[predictor.readings])
    configured = predictor.settings
    predictor.settings = replace(configured, at_risk_alert=at_risk)  # ORDERFLOW_ALERT_AT_RISK: just reached
    try:
        monitor.check()
    finally:
        predictor.settings = configured
    fired = {message["alert"]: message for message in sent}
    assert fired["orders_at_risk"]["status"] == "firing" and fired["orders_at_risk"]["value"] == at_risk
    # No worker on hand for wms.ship: its forecast peak is over capacity; five for the others are plenty.
    assert fired["capacity:wms.ship"]["status"] == "firing"
    assert "capacity:wms.reserve" not in fired


def test_the_inbox_and_the_incident_list_sort_by_sla_risk(client: FlaskClient, history: tuple[Flask, HistoryResult]):
    """Two approvals: one of an order placed two hours ago (past its one-hour target), one just placed."""
    diagram = (DIAGRAMS / "inbox_approval.bpmn").read_bytes()
    assert (
        client.post(
            "/api/v1/deployments",
            data={"files": (io.BytesIO(diagram), "inbox_approval.bpmn")},
            content_type="multipart/form-data",
        ).status_code
        == 201
    )
    started = {}
    for key in ("RISK-LATE", "RISK-FRESH"):
        answer = client.post("/api/v1/process-definitions/inbox_approval/instances", json={"businessKey": key})
        started[key] = answer.json["id"]
    engine = history[0].extensions["orderflow"].engine
    with engine.write_session() as session:
        session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == started["RISK-LATE"])
            .values(created_at=utcnow() - timedelta(hours=2))
        )
        session.commit()
    newest_first = client.get("/api/v1/tasks?processKey=inbox_approval").json["items"]
    marks = {t["businessKey"]: t["slaRisk"] for t in newest_first}
    assert marks == {"RISK-LATE": 1.0, "RISK-FRESH": None}  # no history of this process yet: no risk to tell
    by_risk = client.get("/api/v1/tasks?processKey=inbox_approval&sort=slaRisk").json["items"]
    assert [t["businessKey"] for t in by_risk] == ["RISK-LATE", "RISK-FRESH"]
    assert client.get("/api/v1/incidents?sort=-slaRisk").status_code == 200
    assert client.get("/api/v1/incidents?sort=riskiest").status_code == 422
