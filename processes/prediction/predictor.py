"""The predictor: fits the forecasts, the risk model and the capacity measures from the database, keeps them in
memory with the moment they were fitted, and answers from them.

Fitting runs off the engine step, on the scheduler's periodic thread (the embedded runner's `every`, or a
background thread when a fit is older than the refit interval), never inside a request that changes an order: a
fit reads, with bounded work (at most `lookback` of hours, at most 200,000 visits), and never holds a lock the engine
takes. Each process (a gunicorn worker, a scheduler) keeps its own fit; they agree to within one refit interval."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import INCIDENT, RUNNING, WAITING, ProcessInstance, utcnow
from processes.errors import InvalidInput, NotFound
from processes.prediction import capacity, history, risk
from processes.prediction.forecast import Forecast, NotEnoughHistory, forecast
from processes.reporting.alerts import Reading
from processes.reporting.sla import SlaTargets, setting_number

log = logging.getLogger(__name__)
NOT_ENDED = (RUNNING, WAITING, INCIDENT)
MIN_CHANNEL_ORDERS_PER_DAY = 24  # a channel with fewer orders has no forecast of its own (its hours are mostly 0)


@dataclass(frozen=True)
class PredictionSettings:
    lookback: timedelta = timedelta(days=35)
    refit_seconds: float = 900.0
    risk_threshold: float = risk.DEFAULT_THRESHOLD
    at_risk_alert: int | None = None  # orders at risk at which the alert fires; None: no alert
    workers_on_hand: dict[str, int] = field(default_factory=dict)  # per topic
    default_workers_on_hand: int | None = None  # for topics not named
    capacity_lookahead_hours: int = 6
    targets: SlaTargets = field(default_factory=SlaTargets)

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> PredictionSettings:
        def number(name: str, default: float, minimum: float, maximum: float = float("inf")) -> float:
            return setting_number(env, name, default, minimum, maximum)

        on_hand, default = _workers(env.get("ORDERFLOW_CAPACITY_WORKERS"))
        at_risk = env.get("ORDERFLOW_ALERT_AT_RISK")
        return cls(
            lookback=timedelta(days=number("ORDERFLOW_PREDICT_LOOKBACK_DAYS", 35, 3, 365)),
            refit_seconds=number("ORDERFLOW_PREDICT_REFIT_SECONDS", 900, 1),
            risk_threshold=number("ORDERFLOW_RISK_THRESHOLD", risk.DEFAULT_THRESHOLD, 0.01, 1),
            at_risk_alert=int(number("ORDERFLOW_ALERT_AT_RISK", 1, 1)) if at_risk not in (None, "") else None,
            workers_on_hand=on_hand,
            default_workers_on_hand=default,
            capacity_lookahead_hours=int(number("ORDERFLOW_CAPACITY_LOOKAHEAD_HOURS", 6, 1, 168)),
            targets=SlaTargets.from_env(env),
        )

    @property
    def alerts(self) -> bool:
        """Whether any prediction alert is configured (the webhook is the alert settings' business)."""
        return self.at_risk_alert is not None or bool(self.workers_on_hand) or self.default_workers_on_hand is not None


def _workers(raw: Any) -> tuple[dict[str, int], int | None]:
    """ORDERFLOW_CAPACITY_WORKERS: a number for every topic, or a JSON object of topic -> workers (key "*": the
    rest)."""
    if raw in (None, ""):
        return {}, None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        value = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return {}, value
    if isinstance(value, dict) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        rest = value.get("*")
        return {k: v for k, v in value.items() if k != "*"}, rest
    raise InvalidInput(
        f"ORDERFLOW_CAPACITY_WORKERS must be a number of workers or a JSON object of topic to workers, not {raw!r}"
    )


@dataclass(frozen=True)
class Fitted:
    fitted_at: datetime
    forecasts: dict[tuple[str, str | None], Forecast]  # (process key, channel or None for all)
    unfitted: dict[tuple[str, str | None], str]  # why there is no forecast (too little history)
    risk_model: risk.RiskModel
    loads: list[capacity.TopicLoad]


class Predictor:
    def __init__(self, engine: Engine, settings: PredictionSettings | None = None):
        self.engine = engine
        self.settings = settings or PredictionSettings()
        self._fitted: Fitted | None = None
        self._lock = threading.Lock()
        self._refitting = threading.Event()

    # -- fitting -----------------------------------------------------------------------------------------------

    def refit(self, now: datetime | None = None) -> Fitted:
        now = now or utcnow()
        with self._lock:
            fitted = self._fit(now)
            self._fitted = fitted
        return fitted

    def refit_logged(self) -> None:
        """For scheduler loops: a failed fit is logged and the last good one kept."""
        try:
            self.refit()
        except Exception:
            log.exception("refitting the predictions failed; keeping the last fit")
        finally:
            self._refitting.clear()

    def warm(self) -> None:
        """Fit in the background now, so the first page that shows a prediction does not wait for it."""
        if self._fitted is None and not self._refitting.is_set():
            self._refitting.set()
            threading.Thread(target=self.refit_logged, name="orderflow-refit", daemon=True).start()

    def fitted(self, now: datetime | None = None) -> Fitted:
        """The current fit; the first call fits (once), a stale one is refitted in the background."""
        fitted = self._fitted
        if fitted is None:
            with self._lock:
                if self._fitted is None:
                    self._fitted = self._fit(now or utcnow())
                return self._fitted
        age = ((now or utcnow()) - fitted.fitted_at).total_seconds()
        if age > self.settings.refit_seconds and not self._refitting.is_set():
            self._refitting.set()
            threading.Thread(target=self.refit_logged, name="orderflow-refit", daemon=True).start()
        return fitted

    def _fit(self, now: datetime) -> Fitted:
        end = history.hour_floor(now)
        start = end - self.settings.lookback
        forecasts: dict[tuple[str, str | None], Forecast] = {}
        unfitted: dict[tuple[str, str | None], str] = {}
        for key in history.process_keys(self.engine, start):
            arrived = history.arrivals(self.engine, key, start, end)
            days = max(len(arrived.total) / 24, 1)
            series: dict[str | None, Any] = {None: arrived.total}
            for channel, counts in sorted(arrived.by_channel.items()):
                if len(arrived.by_channel) > 1 and counts.sum() / days >= MIN_CHANNEL_ORDERS_PER_DAY:
                    series[channel] = counts
            for channel, counts in series.items():
                # Leading hours before the first order are not history (the process was not deployed yet).
                first = int(counts.nonzero()[0][0]) if counts.any() else len(counts)
                try:
                    forecasts[(key, channel)] = forecast(counts[first:], end)
                except NotEnoughHistory as exc:
                    unfitted[(key, channel)] = exc.detail
        day = now - timedelta(days=1)
        loads = capacity.topic_loads(
            history.done_jobs(self.engine, day, now), history.orders_started(self.engine, day, now)
        )
        model = risk.RiskModel.fit(history.completed_visits(self.engine, now - self.settings.lookback, now))
        return Fitted(now, forecasts, unfitted, model, loads)

    # -- answers -----------------------------------------------------------------------------------------------

    def forecast(self, process_key: str, channel: str | None = None) -> tuple[Forecast, datetime]:
        fitted = self.fitted()
        found = fitted.forecasts.get((process_key, channel))
        if found is not None:
            return found, fitted.fitted_at
        if (process_key, channel) in fitted.unfitted:
            raise NotEnoughHistory(f"{process_key}: {fitted.unfitted[(process_key, channel)]}")
        if channel is not None and (process_key, None) in fitted.forecasts:
            raise NotFound(f"no forecast for channel {channel!r} of {process_key} (too few orders from it)")
        raise NotFound(f"no orders of {process_key} in the last {self.settings.lookback.days} days to forecast from")

    def forecasts(self) -> dict[str, Forecast]:
        """Each process's forecast over all channels."""
        return {key: f for (key, channel), f in self.fitted().forecasts.items() if channel is None}

    def capacity(self, now: datetime | None = None, hours: int = 24) -> list[capacity.Advice]:
        now = now or utcnow()
        return capacity.advise(
            self.fitted(now).loads,
            self.forecasts(),
            now,
            hours,
            self.settings.workers_on_hand,
            self.settings.default_workers_on_hand,
        )

    def risks(
        self, now: datetime | None = None, process_key: str | None = None, instance_ids: Iterable[str] | None = None
    ) -> list[risk.Risk]:
        """Every order not ended (running, waiting, in an incident), or those of `instance_ids`, riskiest first (no
        SLA target: last)."""
        now = now or utcnow()
        model = self.fitted(now).risk_model
        query = select(
            ProcessInstance.id,
            ProcessInstance.process_key,
            ProcessInstance.variables[history.CHANNEL_VARIABLE].as_string(),
            ProcessInstance.created_at,
            ProcessInstance.active_elements,
        ).where(ProcessInstance.status.in_(NOT_ENDED))
        if process_key is not None:
            query = query.where(ProcessInstance.process_key == process_key)
        if instance_ids is not None:
            query = query.where(ProcessInstance.id.in_(list(instance_ids)))
        with self.engine.read_session() as session:
            rows = session.execute(query).all()
        found = [model.assess(risk.running_order(*row), self.settings.targets, now) for row in rows]
        return sorted(found, key=lambda r: (-(r.risk if r.risk is not None else -1), r.instance_id))

    def risk_of(
        self, instance_id: str, process_key: str, channel: object, created_at: datetime, active: list[dict] | None
    ) -> risk.Risk:
        now = utcnow()
        order = risk.running_order(instance_id, process_key, channel, created_at, active)
        return self.fitted(now).risk_model.assess(order, self.settings.targets, now)

    def at_risk(self, found: list[risk.Risk]) -> list[risk.Risk]:
        return [r for r in found if r.risk is not None and r.risk >= self.settings.risk_threshold]

    # -- alerts ------------------------------------------------------------------------------------------------

    def readings(self, now: datetime) -> list[Reading]:
        """The prediction alerts' measurements (processes.reporting.alerts posts them)."""
        found = []
        if self.settings.at_risk_alert is not None:
            at_risk = self.at_risk(self.risks(now))
            by_process: dict[str, int] = {}
            for r in at_risk:
                by_process[r.process_key] = by_process.get(r.process_key, 0) + 1
            found.append(
                Reading(
                    key="orders_at_risk",
                    breached=len(at_risk) >= self.settings.at_risk_alert,
                    value=float(len(at_risk)),
                    threshold=float(self.settings.at_risk_alert),
                    summary=f"{len(at_risk)} running orders are likely to miss their SLA "
                    f"(risk at least {self.settings.risk_threshold:.0%}; alert at {self.settings.at_risk_alert})",
                    details={"byProcess": by_process, "orders": [r.instance_id for r in at_risk[:20]]},
                )
            )
        lookahead = self.settings.capacity_lookahead_hours
        for advice in self.capacity(now, lookahead):
            if advice.on_hand is None:
                continue
            at, needed, high = advice.peak(lookahead)
            found.append(
                Reading(
                    key=f"capacity:{advice.topic}",
                    breached=needed > advice.on_hand,
                    value=float(needed),
                    threshold=float(advice.on_hand),
                    summary=f"{advice.topic}: the forecast peak needs {needed} workers at "
                    f"{at.isoformat(timespec='minutes') if at else 'n/a'} UTC, {advice.on_hand} on hand",
                    details={"peakAt": at.isoformat() if at else None, "needed": needed, "neededAtBandTop": high},
                )
            )
        return found
