"""Binds BPMN service-task topics (``camunda:topic``) to connector functions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from connectors import carrier, customs, notify, payment, tax, wms
from connectors.carrier_performance import DEFAULT_CARRIERS, CarrierPerformance, performance
from connectors.circuit import (
    DEFAULT_COOLDOWN,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_THRESHOLD,
    CircuitBreaker,
    CircuitStore,
    Clock,
    MemoryCircuitStore,
    RedisCircuitStore,
)
from connectors.errors import ConfigurationError
from connectors.http import DEFAULT_TIMEOUT, JsonClient
from connectors.monitor import DEFAULT_WINDOW, CallMonitor

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8081"
DEFAULT_SELLER_COUNTRY = "DE"
SYSTEMS = ("payment", "wms", "customs", "tax", "carrier", "notify")


@dataclass(frozen=True)
class JobContext:
    job_id: str
    idempotency_key: str  # stable across retries of the same job, so a retried call is never applied twice
    attempt: int
    instance_id: str
    business_key: str | None
    element_id: str
    topic: str


class RetryPolicy(NamedTuple):
    max_attempts: int
    base_seconds: float  # delay before the 2nd attempt; doubled for each further one
    cap_seconds: float  # no single delay is longer


# Used when the diagram sets no retry cycle. Each policy's delays add up to at least the default circuit
# cool-down (30 s), so the last attempt of a job that ran into an open circuit comes after its trial call.
# Payment gets the most attempts: a failed authorization loses the sale, a late one costs nothing.
RETRY_POLICIES: dict[str, RetryPolicy] = {
    "payment": RetryPolicy(5, 2.0, 60.0),  # 2 + 4 + 8 + 16 s
    "carrier": RetryPolicy(4, 5.0, 120.0),  # 5 + 10 + 20 s
    "wms": RetryPolicy(3, 10.0, 120.0),  # 10 + 20 s
    "customs": RetryPolicy(3, 10.0, 120.0),
    "tax": RetryPolicy(3, 10.0, 120.0),
    "notify": RetryPolicy(3, 10.0, 120.0),
}
# Topics of no known system (external workers) keep the engine's own defaults.
DEFAULT_RETRY_POLICY = RetryPolicy(3, 1.0, 300.0)


def retry_policy(topic: str) -> RetryPolicy:
    """(max_attempts, base_seconds, cap_seconds) for a topic, by its system prefix ("payment.refund" -> payment)."""
    return RETRY_POLICIES.get(topic.split(".", 1)[0], DEFAULT_RETRY_POLICY)


# Gets the task's variables, returns the variables to set on the task.
Connector = Callable[[Mapping[str, Any], JobContext], dict[str, Any]]


class ConnectorRegistry:
    """Built once at startup and only read afterwards, so lookups need no lock.

    ``clients`` holds the shared HTTP client of each external system (with its circuit breaker and
    call monitor): what ``connectors.health.report`` reads.
    """

    def __init__(
        self, clients: Mapping[str, JsonClient] | None = None, carriers: CarrierPerformance | None = None
    ) -> None:
        self._connectors: dict[str, Connector] = {}
        self.clients: dict[str, JsonClient] = dict(clients or {})
        # What the carrier connector saw of each carrier lately (topic carrier.performance).
        self.carriers = carriers or CarrierPerformance()

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


def build_registry(settings: Mapping[str, str], *, clock: Clock | None = None) -> ConnectorRegistry:
    """Registry with the built-in connectors, configured from an os.environ-like mapping.

    ``clock`` (wall-clock seconds) drives circuit cool-downs and health timestamps; tests inject one.
    """
    clock = clock or time.time
    store = circuit_store(settings)
    clients = {system: _client(settings, system, store, clock) for system in SYSTEMS}
    seller = seller_country(settings)

    carriers = CarrierPerformance(_names(settings, "ORDERFLOW_CARRIERS", DEFAULT_CARRIERS), clock=clock)
    registry = ConnectorRegistry(clients, carriers)
    topics: dict[str, Callable[..., dict[str, Any]]] = {
        "payment.authorize": partial(payment.authorize, clients["payment"]),
        "payment.capture": partial(payment.capture, clients["payment"]),
        "payment.void": partial(payment.void, clients["payment"]),
        "payment.refund": partial(payment.refund, clients["payment"]),
        "wms.reserve": partial(wms.reserve, clients["wms"]),
        "wms.ship": partial(wms.ship, clients["wms"]),
        "wms.release": partial(wms.release, clients["wms"]),
        "wms.update_status": partial(wms.update_status, clients["wms"]),
        "customs.documents": partial(customs.documents, clients["customs"], seller_country=seller),
        "tax.calculate": partial(tax.calculate, clients["tax"]),
        "carrier.quote": partial(carrier.quote, clients["carrier"], seller_country=seller),
        "carrier.book": partial(carrier.book, clients["carrier"], seller_country=seller, performance=carriers),
        "carrier.track": partial(carrier.track, clients["carrier"], performance=carriers),
        "carrier.performance": partial(performance, carriers),
        "wms.availability": partial(wms.availability, clients["wms"]),
        "wms.backorder": partial(wms.backorder, clients["wms"]),
        "notify.customer": partial(notify.send, clients["notify"]),
    }
    # Topics that workers of the installation serve instead of the built-in connector (existing Camunda workers
    # keep theirs when moving over): left unbound, their jobs wait for an external worker.
    external = set(_names(settings, "ORDERFLOW_EXTERNAL_TOPICS", ()))
    for topic, connector in topics.items():
        if topic not in external:
            registry.register(topic, connector)
    return registry


def circuit_store(settings: Mapping[str, str]) -> CircuitStore:
    """Redis when one is configured (state shared by every process), else this process's memory."""
    url = settings.get("ORDERFLOW_CIRCUIT_REDIS_URL") or ""
    broker = settings.get("ORDERFLOW_BROKER_URL") or ""
    if not url and broker.startswith(("redis://", "rediss://")):
        url = broker
    if not url:
        return MemoryCircuitStore()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"ORDERFLOW_CIRCUIT_REDIS_URL must be a redis:// URL, got {url!r}")
    return RedisCircuitStore(url, prefix=settings.get("ORDERFLOW_CIRCUIT_REDIS_PREFIX") or DEFAULT_REDIS_PREFIX)


