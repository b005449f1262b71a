"""One exception hierarchy for every connector.

The job runner only needs the class to decide what happens next:
``TransientError`` is retried with backoff, ``BusinessError`` becomes a BPMN error
(caught by a boundary error event), anything else is a bug or a misconfiguration
that retrying will not fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConnectorError(Exception):
    """Base class; raised as-is for failures that are neither transient nor business (e.g. HTTP 400)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # HTTP status when there was a response, else None


class TransientError(ConnectorError):
    """Timeouts, connection errors, HTTP 5xx and 429: the same call may succeed later."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        # Seconds the remote system asked us to wait (Retry-After); the job backoff may honour it.
        self.retry_after = retry_after


class BusinessError(ConnectorError):
    """The remote system said no for a business reason; ``code`` is the BPMN error code."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or code, status=status)
        self.code = code
        # Facts a human reviewer needs (asked vs got, ids of what was already created remotely).
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message != self.code else self.code


class ConfigurationError(ConnectorError):
    """Wrong setup: unknown topic, missing or malformed base URL, bad timeout setting."""
