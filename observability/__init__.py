"""Tracing and log lines: what operators use to follow one order through requests, engine steps, jobs and calls
to the external systems (README "Monitoring": Tracing and logs).

Public API:
- `tracing`: the OpenTelemetry switch (`configure`, `start`, `stop`, the flag `ON`), spans (`span`, `annotate`,
  `link`, `failed`), and W3C trace context (`inject`, `attached`, `current_traceparent`, `trace_id_of`).
- `logs`: the log format switch (`configure`, plain text or JSON lines) and the order a line is about (`about`).

This package stands alone: it imports nothing of orderflow, so the app, the engine and the connectors all use it."""

from observability import logs, tracing

__all__ = ["logs", "tracing"]
