"""Binds BPMN service-task topics (``camunda:topic``) to connector functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from connectors import payment, wms
from connectors.errors import ConfigurationError
from connectors.http import DEFAULT_TIMEOUT, JsonClient

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8081"


@dataclass(frozen=True)
class JobContext:
    job_id: str
    idempotency_key: str  # stable across retries of the same job, so a retried call is never applied twice
    attempt: int
    instance_id: str
    business_key: str | None
    element_id: str
    topic: str


# Gets the task's variables, returns the variables to set on the task.
Connector = Callable[[Mapping[str, Any], JobContext], dict[str, Any]]


class ConnectorRegistry:
    """Built once at startup and only read afterwards, so lookups need no lock."""

    def __init__(self) -> None:
        self._connectors: dict[str, Connector] = {}

    def register(self, topic: str, connector: Connector, *, replace: bool = False) -> None:
        # Two modules claiming one topic is a wiring bug; tests that want to swap one say so.
        if topic in self._connectors and not replace:
            raise ConfigurationError(f"topic {topic!r} is already registered")
        self._connectors[topic] = connector

    def get(self, topic: str) -> Connector | None:
        return self._connectors.get(topic)

    def topics(self) -> list[str]:
        return sorted(self._connectors)

    def __contains__(self, topic: object) -> bool:
        return topic in self._connectors


def build_registry(settings: Mapping[str, str]) -> ConnectorRegistry:
    """Registry with the built-in connectors, configured from an os.environ-like mapping."""
    timeout = (DEFAULT_TIMEOUT[0], _seconds(settings, "ORDERFLOW_CONNECTOR_TIMEOUT", DEFAULT_TIMEOUT[1]))
    sandbox = (settings.get("ORDERFLOW_SANDBOX_URL") or DEFAULT_SANDBOX_URL).rstrip("/")
    payment_client = JsonClient(
        settings.get("ORDERFLOW_PAYMENT_URL") or f"{sandbox}/payment", system="payment", timeout=timeout
    )
    wms_client = JsonClient(settings.get("ORDERFLOW_WMS_URL") or f"{sandbox}/wms", system="wms", timeout=timeout)

    registry = ConnectorRegistry()
    registry.register("payment.authorize", partial(payment.authorize, payment_client))
    registry.register("payment.capture", partial(payment.capture, payment_client))
    registry.register("wms.reserve", partial(wms.reserve, wms_client))
    registry.register("wms.ship", partial(wms.ship, wms_client))
    return registry


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    raw = settings.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value
