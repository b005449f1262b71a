"""Tracing and JSON log lines, in process: an order started over the API with tracing on is one trace (the
request, the engine steps, the jobs and the calls to the sandbox systems, which receive its traceparent); the trace
id is kept on the order; a failing job's log line names the order and the trace; with tracing off nothing is
installed and nothing is sent."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from celery import Celery
from flask.testing import FlaskClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from observability import logs, tracing
from tests.support.apps import in_process_app, token_client
from tests.support.orders import ORDER
from tests.support.tracing import RecordingSandbox, recording_sandbox, run_jobs

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"  # the traceparent a caller of the API sends


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RecordingSandbox]:
    with recording_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, spans kept in memory as soon as they end."""
    exporter = InMemorySpanExporter()
    tracing.start(exporter=exporter, batch=False)
    try:
        yield exporter
    finally:
        tracing.stop()


def make_client(tmp_path: Path, sandbox: RecordingSandbox) -> FlaskClient:
    """The app in process on a fresh SQLite database, its connectors calling the recording sandbox."""
    app = in_process_app(tmp_path, ORDERFLOW_CONNECTOR_SETTINGS={}, ORDERFLOW_SANDBOX_URL=sandbox.url)
    return token_client(app)


def start_order(client: FlaskClient, business_key: str, headers: dict[str, str] | None = None) -> str:
    response = client.post(
        "/api/v1/process-definitions/order_fulfillment/instances",
        json={"businessKey": business_key, "variables": ORDER},
        headers=headers or {},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def hex_id(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def test_an_order_is_one_trace_from_the_request_to_the_calls_to_the_external_systems(
    tmp_path: Path, sandbox: RecordingSandbox, exporter: InMemorySpanExporter
) -> None:
    client = make_client(tmp_path, sandbox)
    sandbox.calls.clear()
    instance_id = start_order(client, "ORD-TRACE-1", {"traceparent": CALLER})
    ran = run_jobs(client.application.extensions["orderflow"])
    spans = exporter.get_finished_spans()
    order = client.get(f"/api/v1/process-instances/{instance_id}").get_json()
    assert order["status"] == "completed" and ran >= 3

    # The order keeps the trace it was started under (the caller's), and everything it did is in it.
    assert order["traceId"] == TRACE_ID
    assert {hex_id(s.context.trace_id, 32) for s in spans} == {TRACE_ID}

    by_id = {s.context.span_id: s for s in spans}
    (request_span,) = [s for s in spans if s.kind == SpanKind.SERVER and s.attributes.get("http.route")]
    assert hex_id(request_span.parent.span_id, 16) == "00f067aa0ba902b7"  # the caller's span is its parent
    (start_step,) = [s for s in spans if s.name == "orderflow step start"]
    assert start_step.parent.span_id == request_span.context.span_id
    assert start_step.attributes["orderflow.instance_id"] == instance_id
    assert start_step.attributes["orderflow.business_key"] == "ORD-TRACE-1"

    # Each job runs later in a worker (here the test thread): its span joins the trace under the start step, and
    # the step that reports its result is its child.
    jobs = [s for s in spans if s.name.startswith("orderflow job ")]
    assert len(jobs) == ran
    assert all(job.parent.span_id == start_step.context.span_id for job in jobs)
    job_steps = [s for s in spans if s.name == "orderflow step job"]
    assert len(job_steps) == ran
    assert {by_id[s.parent.span_id].name for s in job_steps} <= {j.name for j in jobs}

    # Every call to an external system is a client span under its job, and the system received its traceparent.
    calls = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert calls and all(by_id[c.parent.span_id].name.startswith("orderflow job ") for c in calls)
    assert len(sandbox.calls) == len(calls)
    received = {header for _, header in sandbox.calls}
    sent = {f"00-{TRACE_ID}-{hex_id(c.context.span_id, 16)}-01" for c in calls}
    assert received == sent, sandbox.calls


def test_a_failing_jobs_json_log_line_names_its_order_and_trace(
    tmp_path: Path, sandbox: RecordingSandbox, exporter: InMemorySpanExporter
) -> None:
    client = make_client(tmp_path, sandbox)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger("processes.jobs").addHandler(handler)
    requests.post(f"{sandbox.url}/_control", json={"outage": True}, timeout=5).raise_for_status()
    try:
        instance_id = start_order(client, "ORD-TRACE-2")
        ran = run_jobs(client.application.extensions["orderflow"])  # each fails once; its retry waits
    finally:
        requests.post(f"{sandbox.url}/_control/reset", timeout=5).raise_for_status()
        logging.getLogger("processes.jobs").removeHandler(handler)

    found = [json.loads(text) for text in lines.getvalue().splitlines()]
    order = client.get(f"/api/v1/process-instances/{instance_id}").get_json()
    assert len(found) == ran >= 1
    assert {line["jobId"] for line in found} == {job["id"] for job in order["jobs"]}
    for line in found:
        assert line["level"] == "WARNING" and line["logger"] == "processes.jobs.service"
        assert "failed on attempt 1 of" in line["message"] and "HTTP 503" in line["message"]
        assert line["instanceId"] == instance_id and line["order"] == "ORD-TRACE-2"
        assert line["traceId"] == order["traceId"] and len(line["traceId"]) == 32
        assert line["timestamp"].endswith("Z")
    # The jobs' spans say they failed.
    job_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("orderflow job ")]
    assert len(job_spans) == ran and not any(s.status.is_ok for s in job_spans)

    # An operator cancels the order under a trace of their own: the step is in that trace and links to the order's.
    response = client.post(f"/api/v1/process-instances/{instance_id}/cancel", headers={"traceparent": CALLER})
    assert response.status_code == 200, response.get_json()
    (cancel_step,) = [s for s in exporter.get_finished_spans() if s.name == "orderflow step"]
    assert hex_id(cancel_step.context.trace_id, 32) == TRACE_ID != order["traceId"]
    assert [hex_id(link.context.trace_id, 32) for link in cancel_step.links] == [order["traceId"]]


def test_a_step_message_to_the_broker_carries_the_trace_context() -> None:
    from processes.jobs.broker import TRACEPARENT_HEADER, send

    app = Celery("tracing-test", broker="memory://")
    tracing.start(exporter=InMemorySpanExporter(), batch=False)
    try:
        with tracing.span("orderflow step start"):
            expected = tracing.current_traceparent()
            assert send(app, "job-1", traceparent=expected)
    finally:
        tracing.stop()
    with app.connection_for_read() as connection:
        message = connection.SimpleQueue(app.conf.task_default_queue).get(timeout=2)
        message.ack()
    assert message.headers[TRACEPARENT_HEADER] == expected
    assert message.headers["task"] == "orderflow.run_job"


def test_with_tracing_off_nothing_is_installed_and_nothing_is_sent(tmp_path: Path, sandbox: RecordingSandbox) -> None:
    client = make_client(tmp_path, sandbox)
    services = client.application.extensions["orderflow"]
    assert not tracing.ON and tracing.provider() is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # no SDK provider anywhere
    assert "StepTracing" not in [type(f).__name__ for f in services.engine.features]
    hooks = [f.__name__ for f in client.application.before_request_funcs.get(None, [])]
    assert "open_request_span" not in hooks  # no request spans either

    sandbox.calls.clear()
    instance_id = start_order(client, "ORD-TRACE-3", {"traceparent": CALLER})
    assert run_jobs(services) >= 3
    order = client.get(f"/api/v1/process-instances/{instance_id}").get_json()
    assert order["status"] == "completed" and order["traceId"] is None
    assert sandbox.calls and all(header is None for _, header in sandbox.calls)