def seller_country(settings: Mapping[str, str]) -> str:
    raw = (settings.get("ORDERFLOW_SELLER_COUNTRY") or DEFAULT_SELLER_COUNTRY).strip().upper()
    if len(raw) != 2 or not raw.isascii() or not raw.isalpha():
        raise ConfigurationError(f"ORDERFLOW_SELLER_COUNTRY must be a two-letter country code, got {raw!r}")
    return raw


def _client(settings: Mapping[str, str], system: str, store: CircuitStore, clock: Clock) -> JsonClient:
    prefix = f"ORDERFLOW_{system.upper()}"
    sandbox = (settings.get("ORDERFLOW_SANDBOX_URL") or DEFAULT_SANDBOX_URL).rstrip("/")
    base_url = (settings.get(f"{prefix}_URL") or f"{sandbox}/{system}").rstrip("/")
    read_timeout = _seconds(
        settings, f"{prefix}_TIMEOUT", _seconds(settings, "ORDERFLOW_CONNECTOR_TIMEOUT", DEFAULT_TIMEOUT[1])
    )
    threshold = _count(
        settings, f"{prefix}_CIRCUIT_THRESHOLD", _count(settings, "ORDERFLOW_CIRCUIT_THRESHOLD", DEFAULT_THRESHOLD)
    )
    cooldown = _seconds(
        settings, f"{prefix}_CIRCUIT_COOLDOWN", _seconds(settings, "ORDERFLOW_CIRCUIT_COOLDOWN", DEFAULT_COOLDOWN)
    )
    # Keyed by URL too: two deployments calling different gateways must not trip each other's circuit.
    circuit = CircuitBreaker(
        system, key=f"{system}|{base_url}", store=store, threshold=threshold, cooldown=cooldown, clock=clock
    )
    monitor = CallMonitor(window=_count(settings, "ORDERFLOW_CONNECTOR_HEALTH_WINDOW", DEFAULT_WINDOW), clock=clock)
    return JsonClient(
        base_url,
        system=system,
        timeout=(DEFAULT_TIMEOUT[0], read_timeout),
        circuit=circuit,
        monitor=monitor,
        transport=settings.get("ORDERFLOW_HTTP_TRANSPORT"),
    )


def _names(settings: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = settings.get(name) or ""
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    return names or default


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


def _count(settings: Mapping[str, str], name: str, default: int) -> int:
    raw = settings.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)
