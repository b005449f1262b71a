"""The outbox sweep of the broker transport decides which jobs to send (again): only those whose message is not in
the broker. A job whose message waits in a long queue is left alone, however old the message."""

from __future__ import annotations

from datetime import timedelta

from processes.core.engine import Engine
from processes.core.models import JOB_LOCKED, SCHEDULE, Job, utcnow
from processes.jobs.service import JobService


def add_job(engine: Engine, **values) -> str:
    # A schedule job belongs to no instance, so a bare row will do.
    with engine.write_session() as session:
        job = Job(kind=SCHEDULE, instance_id=None, **values)
        session.add(job)
        session.commit()
        return job.id


def test_a_job_waiting_in_the_queue_is_sent_again_only_once_its_message_is_lost(engine: Engine) -> None:
    now = utcnow()
    queued = add_job(engine, due_at=now - timedelta(seconds=30), dispatched_at=now - timedelta(seconds=20))
    never_sent = add_job(engine, due_at=now - timedelta(seconds=1), dispatched_at=None)
    jobs = JobService(engine)

    assert jobs.sweep(resend_after_seconds=10) == [never_sent]
    # The scheduler saw the queue empty after the first job was sent: its message is neither waiting nor run.
    assert jobs.sweep(resend_after_seconds=10, queue_empty_since=utcnow()) == [queued]
    assert jobs.sweep(resend_after_seconds=10, queue_empty_since=utcnow()) == []  # both just sent


def test_a_job_whose_lease_expired_is_sent_again_once(engine: Engine) -> None:
    now = utcnow()
    held = add_job(
        engine,
        status=JOB_LOCKED,
        due_at=now - timedelta(seconds=60),
        dispatched_at=now - timedelta(seconds=2),
        lock_expires_at=now - timedelta(seconds=1),
    )
    jobs = JobService(engine)
    assert jobs.sweep(resend_after_seconds=10) == [held]  # its worker died: at once, not 10 s after the last send
    assert jobs.sweep(resend_after_seconds=10) == []  # sent since its lease expired


def test_a_sweep_sends_at_most_its_limit(engine: Engine) -> None:
    for _ in range(5):
        add_job(engine, due_at=utcnow() - timedelta(seconds=1))
    jobs = JobService(engine)
    assert len(jobs.sweep(limit=3)) == 3
    assert len(jobs.sweep(limit=3)) == 2
