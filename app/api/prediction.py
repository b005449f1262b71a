"""Predictions over REST: the demand forecast with its back-tested error, capacity advice per job topic, and the
orders at risk of missing their SLA (processes/prediction). Reads only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apiflask import APIBlueprint
from sqlalchemy import select

from processes.core.models import ProcessInstance, iso, utcnow
from processes.prediction import Forecast, Predictor, Risk
from processes.prediction.capacity import UTILISATION

from ..extensions import auth
from ..services import services
from .prediction_schemas import CapacityOut, CapacityQuery, ForecastOut, ForecastQuery, RiskOut, RiskQuery

bp = APIBlueprint("prediction", __name__, url_prefix="/api/v1", tag="Predictions")
READERS = ["operator", "analyst", "admin"]


def predictor() -> Predictor:
    return services().predictor


def forecast_view(key: str, channel: str | None, found: Forecast, fitted_at: datetime, hours: int) -> dict[str, Any]:
    return {
        "processKey": key,
        "channel": channel,
        "model": f"Holt-Winters, additive season of {found.season_hours} hours",
        "seasonHours": found.season_hours,
        "historyHours": found.history_hours,
        "points": [
            {"at": iso(at), "expected": round(e, 2), "low": round(lo, 2), "high": round(hi, 2)}
            for at, e, lo, hi in found.points(utcnow(), hours)
        ],
        "backtest": found.backtest.view(),
        "fittedAt": iso(fitted_at),
    }


def capacity_view(hours: int) -> dict[str, Any]:
    found = predictor()
    items = []
    for advice in found.capacity(utcnow(), hours):
        at, needed, high = advice.peak()
        items.append(
            {
                "topic": advice.topic,
                "secondsPerJob": advice.seconds_per_job,
                "jobsPerWorkerHour": advice.jobs_per_worker_hour,
                "workersNow": advice.now,
                "peakAt": iso(at),
                "peakWorkers": needed,
                "peakWorkersAtHigh": high,
                "workersOnHand": advice.on_hand,
                "hours": [
                    {"at": iso(h), "jobsExpected": jobs, "workers": w, "workersAtHigh": wh}
                    for h, jobs, w, wh in advice.hours
                ],
            }
        )
    return {"fittedAt": iso(found.fitted().fitted_at), "utilisation": UTILISATION, "items": items}


def sla_risks(process_key: str | None = None, instance_ids: Iterable[str] | None = None) -> dict[str, float | None]:
    """Order id -> probability of missing its SLA, for the orders not ended (or those of `instance_ids`)."""
    found = predictor().risks(process_key=process_key, instance_ids=instance_ids)
    return {r.instance_id: None if r.risk is None else round(r.risk, 4) for r in found}


def with_sla_risk(items: list[dict[str, Any]], key: str = "instanceId") -> list[dict[str, Any]]:
    """Each item with its order's slaRisk (items of a page: the risk of just those orders is computed)."""
    if items and any("slaRisk" not in item for item in items):
        risks = sla_risks(instance_ids={item[key] for item in items})
        for item in items:
            item.setdefault("slaRisk", risks.get(item[key]))
    return items


def risk_fields(found: Risk | None) -> dict[str, Any]:
    if found is None:
        return {"slaRisk": None, "predictedCompletionAt": None, "slaDeadlineAt": None}
    return {
        "slaRisk": None if found.risk is None else round(found.risk, 4),
        "predictedCompletionAt": iso(found.predicted_completion),
        "slaDeadlineAt": iso(found.deadline),
    }


def risk_view(process_key: str | None, at_risk_only: bool, limit: int) -> dict[str, Any]:
    found = predictor()
    risks = found.risks(process_key=process_key)
    flagged = found.at_risk(risks)
    shown = (flagged if at_risk_only else risks)[:limit]
    with services().engine.read_session() as session:
        rows = {
            row.id: row
            for row in session.execute(
                select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.status).where(
                    ProcessInstance.id.in_([r.instance_id for r in shown])
                )
            )
        }
    items = [
        {
            "id": r.instance_id,
            "processKey": r.process_key,
            "businessKey": rows[r.instance_id].business_key if r.instance_id in rows else None,
            "status": rows[r.instance_id].status if r.instance_id in rows else "",
            "elementId": r.element_id,
            **risk_fields(r),
        }
        for r in shown
    ]
    return {
        "fittedAt": iso(found.fitted().fitted_at),
        "threshold": found.settings.risk_threshold,
        "atRisk": len(flagged),
        "running": len(risks),
        "items": items,
    }


@bp.get("/forecast")
@bp.auth_required(auth, roles=READERS)
@bp.input(ForecastQuery, location="query", arg_name="q")
@bp.output(ForecastOut)
@bp.doc(
    summary="Orders expected per hour for the coming days, with a 90% band and the back-tested error",
    description="Holt-Winters exponential smoothing on the order history (weekly season with two weeks of "
    "history, else daily), refitted on a schedule (`fittedAt`). `backtest` is a rolling-origin back-test over "
    "the last days: WAPE, and MAPE over hours with orders. 409 when there are fewer than three days of orders.",
)
def forecast(q: ForecastQuery):
    found, fitted_at = predictor().forecast(q.processKey, q.channel)
    return forecast_view(q.processKey, q.channel, found, fitted_at, q.hours)


@bp.get("/capacity")
@bp.auth_required(auth, roles=READERS)
@bp.input(CapacityQuery, location="query", arg_name="q")
@bp.output(CapacityOut)
@bp.doc(
    summary="Workers each job topic needs in the coming hours, from the forecast and measured job times",
    description="Also on /metrics as orderflow_workers_recommended and orderflow_workers_recommended_peak, "
    "for an autoscaler.",
)
def capacity(q: CapacityQuery):
    return capacity_view(q.hours)


@bp.get("/orders-at-risk")
@bp.auth_required(auth, roles=READERS)
@bp.input(RiskQuery, location="query", arg_name="q")
@bp.output(RiskOut)
@bp.doc(
    summary="Orders not ended, riskiest first: probability of missing the SLA and predicted completion",
    description="The risk comes from how long orders took from the element each order is at, by channel, given "
    "how long it has waited there. Orders of processes without an SLA target (ORDERFLOW_SLA) have no risk.",
)
def orders_at_risk(q: RiskQuery):
    return risk_view(q.processKey, q.atRiskOnly, q.limit)
