"""Demand forecast: orders arriving per hour for the coming days, with a prediction interval and its back-tested error.

The model is additive Holt-Winters exponential smoothing (statsmodels' `ExponentialSmoothing`) on hourly counts,
with a weekly season of 168 hours once there are two weeks of history (it carries the daily shape and the weekday
differences in one season), else a daily season of 24 hours. Why this model: order arrivals are dominated by
their daily and weekly rhythm, which Holt-Winters captures with three smoothing weights; it fits in well under a
second on five weeks of hours, needs no tuning, and adapts to a changed level within days. A trend term is left out
on purpose: over a 7-day horizon an extrapolated trend after a one-off surge does more harm than good.

Error: a rolling-origin back-test. At each of the last `origins` days the model is fitted on the history before
that day and forecasts the next `horizon` hours; the forecasts are compared with what arrived. The headline metric
is WAPE (weighted absolute percentage error: the sum of absolute errors over the sum of actuals), which handles
hours with zero orders, where MAPE divides by zero. MAPE over the hours with at least one order is reported beside
it, because it is the figure people know; it is dominated by quiet night hours with a handful of orders. So is the
WAPE of the seasonal naive forecast (each hour as it was one season before) on the same hours: the model is worth
its keep when it beats that.

Interval: from the same back-test. Count errors grow with the count (Poisson-like), so each back-test error is
divided by the square root of its forecast; the 5th and 95th percentiles of those scaled errors, multiplied back
by the square root of each new forecast, give a 90% band. Counts below zero are cut to zero."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from processes.errors import Conflict

DAY, WEEK = 24, 168
BACKTEST_HORIZON = 24
BACKTEST_ORIGINS = 7
MAX_HOURS = WEEK
BAND = (5.0, 95.0)  # percentiles of the scaled back-test errors: a 90% interval


class NotEnoughHistory(Conflict):
    """Too few hours of orders to fit and back-test a forecast (at least three days)."""

    title = "Not enough history to forecast"


@dataclass(frozen=True)
class Backtest:
    metric: str
    value: float
    horizon_hours: int
    origins: int
    hours: int
    mape: float | None  # over hours with at least one order; None when there were none
    naive: float  # WAPE of the seasonal naive forecast (each hour as one season before) on the same hours

    def view(self) -> dict:
        return {
            "metric": self.metric,
            "value": round(self.value, 4),
            "horizonHours": self.horizon_hours,
            "origins": self.origins,
            "hours": self.hours,
            "mape": None if self.mape is None else round(self.mape, 4),
            "seasonalNaive": round(self.naive, 4),
        }


@dataclass(frozen=True)
class Forecast:
    """Expected orders per hour from `start` (the hour under way), with a 90% band and the back-test's error."""

    start: datetime
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray
    backtest: Backtest
    season_hours: int
    history_hours: int

    def points(self, since: datetime, hours: int) -> list[tuple[datetime, float, float, float]]:
        """`hours` points from the hour of `since` on (a forecast fitted earlier is read from the current hour)."""
        first = max(int((since - self.start) / timedelta(hours=1)), 0)
        last = min(first + hours, len(self.expected))
        return [
            (self.start + timedelta(hours=n), float(self.expected[n]), float(self.low[n]), float(self.high[n]))
            for n in range(first, last)
        ]


def _season(hours: int) -> int:
    """Weekly when two weeks are there to fit on even at the first back-test origin, else daily."""
    if hours - BACKTEST_ORIGINS * BACKTEST_HORIZON >= 2 * WEEK:
        return WEEK
    return DAY


def without_surges(history: np.ndarray) -> np.ndarray:
    """The history with one-off surges replaced by what was usual then, for fitting only.

    A one-off surge (a promotion, a partner's backlog arriving at once) would otherwise be learnt by the weekly season
    and come back in the forecast a week later. Usual is the median of the same hour of the day over the week around
    it (three days either side); an hour more than four standard deviations of a Poisson count above that is a
    surge. Weekends sit below the median, so their ordinary hours are never taken for surges; a weekday's peak
    (a busy Monday is some 15% above the week) stays well within the four deviations."""
    days = len(history) // DAY
    if days < 7:
        return history
    cleaned = history.copy()
    for n, value in enumerate(history):
        day, hour = divmod(n, DAY)
        first = min(max(day - 3, 0), days - 7)
        usual = float(np.median(history[first * DAY + hour : (first + 7) * DAY : DAY]))
        if value > usual + 4 * np.sqrt(usual + 1):
            cleaned[n] = usual
    return cleaned


def _fit_and_forecast(history: np.ndarray, season: int, steps: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    history = without_surges(history)
    if not history.any():  # nothing ever arrived: nothing is expected (the optimiser cannot fit a flat zero)
        return np.zeros(steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series; the back-test judges the fit
        model = ExponentialSmoothing(
            history, trend=None, seasonal="add", seasonal_periods=season, initialization_method="heuristic"
        ).fit()
        return np.clip(model.forecast(steps), 0.0, None)


def backtest(history: np.ndarray, season: int) -> tuple[Backtest, np.ndarray]:
    """Rolling origin over the last days of `history`; also returns the scaled errors for the band."""
    origins = min(BACKTEST_ORIGINS, (len(history) - 2 * season) // BACKTEST_HORIZON)
    if origins < 1:
        raise NotEnoughHistory(f"{len(history)} hours of history; at least {2 * season + BACKTEST_HORIZON} needed")
    actual, predicted, naive = [], [], []
    for k in range(origins, 0, -1):
        origin = len(history) - k * BACKTEST_HORIZON
        predicted.append(_fit_and_forecast(history[:origin], season, BACKTEST_HORIZON))
        actual.append(history[origin : origin + BACKTEST_HORIZON])
        naive.append(history[origin - season : origin - season + BACKTEST_HORIZON])
    a, f = np.concatenate(actual), np.concatenate(predicted)
    errors = np.abs(a - f)
    wape = _wape(a, f)
    busy = a > 0
    mape = float(np.mean(errors[busy] / a[busy])) if busy.any() else None
    scaled = (a - f) / np.sqrt(np.maximum(f, 1.0))
    return Backtest("WAPE", wape, BACKTEST_HORIZON, origins, len(a), mape, _wape(a, np.concatenate(naive))), scaled


def _wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    errors = np.abs(actual - forecast)
    return float(errors.sum() / actual.sum()) if actual.sum() else float(errors.mean() > 0)


def forecast(history: np.ndarray, start: datetime, hours: int = MAX_HOURS) -> Forecast:
    """Fit on `history` (orders per hour, the last one ending at `start`) and forecast `hours` from `start`."""
    if len(history) < 2 * DAY + BACKTEST_HORIZON:
        raise NotEnoughHistory(f"{len(history)} hours of history; at least {2 * DAY + BACKTEST_HORIZON} needed")
    season = _season(len(history))
    error, scaled = backtest(history, season)
    expected = _fit_and_forecast(history, season, hours)
    spread = np.sqrt(np.maximum(expected, 1.0))
    low_q, high_q = np.percentile(scaled, BAND)
    low = np.clip(expected + low_q * spread, 0.0, None)
    high = np.maximum(expected + high_q * spread, expected)
    return Forecast(start, expected, low, high, error, season, len(history))
