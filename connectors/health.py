"""Health of the external systems as the connectors have seen them, without calling them.

``report`` reads what the shared HTTP clients recorded (last success, last failure, error rate over the
last calls) and each circuit's state. It makes no call to any external system, so a health endpoint can
run it on every request; with circuits in Redis it costs one Redis read per system.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.http import JsonClient
from connectors.registry import ConnectorRegistry, build_registry


def report(source: ConnectorRegistry | Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """{system: {circuit, lastSuccessAt, lastFailureAt, errorRate, calls, refused, url}}.

    Pass the registry the workers use: that is where the calls were recorded. Given settings instead,
    a registry is built from them; it has seen no calls (timestamps None, error rate 0), and its circuits
    show the shared state when they are kept in Redis, "closed" otherwise.
    """
    registry = source if isinstance(source, ConnectorRegistry) else build_registry(source)
    return {system: system_report(client) for system, client in registry.clients.items()}


def system_report(client: JsonClient) -> dict[str, Any]:
    stats = client.monitor.snapshot()
    return {
        "circuit": client.circuit.state() if client.circuit is not None else "closed",
        "lastSuccessAt": _iso(stats.last_success_at),
        "lastFailureAt": _iso(stats.last_failure_at),
        "errorRate": stats.error_rate,
        "calls": stats.calls,
        "refused": stats.refused,
        "url": client.base_url,
    }


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds") if timestamp is not None else None
