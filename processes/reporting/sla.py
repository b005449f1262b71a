"""Service-level targets: how long an order of a process may take, and how long it may spend on one element.

Configured with ORDERFLOW_SLA, a JSON object keyed by process key (README: Monitoring):

    {"order_fulfillment": {"target": "PT4H", "minShare": 0.95, "elements": {"Task_ShipOrder": "PT1H"}}}

`target` and element targets are ISO 8601 durations (PT30M, PT4H, P1D) or seconds; `minShare` (default 0.95) is the
share of orders within target below which the SLA alert fires. `{"order_fulfillment": "PT4H"}` is short for a
target alone."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from processes.errors import InvalidInput

DEFAULT_MIN_SHARE = 0.95
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: Any, what: str = "duration") -> timedelta:
    """An ISO 8601 duration without years or months (their length varies), or a number of seconds."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what}: {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().upper()
        match = _DURATION.match(text)
        if match is None or text in ("P", "PT") or text.endswith("T"):
            raise InvalidInput(f"{what}: {value!r} is not an ISO 8601 duration such as PT30M, PT4H or P1D")
        parts = {name: float(number) for name, number in match.groupdict().items() if number is not None}
        seconds = timedelta(**parts).total_seconds()
    if seconds <= 0:
        raise InvalidInput(f"{what}: {value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def setting_number(
    env: Mapping[str, Any], name: str, default: float, minimum: float, maximum: float = float("inf")
) -> float:
    """A number from the settings (`env[name]`), `default` when unset; outside [minimum, maximum] is refused."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum:g}, not {raw!r}")
    if value > maximum:
        raise InvalidInput(f"{name} must be from {minimum:g} to {maximum:g}, not {raw!r}")
    return value


@dataclass(frozen=True)
class ProcessTarget:
    target: timedelta | None = None
    min_share: float = DEFAULT_MIN_SHARE
    elements: dict[str, timedelta] = field(default_factory=dict)


@dataclass(frozen=True)
class SlaTargets:
    processes: dict[str, ProcessTarget] = field(default_factory=dict)

    def for_process(self, key: str) -> ProcessTarget | None:
        return self.processes.get(key)

    @classmethod
    def parse(cls, text: str | None) -> SlaTargets:
        """Targets from ORDERFLOW_SLA's JSON; a mistake is reported with where it is, at start-up."""
        if not text or not text.strip():
            return cls()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"ORDERFLOW_SLA is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise InvalidInput("ORDERFLOW_SLA must be a JSON object keyed by process key")
        return cls({key: _process_target(key, value) for key, value in raw.items()})

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> SlaTargets:
        return cls.parse(env.get("ORDERFLOW_SLA"))


def _process_target(key: str, value: Any) -> ProcessTarget:
    where = f"ORDERFLOW_SLA[{key!r}]"
    if not isinstance(value, dict):
        return ProcessTarget(target=parse_duration(value, where))
    unknown = set(value) - {"target", "minShare", "elements"}
    if unknown:
        raise InvalidInput(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} (target, minShare, elements)")
    min_share = value.get("minShare", DEFAULT_MIN_SHARE)
    if isinstance(min_share, bool) or not isinstance(min_share, int | float) or not 0 <= min_share <= 1:
        raise InvalidInput(f"{where}.minShare must be a number from 0 to 1, not {min_share!r}")
    elements = value.get("elements", {})
    if not isinstance(elements, dict):
        raise InvalidInput(f"{where}.elements must map element ids to durations")
    return ProcessTarget(
        target=parse_duration(value["target"], f"{where}.target") if "target" in value else None,
        min_share=float(min_share),
        elements={element: parse_duration(d, f"{where}.elements[{element!r}]") for element, d in elements.items()},
    )


def share(within: int, missed: int) -> float | None:
    """Share of orders (or visits) within target; None when there was nothing to judge."""
    total = within + missed
    return round(within / total, 4) if total else None
