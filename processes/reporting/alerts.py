"""Alerts: an SLA breach or too many incidents posts JSON to a webhook, once per breach.

Checked periodically by every process that runs a scheduler loop (the embedded runner, `orderflow scheduler`). The
state of each alert lives in the database (alert_states), so several processes agree: the one whose transaction
turns an alert on (or off) is the one that announces it, and an announcement is claimed before it is posted, so it is
posted once. A breach that clears re-arms the alert: the next breach is announced again. A webhook that fails is
tried again at the next check until it accepts the message.

Rules (README: Monitoring):
- `sla:<process key>` for each process with an order target: fires when its SLA share over the alert window falls
  below the process's `minShare` (see processes/reporting/sla.py and metrics.sla_metrics).
- `incident_rate`: fires when at least ORDERFLOW_ALERT_INCIDENTS incidents were opened in the alert window.
- rules given by others (`rules`): the prediction alerts (processes/prediction/predictor.py), `orders_at_risk`
  (ORDERFLOW_ALERT_AT_RISK orders likely to miss their SLA) and `capacity:<topic>` (a forecast peak in the next
  hours needs more workers than ORDERFLOW_CAPACITY_WORKERS says are on hand).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from processes.core.engine import Engine
from processes.core.models import AlertState, iso, utcnow
from processes.errors import InvalidInput
from processes.reporting.metrics import Window, incident_metrics, sla_metrics
from processes.reporting.sla import SlaTargets, parse_duration, setting_number

log = logging.getLogger(__name__)

FIRING, RESOLVED = "firing", "resolved"
SEND_LEASE = timedelta(seconds=60)  # a process that died while posting leaves the message to others after this
TIMEOUT = (3.05, 10)  # seconds to connect, to read the answer


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    window: timedelta = timedelta(hours=1)
    interval_seconds: float = 60.0
    incident_threshold: int | None = None  # incidents opened in the window; None: no incident-rate alert
    targets: SlaTargets = field(default_factory=SlaTargets)

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> AlertSettings:
        def number(name: str, default: float, minimum: float) -> float:
            return setting_number(env, name, default, minimum)

        threshold = env.get("ORDERFLOW_ALERT_INCIDENTS")
        url = env.get("ORDERFLOW_ALERT_WEBHOOK_URL") or None
        if url is not None and not url.startswith(("http://", "https://")):
            raise InvalidInput(f"ORDERFLOW_ALERT_WEBHOOK_URL must be an http(s) URL, not {url!r}")
        return cls(
            webhook_url=url,
            window=parse_duration(env.get("ORDERFLOW_ALERT_WINDOW") or "PT1H", "ORDERFLOW_ALERT_WINDOW"),
            interval_seconds=number("ORDERFLOW_ALERT_INTERVAL_SECONDS", 60.0, 0.1),
            incident_threshold=int(number("ORDERFLOW_ALERT_INCIDENTS", 0, 1)) if threshold not in (None, "") else None,
            targets=SlaTargets.from_env(env),
        )

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None and (
            self.incident_threshold is not None or any(p.target for p in self.targets.processes.values())
        )


@dataclass(frozen=True)
class Reading:
    """One rule's measurement at one check."""

    key: str
    breached: bool
    value: float | None
    threshold: float
    summary: str
    details: dict[str, Any]


Post = Callable[..., requests.Response]
# More rules measured by other parts of orderflow (the prediction alerts): readings at a moment.
Rule = Callable[[datetime], list[Reading]]


