"""The `Step` object: what one engine step works on, and the public methods features use on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import Connection

from processes.core import spiff
from processes.core.models import JOB_LOCKED, SERVICE, new_id, utcnow
from processes.core.records import ACTIVE_JOBS, IncidentRecord, InstanceRecord, JobRecord, Record
from processes.core.transport import ClaimedJob

if TYPE_CHECKING:
    from processes.core.engine import Engine


@dataclass
class Step:
    """One engine step: the locked instance, its workflow, and what the step will write. Commands and features
    read and change it; the core writes `records` and `events` at the end, in one transaction."""

    engine: Engine
    connection: Connection
    instance: InstanceRecord
    workflow: BpmnWorkflow
    actor: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    new_jobs: list[JobRecord] = field(default_factory=list)
    leased_jobs: list[ClaimedJob] = field(default_factory=list)
    incident: IncidentRecord | None = None
    records: list[Record] = field(default_factory=list)  # rows to write at the end of the step, in order
    # What features keep between their hooks within this step, by feature name.
    scratch: dict[str, Any] = field(default_factory=dict)
    _active_jobs: list[JobRecord] | None = None

    def record(self, type_: str, task=None, data: dict | None = None, **extra: Any) -> None:
        """An audit event at `task` (or at `element_id=`), written with the step."""
        spec = task.task_spec if task is not None else None
        self.events.append(
            {
                "instance_id": self.instance.id,
                "at": utcnow(),
                "type": type_,
                "element_id": getattr(spec, "bpmn_id", None) or extra.get("element_id"),
                "element_name": getattr(spec, "bpmn_name", None),
                "element_type": spec.__class__.__name__ if spec is not None else None,
                "actor": self.actor,
                "data": data,
                "entered_at": spiff.entered_at(task),
            }
        )

    def open_incident(
        self, error_type: str, message: str, task=None, job: JobRecord | None = None, element_id: str | None = None
    ) -> None:
        """Stop the instance with an incident at `task` (or at the job's element, or at `element_id`); the engine
        runs no further."""
        incident = IncidentRecord.new(
            instance_id=self.instance.id,
            job_id=job.id if job is not None else None,
            element_id=spiff.element_id(task) if task is not None else (job and job.element_id) or element_id,
            task_id=str(task.id) if task is not None else job and job.task_id,
            error_type=error_type,
            message=message,
        )
        self.records.append(incident)
        self.incident = incident
        self.record(
            "incident_opened", task, {"errorType": error_type, "message": message}, element_id=incident.element_id
        )

    def active_jobs(self) -> list[JobRecord]:
        """The instance's jobs that are not finished, loaded once per step and written back with it."""
        if self._active_jobs is None:
            if self.instance.is_new:
                self._active_jobs = []
            else:
                self._active_jobs = JobRecord.load_with(self.connection, ACTIVE_JOBS, instance_id=self.instance.id)
                self.records.extend(self._active_jobs)
        return self._active_jobs

    def forget_job(self, job: JobRecord) -> None:
        """Leave a job out of `active_jobs` for the rest of the step (its command settled it)."""
        self._active_jobs = [j for j in self.active_jobs() if j.id != job.id]

    def create_service_job(
        self,
        task,
        topic: str,
        variables: dict[str, Any],
        *,
        max_attempts: int,
        retry_cycle: str | None = None,
        element_id: str | None = None,
        now: datetime | None = None,
    ) -> JobRecord:
        """A job for work outside the engine at `task` (a connector or an external worker). When a worker of this
        process will run it at once, the job is written already leased to it."""
        now = now or utcnow()
        job = JobRecord.new(
            id=new_id(),
            instance_id=self.instance.id,
            kind=SERVICE,
            topic=topic,
            element_id=element_id or task.task_spec.bpmn_id,
            task_id=str(task.id),
            due_at=now,
            max_attempts=max_attempts,
            retry_cycle=retry_cycle,
            variables=variables,
        )
        dispatcher = self.engine.dispatcher
        holder = dispatcher.lease_holder(topic)
        if holder is not None:
            job.status, job.locked_by, job.lease_token = JOB_LOCKED, holder, new_id()
            job.lock_expires_at = now + timedelta(seconds=self.engine.settings.lease_seconds)
            self.leased_jobs.append(
                ClaimedJob(
                    id=job.id,
                    instance_id=job.instance_id,
                    kind=SERVICE,
                    topic=topic,
                    element_id=job.element_id,
                    attempt=1,
                    max_attempts=max_attempts,
                    lease_token=job.lease_token,
                    variables=job.variables,
                    business_key=self.instance.business_key,
                    trace_parent=self.instance.trace_parent,
                )
            )
        else:
            self.new_jobs.append(job)
            if dispatcher.sends_after_commit:
                job.dispatched_at = now
        self.records.append(job)
        return job
