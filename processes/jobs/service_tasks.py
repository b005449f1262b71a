"""Service tasks as jobs: a feature of the engine core.

A service task (or another element's work done on its behalf, such as a compensation handler) that the engine
reaches waits in STARTED; this feature writes a job for it, with the variables its input mapping gives and the
retry policy its diagram or its topic sets. A worker runs the job outside the step and reports back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.task import TaskState

from processes import expressions
from processes.core.engine import JOB_KEY
from processes.core.feature import Feature
from processes.core.models import utcnow
from processes.core.records import JobRecord
from processes.core.step import Step
from processes.deployment.parser import topic_of
from processes.expressions import mappings
from processes.jobs.service import retry_delays


def service_job(
    step: Step,
    task,
    topic: str,
    now: datetime | None = None,
    *,
    extensions: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    element_id: str | None = None,
) -> JobRecord | None:
    """A job for a service task, or for another element's work on its behalf (a compensation handler's: its own
    `extensions`, the variables it works on and its element id). None, with an incident, when its input mapping or
    retry cycle cannot be evaluated."""
    extensions = (task.task_spec.extensions or {}) if extensions is None else extensions
    data = task.data if data is None else data
    element_id = element_id or task.task_spec.bpmn_id
    what = f"input mapping of {element_id}"
    try:
        mapped_inputs = mappings.inputs(extensions, data)
        if topic == (extensions.get("topic") or "").strip() and expressions.dialect_of(topic) != expressions.PYTHON:
            # The job type as an expression (Zeebe `=…`, Camunda 7 `${…}`): evaluated for each job, after the
            # input mappings, as Zeebe does; it must give text.
            what = f"job type of {element_id}"
            topic = job_topic(topic, {**data, **mapped_inputs})
        retry_cycle = extensions.get("retryCycle")
        if retry_cycle and expressions.dialect_of(retry_cycle) != expressions.PYTHON:
            # Camunda 7 takes an expression here too (`${paymentRetryCycle}`): evaluated when the job is made.
            what = f"retry cycle of {element_id}"
            retry_cycle = str(expressions.evaluate(retry_cycle, data))
        retries = str(extensions.get("retries") or "")
        if retries and expressions.dialect_of(retries) != expressions.PYTHON:  # Zeebe `retries="=…"`, per job
            what = f"retries of {element_id}"
            value = expressions.evaluate(retries, {**data, **mapped_inputs})
            retries = str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else ""
    except expressions.ExpressionError as exc:
        step.open_incident("mapping_error", f"{what}: {exc}", task=task)
        return None
    max_attempts = step.engine.settings.policy_for(topic)[0]
    if retry_cycle:
        max_attempts = len(retry_delays(retry_cycle)) + 1
    elif retries.isdigit():
        max_attempts = max(1, int(retries))
    return step.create_service_job(
        task,
        topic,
        {**data, **mapped_inputs},
        max_attempts=max_attempts,
        retry_cycle=retry_cycle,
        element_id=element_id,
        now=now,
    )


def job_topic(source: str, variables: dict[str, Any]) -> str:
    """The topic a job type expression gives; ExpressionError when it is not text."""
    value = expressions.evaluate(source, variables)
    if not isinstance(value, str) or not value.strip():
        shown = "null" if value is None else repr(value)
        raise expressions.ExpressionError(
            f"'{source}' must give the job's type as text, but gave {shown}", expressions.dialect_of(source)
        )
    return value.strip()


class ServiceTasks(Feature):
    """Writes a job for every service task the engine reached; one without a topic is an incident."""

    def derive(self, step: Step, active_tasks: list) -> None:
        now = utcnow()
        for task in active_tasks:
            if task.state != TaskState.STARTED or not isinstance(task.task_spec, ServiceTask):
                continue
            if JOB_KEY in task.internal_data:
                continue
            topic = topic_of(task.task_spec)
            if topic is None:
                task.internal_data[JOB_KEY] = None
                step.open_incident(
                    "unbound_service_task",
                    f"service task {task.task_spec.bpmn_id} has no topic or connector binding",
                    task=task,
                )
                continue
            job = service_job(step, task, topic, now)
            task.internal_data[JOB_KEY] = job.id if job is not None else None
            if job is not None:
                step.record("job_created", task, {"jobId": job.id, "topic": job.topic})