class AlertMonitor:
    def __init__(self, engine: Engine, settings: AlertSettings, post: Post = requests.post, rules: Sequence[Rule] = ()):
        self.engine = engine
        self.settings = settings
        self.post = post
        self.rules = tuple(rules)

    def readings(self, now: datetime) -> list[Reading]:
        window = Window(now - self.settings.window, now)
        found = []
        for sla in sla_metrics(self.engine, window, self.settings.targets, now=now):
            process = self.settings.targets.processes[sla["processKey"]]
            value = sla["share"]
            found.append(
                Reading(
                    key=f"sla:{sla['processKey']}",
                    breached=value is not None and value < process.min_share,
                    value=value,
                    threshold=process.min_share,
                    summary=f"{sla['processKey']}: {_percent(value)} of orders within their "
                    f"{_duration(process.target)} target over the last {_duration(self.settings.window)} "
                    f"(minimum {_percent(process.min_share)})",
                    details=sla,
                )
            )
        if self.settings.incident_threshold is not None:
            opened = incident_metrics(self.engine, window, now=now)["opened"]
            found.append(
                Reading(
                    key="incident_rate",
                    breached=opened >= self.settings.incident_threshold,
                    value=float(opened),
                    threshold=float(self.settings.incident_threshold),
                    summary=f"{opened} incidents opened in the last {_duration(self.settings.window)} "
                    f"(alert at {self.settings.incident_threshold})",
                    details={"opened": opened},
                )
            )
        for rule in self.rules:
            found.extend(rule(now))
        return found

    def check(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Measure every rule, record the states, and post what is still to be announced. Returns what was posted."""
        now = now or utcnow()
        for reading in self.readings(now):
            self._record(reading, now)
        return self._announce(now)

    def check_logged(self) -> None:
        """For scheduler loops: a failed check is logged and tried again next time, never raised."""
        try:
            self.check()
        except Exception:
            log.exception("alert check failed; trying again at the next interval")

    def _record(self, reading: Reading, now: datetime) -> None:
        for attempt in range(2):  # two processes may insert the first row of a rule at once: one wins
            try:
                with self.engine.write_session() as session:
                    state = session.get(AlertState, reading.key, with_for_update=True)
                    if state is None:
                        state = AlertState(key=reading.key, firing=False, changed_at=now, attempts=0)
                        session.add(state)
                    if state.firing != reading.breached:
                        state.firing, state.changed_at, state.attempts, state.last_error = (
                            reading.breached,
                            now,
                            0,
                            None,
                        )
                    state.value, state.threshold, state.checked_at = reading.value, reading.threshold, now
                    state.details = {"summary": reading.summary, **reading.details}
                    session.commit()
                return
            except IntegrityError:
                if attempt:
                    raise

    def _announce(self, now: datetime) -> list[dict[str, Any]]:
        sent = []
        with self.engine.read_session() as session:
            pending = [
                state
                for state in session.query(AlertState).all()
                if (state.firing and state.notified != FIRING) or (not state.firing and state.notified == FIRING)
            ]
        for state in pending:
            message = self._message(state, now)
            if not self._claim(state, now):
                continue  # another process is posting it
            try:
                response = self.post(self.settings.webhook_url, json=message, timeout=TIMEOUT)
                response.raise_for_status()
            except requests.RequestException as exc:
                log.warning("alert %s: webhook failed (%s); trying again at the next check", state.key, exc)
                self._settle(state, now, error=f"{exc.__class__.__name__}: {exc}")
                continue
            self._settle(state, now, delivered=message["status"])
            sent.append(message)
        return sent

    def _message(self, state: AlertState, now: datetime) -> dict[str, Any]:
        details = dict(state.details or {})
        return {
            "source": "orderflow",
            "alert": state.key,
            "status": FIRING if state.firing else RESOLVED,
            "summary": details.pop("summary", state.key),
            "value": state.value,
            "threshold": state.threshold,
            "window": _duration(self.settings.window),
            "since": iso(state.changed_at),
            "sentAt": iso(now),
            "details": details,
        }

    def _claim(self, state: AlertState, now: datetime) -> bool:
        """Take the right to post this state's message: one process at a time, only while the state is unchanged and
        nobody has delivered it meanwhile."""
        status = FIRING if state.firing else RESOLVED
        with self.engine.write_session() as session:
            claimed = session.execute(
                update(AlertState)
                .where(
                    AlertState.key == state.key,
                    AlertState.firing == state.firing,
                    AlertState.changed_at == state.changed_at,
                    or_(AlertState.notified.is_(None), AlertState.notified != status),
                    or_(AlertState.sending_until.is_(None), AlertState.sending_until < now),
                )
                .values(sending_until=now + SEND_LEASE)
            ).rowcount
            session.commit()
        return claimed == 1

    def _settle(self, state: AlertState, now: datetime, delivered: str | None = None, error: str | None = None) -> None:
        outcome: dict[str, Any] = (
            {"notified": delivered, "attempts": 0, "last_error": None}
            if delivered is not None
            else {"attempts": AlertState.attempts + 1, "last_error": error}
        )
        with self.engine.write_session() as session:
            # The outcome belongs to the state that was posted; if the alert changed meanwhile, the new state is
            # still to be announced. The claim is released either way.
            session.execute(
                update(AlertState)
                .where(AlertState.key == state.key, AlertState.changed_at == state.changed_at)
                .values(**outcome)
            )
            session.execute(update(AlertState).where(AlertState.key == state.key).values(sending_until=None))
            session.commit()


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _duration(delta: timedelta | None) -> str:
    """ISO 8601, the way it is configured: PT1H, PT30M, P1D."""
    if delta is None:
        return "n/a"
    days, seconds = divmod(delta.total_seconds(), 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    date = f"{days:g}D" if days else ""
    clock = "".join(f"{value:g}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value)
    return "P" + date + ("T" + clock if clock else "") if date or clock else "PT0S"
