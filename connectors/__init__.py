"""Connectors: calls from BPMN service tasks to external systems (payment, warehouse, ...).

No Flask here; only ``connectors.sandbox`` (the simulated systems) uses it.
"""

from connectors.errors import BusinessError, ConfigurationError, ConnectorError, TransientError
from connectors.registry import Connector, ConnectorRegistry, JobContext, build_registry

__all__ = [
    "BusinessError",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "ConnectorRegistry",
    "JobContext",
    "TransientError",
    "build_registry",
]
