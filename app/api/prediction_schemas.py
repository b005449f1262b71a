"""Request and response bodies of the prediction endpoints: the demand forecast, capacity advice, orders at risk."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .schemas import Strict


class ForecastQuery(Strict):
    processKey: str = Field(description="The process whose orders are forecast")
    channel: str | None = Field(default=None, description="One sales channel (the order variable `channel`)")
    hours: int = Field(default=168, ge=1, le=168, description="How many hours ahead, from the hour under way")


class ForecastPoint(BaseModel):
    at: str = Field(description="The start of the hour (UTC)")
    expected: float = Field(description="Orders expected to arrive in the hour")
    low: float = Field(description="Bottom of the 90% prediction interval")
    high: float = Field(description="Top of the 90% prediction interval")


class BacktestOut(BaseModel):
    metric: str = Field(description="WAPE: sum of absolute errors over sum of actual orders (handles zero hours)")
    value: float
    horizonHours: int = Field(description="How far ahead each back-test forecast looked")
    origins: int = Field(description="Rolling origins: days at whose start the model was refitted and tested")
    hours: int = Field(description="Hours compared")
    mape: float | None = Field(description="MAPE over the compared hours with at least one order")
    seasonalNaive: float = Field(description="WAPE of the seasonal naive forecast (one season before) on those hours")


class ForecastOut(BaseModel):
    processKey: str
    channel: str | None
    model: str
    seasonHours: int
    historyHours: int
    points: list[ForecastPoint]
    backtest: BacktestOut
    fittedAt: str


class CapacityQuery(Strict):
    hours: int = Field(default=24, ge=1, le=168)


class CapacityHour(BaseModel):
    at: str
    jobsExpected: float
    workers: int = Field(description="Workers needed for the expected jobs at 80% utilisation")
    workersAtHigh: int = Field(description="Workers needed at the top of the forecast's band")


class TopicAdvice(BaseModel):
    topic: str
    secondsPerJob: float = Field(description="Median time from due to done over the last day")
    jobsPerWorkerHour: float
    workersNow: int
    peakAt: str | None
    peakWorkers: int
    peakWorkersAtHigh: int
    workersOnHand: int | None = Field(description="ORDERFLOW_CAPACITY_WORKERS for the topic, if set")
    hours: list[CapacityHour]


class CapacityOut(BaseModel):
    fittedAt: str
    utilisation: float
    items: list[TopicAdvice]


class RiskQuery(Strict):
    processKey: str | None = None
    atRiskOnly: bool = Field(default=True, description="Only orders whose risk is at or over the threshold")
    limit: int = Field(default=100, ge=1, le=1000)


class OrderRisk(BaseModel):
    id: str
    processKey: str
    businessKey: str | None
    status: str
    elementId: str | None = Field(description="Where the order is (the position the prediction comes from)")
    slaRisk: float | None = Field(description="Probability (0..1) of missing the SLA target; null: no target")
    predictedCompletionAt: str | None
    slaDeadlineAt: str | None


class RiskOut(BaseModel):
    fittedAt: str
    threshold: float
    atRisk: int = Field(description="Orders not ended with a risk at or over the threshold")
    running: int = Field(description="Orders not ended")
    items: list[OrderRisk]
