"""Configuration from the environment. Every setting is documented in the README's table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from observability import logs, tracing

DEV_TOKEN = "orderflow-dev-token"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    data_dir = Path(env.get("ORDERFLOW_DATA_DIR", "./var")).resolve()
    token = env.get("ORDERFLOW_API_TOKEN") or ""
    sandbox_port = int(env.get("ORDERFLOW_SANDBOX_PORT", "8081"))
    return {
        "ORDERFLOW_HOST": env.get("ORDERFLOW_HOST", "127.0.0.1"),
        "ORDERFLOW_PORT": int(env.get("ORDERFLOW_PORT", "8080")),
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": env.get("ORDERFLOW_DATABASE_URL") or f"sqlite:///{data_dir / 'orderflow.db'}",
        "ORDERFLOW_SQLITE_SYNCHRONOUS": env.get("ORDERFLOW_SQLITE_SYNCHRONOUS", "GROUP"),
        "ORDERFLOW_API_TOKEN": token or DEV_TOKEN,
        "ORDERFLOW_USING_DEV_TOKEN": not token,
        # With a broker, jobs go to Celery workers (`orderflow worker`) instead of threads in the server.
        "ORDERFLOW_BROKER_URL": env.get("ORDERFLOW_BROKER_URL") or "",
        "ORDERFLOW_QUEUE": env.get("ORDERFLOW_QUEUE") or "orderflow",
        "ORDERFLOW_EMBEDDED_WORKERS": _bool(env.get("ORDERFLOW_EMBEDDED_WORKERS"), not env.get("ORDERFLOW_BROKER_URL")),
        "ORDERFLOW_WORKER_THREADS": int(env.get("ORDERFLOW_WORKER_THREADS", "4")),
        "ORDERFLOW_LEASE_SECONDS": float(env.get("ORDERFLOW_LEASE_SECONDS", "30")),
        "ORDERFLOW_WORKER_PREFETCH": int(env.get("ORDERFLOW_WORKER_PREFETCH", "1")),
        # How many external-worker long polls (Camunda fetchAndLock, job activation) may wait at once.
        "ORDERFLOW_LONG_POLLS": int(env.get("ORDERFLOW_LONG_POLLS", "8")),
        # How often a waiting long poll looks again for jobs nobody told it about (retries that fell due, jobs made
        # by gunicorn or Celery processes).
        "ORDERFLOW_LONG_POLL_RECHECK_SECONDS": float(env.get("ORDERFLOW_LONG_POLL_RECHECK_SECONDS", "1")),
        # Engine processes of `orderflow serve` on one port: "auto" is one per core, at most four (app/serving.py).
        "ORDERFLOW_PROCESSES": env.get("ORDERFLOW_PROCESSES") or "auto",
        # What one evaluation of a diagram's expression may cost, and what an instance may keep (README: Limits).
        "ORDERFLOW_EXPRESSION_SECONDS": float(env.get("ORDERFLOW_EXPRESSION_SECONDS", "1")),
        "ORDERFLOW_EXPRESSION_STEPS": int(env.get("ORDERFLOW_EXPRESSION_STEPS", "1000000")),
        "ORDERFLOW_MAX_VARIABLES_BYTES": int(env.get("ORDERFLOW_MAX_VARIABLES_BYTES", str(4 * 1024 * 1024))),
        # Python functions Camunda 7 diagrams call as Java beans: "module:attribute,..." (expressions/beans.py).
        "ORDERFLOW_BEANS": env.get("ORDERFLOW_BEANS") or "",
        "ORDERFLOW_SANDBOX": _bool(env.get("ORDERFLOW_SANDBOX"), True),
        "ORDERFLOW_SANDBOX_PORT": sandbox_port,
        "ORDERFLOW_SANDBOX_URL": env.get("ORDERFLOW_SANDBOX_URL") or f"http://127.0.0.1:{sandbox_port}",
        "ORDERFLOW_DEPLOY_SHIPPED": _bool(env.get("ORDERFLOW_DEPLOY_SHIPPED"), True),
        # Demo people (README) on an empty database: `make run` turns this on; never on by default.
        "ORDERFLOW_DEMO_USERS": _bool(env.get("ORDERFLOW_DEMO_USERS"), False),
        "SECRET_KEY": env.get("ORDERFLOW_SECRET_KEY") or "",
        "ORDERFLOW_CONNECTOR_SETTINGS": {k: v for k, v in env.items() if k.startswith("ORDERFLOW_")},
        # Failed starts kept as dead letters per minute at most (a flood of bad requests cannot fill the database).
        "ORDERFLOW_DEAD_LETTERS_PER_MINUTE": int(env.get("ORDERFLOW_DEAD_LETTERS_PER_MINUTE", "300")),
        "MAX_CONTENT_LENGTH": int(env.get("ORDERFLOW_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # Tracing (off, otlp, console; the exporter reads the standard OTEL_* variables) and log lines (text, json).
        "ORDERFLOW_TRACING": tracing.mode_from(env),
        "ORDERFLOW_LOG_FORMAT": logs.format_from(env),
    }
