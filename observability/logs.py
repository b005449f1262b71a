"""Log lines, plain or JSON, with the order they are about.

`ORDERFLOW_LOG_FORMAT=json` makes every line one JSON object: `timestamp` (UTC, ISO 8601), `level`, `logger`,
`message`, and, when known, `instanceId`, `order` (the business key), `jobId`, `traceId` and `spanId`, plus
`exception` with the traceback. The ids come from context variables the engine step and the job runner set, so
every log call in between carries them without being told; the trace ids from the span running now.

The standard library's logging does it: one Formatter, no new dependency, and every library's log lines
(Celery, SQLAlchemy, waitress) pass through the same root handler."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from observability import tracing

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

INSTANCE: ContextVar[str | None] = ContextVar("orderflow_instance_id", default=None)
ORDER: ContextVar[str | None] = ContextVar("orderflow_business_key", default=None)
JOB: ContextVar[str | None] = ContextVar("orderflow_job_id", default=None)

ON = False  # JSON lines: the engine binds the ids only while this (or tracing) is on


class LogConfigurationError(ValueError):
    """ORDERFLOW_LOG_FORMAT has a value orderflow does not know."""


def format_from(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = (env.get("ORDERFLOW_LOG_FORMAT") or "text").strip().lower()
    if value not in FORMATS:
        raise LogConfigurationError(f"ORDERFLOW_LOG_FORMAT must be text or json, not {value!r}")
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ids of the order and the trace the line belongs to."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, variable in (("instanceId", INSTANCE), ("order", ORDER), ("jobId", JOB)):
            value = variable.get()
            if value is not None:
                line[key] = value
        ids = tracing.current_ids()
        if ids is not None:
            line["traceId"], line["spanId"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(env: Mapping[str, str] | None = None, *, level: int = logging.INFO, stream: Any = None) -> str:
    """Set up the root logger's one handler in the configured format (the server, the worker, the scheduler)."""
    global ON
    chosen = format_from(env)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    ON = chosen == "json"
    return chosen


def active() -> bool:
    """Whether anything reads the order's ids or spans (JSON lines or tracing): the engine and the job runner
    skip their bookkeeping when nothing does."""
    return ON or tracing.ON


@contextmanager
def about(*, instance_id: str | None = None, order: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """The order (and job) the log lines in the block are about; the ids before it come back after it."""
    tokens = [
        (variable, variable.set(value))
        for variable, value in ((INSTANCE, instance_id), (ORDER, order), (JOB, job_id))
        if value is not None
    ]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


@contextmanager
def kept() -> Iterator[None]:
    """Whatever the block binds (`bind`) is undone after it."""
    before = (INSTANCE.get(), ORDER.get(), JOB.get())
    try:
        yield
    finally:
        INSTANCE.set(before[0])
        ORDER.set(before[1])
        JOB.set(before[2])


def bind(*, instance_id: str | None, order: str | None) -> None:
    """The order the log lines from here on are about (inside `kept`)."""
    INSTANCE.set(instance_id)
    ORDER.set(order)
