"""One exception hierarchy for every connector.

The job runner only needs the class to decide what happens next:
``TransientError`` is retried with backoff (``CircuitOpenError`` is one, raised without a
network call), ``BusinessError`` becomes a BPMN error (caught by a boundary error event),
``Discrepancy`` goes to human review, anything else is a bug or a misconfiguration that
retrying will not fix.
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


class CircuitOpenError(TransientError):
    """The system failed too often lately; the call was refused without touching the network.

    Transient on purpose: the job layer retries it like any outage, and ``retry_after`` says
    when the circuit will let a trial call through.
    """

    def __init__(self, system: str, *, retry_after: float) -> None:
        super().__init__(f"circuit open for {system}", retry_after=retry_after)
        self.system = system


class Discrepancy(ConnectorError):
    """The remote system answered, but not what was asked (amount, currency, quantities, carrier, ...).

    Neither transient (a retry replays the same answer) nor a business refusal (the work was done,
    just differently), so it gets its own class: the job layer sends it to human review. ``variables``
    are what the task would have set had the answer matched, so a reviewer can accept them as they are;
    ``asked`` and ``got`` hold every verified field, ``mismatches`` names the ones that differ.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        asked: Mapping[str, Any],
        got: Mapping[str, Any],
        variables: Mapping[str, Any],
        mismatches: tuple[str, ...] = (),
        topic: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.asked: dict[str, Any] = dict(asked)
        self.got: dict[str, Any] = dict(got)
        self.variables: dict[str, Any] = dict(variables)
        self.mismatches = mismatches
        self.topic = topic

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a review task's variables or an incident's details."""
        return {
            "code": self.code,
            "topic": self.topic,
            "message": self.message,
            "asked": self.asked,
            "got": self.got,
            "mismatches": list(self.mismatches),
            "variables": self.variables,
        }
