"""Connectors: calls from BPMN service tasks to external systems (payment, warehouse, customs, tax, carrier,
customer messaging).

No Flask here; only ``connectors.sandbox`` (the simulated systems) uses it.
"""

from connectors import health
from connectors.errors import (
    BusinessError,
    CircuitOpenError,
    ConfigurationError,
    ConnectorError,
    Discrepancy,
    TransientError,
)
from connectors.registry import (
    Connector,
    ConnectorRegistry,
    JobContext,
    RetryPolicy,
    build_registry,
    retry_policy,
)

__all__ = [
    "BusinessError",
    "CircuitOpenError",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "ConnectorRegistry",
    "Discrepancy",
    "JobContext",
    "RetryPolicy",
    "TransientError",
    "build_registry",
    "health",
    "retry_policy",
]
