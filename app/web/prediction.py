"""What the monitoring pages show of the predictions: each process's forecast as a chart with its band and
back-tested error, the capacity advice, the orders at risk, and where at-risk orders wait (for the heatmap). The
numbers are the REST API's (app/api/prediction.py); the chart is drawn here as SVG, so it needs no script."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from processes.core.models import utcnow
from processes.errors import Conflict, NotFound

from ..api.prediction import capacity_view, predictor, risk_view

WIDTH, HEIGHT, PAD = 720.0, 160.0, 4.0
CHART_HOURS = 168


def _chart(points: list[tuple[datetime, float, float, float]]) -> dict[str, Any]:
    """SVG coordinates of the expected line and the band around it, with day ticks (UTC midnights)."""
    top = max((p[3] for p in points), default=1.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def xy(n: int, value: float) -> str:
        return f"{PAD + n * step:.1f},{HEIGHT - PAD - value / top * (HEIGHT - 2 * PAD):.1f}"

    upper = [xy(n, p[3]) for n, p in enumerate(points)]
    lower = [xy(n, p[2]) for n, p in reversed(list(enumerate(points)))]
    ticks = [
        {"x": round(PAD + n * step, 1), "label": p[0].strftime("%a")} for n, p in enumerate(points) if p[0].hour == 0
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "band": " ".join(upper + lower),
        "line": " ".join(xy(n, p[1]) for n, p in enumerate(points)),
        "ticks": ticks,
        "top": round(top, 1),
    }


def forecasts(process_key: str | None) -> list[dict[str, Any]]:
    """One entry per process (the chosen one, or every process with orders): its chart and numbers, or why there
    is no forecast."""
    found = predictor()
    fitted = found.fitted()
    keys = [process_key] if process_key else sorted({key for key, _ in [*fitted.forecasts, *fitted.unfitted]})
    shown = []
    for key in keys:
        try:
            forecast, fitted_at = found.forecast(key)
        except (Conflict, NotFound) as exc:
            shown.append({"processKey": key, "missing": exc.detail})
            continue
        points = forecast.points(utcnow(), CHART_HOURS)
        peak = max(points, key=lambda p: p[1]) if points else None
        shown.append(
            {
                "processKey": key,
                "chart": _chart(points),
                "backtest": forecast.backtest.view(),
                "seasonHours": forecast.season_hours,
                "fittedAt": fitted_at,
                "next24": round(sum(p[1] for p in points[:24])),
                "peak": peak,
            }
        )
    return shown


def dashboard_context(process_key: str | None) -> dict[str, Any]:
    return {
        "forecasts": forecasts(process_key),
        "capacity": capacity_view(24),
        "risk": risk_view(process_key, True, 10),
    }


def at_risk_by_element(process_key: str) -> dict[str, int]:
    """How many at-risk orders wait at each element of the process (for the heatmap page)."""
    found = predictor()
    return dict(Counter(r.element_id for r in found.at_risk(found.risks(process_key=process_key)) if r.element_id))
