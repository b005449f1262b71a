"""Engine steps in traces and log lines: a feature that is in the engine's list only while tracing or JSON log
lines are on (`app.features.default_features`), so with both off the engine does not even call it.

Each step is a span (`orderflow step <kind>`) around the whole step, commit and hand-over of jobs included, with
the order's ids on it. The step that starts an order keeps the span's traceparent on the order: its jobs, run later
by a worker thread or a Celery worker, join that trace, and a later step made under another trace (a person
completing a task) links back to it. While the step runs, log lines carry the order's ids."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from observability import logs, tracing
from processes.core.feature import Feature

if TYPE_CHECKING:
    from processes.core.step import Step


class StepTracing(Feature):
    @contextmanager
    def around_step(self, kind: str | None) -> Iterator[object]:
        name = f"orderflow step {kind}" if kind else "orderflow step"  # a cancel, a signal, an incident's retry
        with logs.kept(), tracing.span(name, attributes={"orderflow.step": kind or ""}):
            yield None

    def begin(self, step: Step) -> None:
        instance = step.instance
        logs.bind(instance_id=instance.id, order=instance.business_key)
        if not tracing.ON:
            return
        tracing.annotate(
            **{
                "orderflow.instance_id": instance.id,
                "orderflow.business_key": instance.business_key,
                "orderflow.process_key": instance.process_key,
                "orderflow.actor": step.actor,
            }
        )
        if instance.is_new:
            instance.trace_parent = tracing.current_traceparent()
        else:
            tracing.link(instance.trace_parent)

    def saved(self, step: Step) -> None:
        if tracing.ON:
            tracing.annotate(**{"orderflow.status": step.instance.status, "orderflow.events": len(step.events)})
            if step.incident is not None:
                tracing.annotate(**{"orderflow.incident": step.incident.message})
