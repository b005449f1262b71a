"""External workers: service tasks with no built-in connector are jobs that workers in any language fetch and lock
by topic over REST, then complete, fail or answer with a BPMN error (Camunda's external-task pattern)."""

from __future__ import annotations

from datetime import timedelta

from apiflask import APIBlueprint

from processes.core.models import utcnow
from processes.core.transport import ClaimedJob
from processes.instances import check_variables, iso

from ..auth import actor
from ..extensions import auth
from ..services import services
from .schemas import ActivatedJobs, ActivateJobsIn, BpmnErrorIn, CompleteJobIn, FailJobIn, JobOutcome

bp = APIBlueprint("jobs", __name__, url_prefix="/api/v1", tag="External workers")


@bp.post("/jobs/activate")
@bp.auth_required(auth, roles=["integrator"])
@bp.input(ActivateJobsIn, arg_name="body")
@bp.output(ActivatedJobs)
@bp.doc(summary="Fetch and lock jobs of a topic", description="Returns at most maxJobs jobs, locked to workerId.")
def activate(body: ActivateJobsIn):
    lease_seconds = body.lockDuration / 1000
    claimed = services().jobs.claim(
        body.workerId, limit=body.maxJobs, topics=[body.topic], lease_seconds=lease_seconds, service_only=True
    )
    try:
        activated = {"jobs": [_activated(job, lease_seconds) for job in claimed]}
        ActivatedJobs.model_validate(activated)  # checked here, where a failure can still give the jobs back
        return activated
    except BaseException:
        # The worker never hears of these jobs: give them back now rather than leave them locked for the lease.
        services().jobs.release(claimed)
        raise


def _activated(job: ClaimedJob, lease_seconds: float) -> dict:
    return {
        "id": job.id,
        "topic": job.topic,
        "instanceId": job.instance_id,
        "businessKey": job.business_key,
        "elementId": job.element_id,
        "variables": job.variables,
        "retries": job.max_attempts - job.attempt + 1,
        "lockExpiresAt": iso(utcnow() + timedelta(seconds=lease_seconds)),
        "customHeaders": services().jobs.task_headers(job.instance_id, job.element_id),
    }


@bp.post("/jobs/<job_id>/complete")
@bp.auth_required(auth, roles=["integrator"])
@bp.input(CompleteJobIn, arg_name="body")
@bp.output(JobOutcome)
@bp.doc(summary="Complete a locked job with variables (409 when the worker's lock expired)")
def complete(job_id: str, body: CompleteJobIn):
    jobs = services().jobs
    token, instance_id = jobs.lease_of(job_id, body.workerId)
    jobs.complete(job_id, token, check_variables(body.variables), actor=actor(), instance_id=instance_id)
    return {"jobId": job_id, "instanceId": instance_id, "result": "completed"}


@bp.post("/jobs/<job_id>/fail")
@bp.auth_required(auth, roles=["integrator"])
@bp.input(FailJobIn, arg_name="body")
@bp.output(JobOutcome)
@bp.doc(summary="Report a failed attempt: retried after retryBackoff while retries are left, else an incident")
def fail(job_id: str, body: FailJobIn):
    jobs = services().jobs
    token, instance_id = jobs.lease_of(job_id, body.workerId)
    backoff = body.retryBackoff / 1000 if body.retryBackoff is not None else None
    jobs.fail(
        job_id,
        token,
        body.errorMessage or "failed by the worker",
        retries=body.retries,
        backoff_seconds=backoff,
        actor=actor(),
        instance_id=instance_id,
    )
    return {"jobId": job_id, "instanceId": instance_id, "result": "failed"}


@bp.post("/jobs/<job_id>/bpmn-error")
@bp.auth_required(auth, roles=["integrator"])
@bp.input(BpmnErrorIn, arg_name="body")
@bp.output(JobOutcome)
@bp.doc(summary="Throw a BPMN error at the job's task (a boundary error event catches it, else an incident)")
def bpmn_error(job_id: str, body: BpmnErrorIn):
    jobs = services().jobs
    token, instance_id = jobs.lease_of(job_id, body.workerId)
    jobs.throw_bpmn_error(
        job_id,
        token,
        body.errorCode,
        body.errorMessage,
        check_variables(body.variables),
        actor=actor(),
        instance_id=instance_id,
    )
    return {"jobId": job_id, "instanceId": instance_id, "result": "bpmn error thrown"}
