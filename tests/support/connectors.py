"""Calling connectors directly, and controlling the sandbox payment and warehouse systems over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from connectors import ConnectorRegistry, JobContext


def control(url: str, **settings: Any) -> None:
    requests.post(f"{url}/_control", json=settings, timeout=5).raise_for_status()


def stats(url: str) -> dict[str, int]:
    return requests.get(f"{url}/_stats", timeout=5).json()


def job(topic: str, key: str | None = None, business_key: str | None = "ORD-BK") -> JobContext:
    return JobContext(
        job_id=str(uuid.uuid4()),
        idempotency_key=key or f"job-{uuid.uuid4()}",
        attempt=1,
        instance_id="inst-1",
        business_key=business_key,
        element_id="Task_1",
        topic=topic,
    )


def call(registry: ConnectorRegistry, topic: str, variables: dict[str, Any], ctx: JobContext | None = None):
    connector = registry.get(topic)
    assert connector is not None, topic
    return connector(variables, ctx or job(topic))
