"""OpenTelemetry tracing: one switch, off by default.

Off (the default), nothing is installed: no SDK tracer provider, no request hooks, and every place that
would make a span first reads the module flag `ON` (one attribute read), so tracing costs nothing. On
(`ORDERFLOW_TRACING=otlp` or `console`), a tracer provider of orderflow's own exports the spans in batches; the
standard `OTEL_*` variables configure the exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, ...),
the service name (`OTEL_SERVICE_NAME`, default `orderflow`) and the sampler (`OTEL_TRACES_SAMPLER`).

Context travels as W3C `traceparent`: read from incoming requests, sent with every connector call and with every
job message to the broker, and kept on the order (`process_instances.trace_parent`) so that its jobs, which run
later and elsewhere, join the trace the order was started under."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

MODES = ("off", "otlp", "console")
TRACER_NAME = "orderflow"

ON = False  # read on every hot path: while False nothing below makes a span
_provider: Any = None  # the SDK TracerProvider while tracing is on (never installed as the global one)
_tracer: Any = None
_flush_at_exit = False
_propagator = TraceContextTextMapPropagator()  # W3C traceparent only, whatever the global propagators are


class TracingConfigurationError(ValueError):
    """ORDERFLOW_TRACING has a value orderflow does not know."""


def mode_from(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    mode = (env.get("ORDERFLOW_TRACING") or "off").strip().lower()
    if mode in ("", "false", "0", "none", "no"):
        mode = "off"
    if mode not in MODES:
        raise TracingConfigurationError(f"ORDERFLOW_TRACING must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def start(mode: str = "otlp", *, exporter: Any = None, batch: bool = True) -> None:
    """Turn tracing on for this process (once; a second call keeps the first set-up). `exporter` replaces the one
    `mode` names (the tests pass an in-memory exporter, with `batch=False` so spans are there at once)."""
    global ON, _provider, _tracer, _flush_at_exit
    if ON:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        if mode == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            # The process's real stdout: a Celery worker turns sys.stdout into warning log lines.
            exporter = ConsoleSpanExporter(out=sys.__stdout__)
        elif mode == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout from the OTEL_EXPORTER_OTLP_* variables
        else:
            raise TracingConfigurationError(f"no exporter for tracing mode {mode!r}")
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; orderflow is the default name.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "orderflow"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer(TRACER_NAME)
    ON = True
    if not _flush_at_exit:
        _flush_at_exit = True
        atexit.register(stop)  # the spans still in the batch go out when the process ends


def stop() -> None:
    """Flush what is left and turn tracing off (at exit, and between tests)."""
    global ON, _provider, _tracer
    provider, ON, _provider, _tracer = _provider, False, None, None
    if provider is not None:
        provider.shutdown()


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Start tracing when ORDERFLOW_TRACING asks for it; True when tracing is on."""
    mode = mode_from(env)
    if mode != "off":
        start(mode)
    return ON


def provider() -> Any:
    """The SDK tracer provider while tracing is on (for instrumentation libraries), else None."""
    return _provider


# -- spans --------------------------------------------------------------------------------------------------


def parse(traceparent: str | None) -> trace.SpanContext | None:
    """The span context a W3C traceparent names, or None when it is missing or malformed."""
    if not traceparent:
        return None
    extracted = trace.get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
    return extracted if extracted.is_valid else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32 hex digits of a traceparent's trace id."""
    context = parse(traceparent)
    return format(context.trace_id, "032x") if context is not None else None


def current_traceparent() -> str | None:
    """The traceparent of the span running now, or None (tracing off, or no span)."""
    if not ON:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the span running now, as hex, or None."""
    if not ON:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def inject(headers: MutableMapping[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) of the span running now to outgoing headers."""
    if ON:
        _propagator.inject(headers)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: str | None = None,
) -> Iterator[Any]:
    """A span, current while the block runs; an exception marks it as failed. `parent` (a traceparent) is its
    parent when no span is running here (a job picked up by a worker thread joins its order's trace)."""
    if not ON:
        yield None
        return
    context = None
    if parent and not trace.get_current_span().get_span_context().is_valid:
        context = _propagator.extract({"traceparent": parent})
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=dict(attributes) if attributes else None
    ) as current:
        yield current


class Opened:
    """A span opened in one callback and closed in another (a web request's before and teardown hooks)."""

    __slots__ = ("span", "token")

    def __init__(self, span: Any, token: Any):
        self.span, self.token = span, token


def open_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.SERVER,
    carrier: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Opened | None:
    """Open a span and make it current until `close_span`; its parent is the `traceparent` in `carrier` (an
    incoming request's headers), else whatever is current."""
    if not ON:
        return None
    parent = _propagator.extract(carrier) if carrier is not None and carrier.get("traceparent") else None
    opened = _tracer.start_span(name, context=parent, kind=kind, attributes=dict(attributes) if attributes else None)
    return Opened(opened, otel_context.attach(trace.set_span_in_context(opened)))


def close_span(opened: Opened | None, error: BaseException | None = None) -> None:
    if opened is None:
        return
    if error is not None:
        opened.span.record_exception(error)
        opened.span.set_status(Status(StatusCode.ERROR, f"{error.__class__.__name__}: {error}"))
    opened.span.end()
    otel_context.detach(opened.token)


@contextmanager
def attached(traceparent: str | None) -> Iterator[None]:
    """Make a traceparent received with a message (a Celery job) the parent of the spans in the block."""
    if not ON or not traceparent:
        yield
        return
    token = otel_context.attach(_propagator.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


def annotate(**attributes: Any) -> None:
    """Set attributes on the span running now (values that are None are left out)."""
    if ON:
        current = trace.get_current_span()
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)


def link(traceparent: str | None) -> None:
    """Link the span running now to another trace's span (a later step of an order, made under another request,
    points back at the trace the order was started under)."""
    if not ON or not traceparent:
        return
    current = trace.get_current_span()
    if traceparent[3:35] == format(current.get_span_context().trace_id, "032x"):
        return  # the same trace (the order's own jobs): nothing to link
    target = parse(traceparent)
    if target is not None:
        current.add_link(target, {"orderflow.link": "order"})


def failed(error: BaseException | str) -> None:
    """Mark the span running now as failed (an error that was handled, so no exception leaves the block)."""
    if ON:
        current = trace.get_current_span()
        current.set_status(Status(StatusCode.ERROR, str(error)))
        if isinstance(error, BaseException):
            current.record_exception(error)


__all__ = [
    "MODES",
    "SpanKind",
    "Status",
    "StatusCode",
    "TracingConfigurationError",
    "annotate",
    "Opened",
    "attached",
    "close_span",
    "configure",
    "current_ids",
    "current_traceparent",
    "failed",
    "inject",
    "link",
    "mode_from",
    "open_span",
    "parse",
    "provider",
    "span",
    "start",
    "stop",
    "trace_id_of",
]
