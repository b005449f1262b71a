"""The job transport interface: where jobs go after the step that made them commits.

Two implementations sit side by side in `processes.jobs`: `embedded` (worker threads in the server process) and
`celery` (a Redis or RabbitMQ broker, any number of worker processes). The core only calls this interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from processes.core.models import new_id

if TYPE_CHECKING:
    from processes.core.records import JobRecord


# How many jobs of one order a worker runs side by side, one thread each (the branches of a parallel split, so that
# their results meet in one step). A wider split (a parallel multi-instance over a long list) goes in groups of this
# size: one diagram must not start a thread per item in one worker.
MAX_SIDE_BY_SIDE = 8


@dataclass(frozen=True)
class ClaimedJob:
    """A job as a worker holds it, outside any session."""

    id: str
    instance_id: str
    kind: str
    topic: str | None
    element_id: str | None
    attempt: int
    max_attempts: int
    lease_token: str
    variables: dict[str, Any]
    business_key: str | None = None
    trace_parent: str | None = None  # the traceparent the order was started under (tracing): the job joins it


class JobDispatcher:
    """Where new jobs go after commit. The default sends them nowhere (a sweep or a poller finds them)."""

    def dispatch(self, jobs: list[JobRecord], *, new_order: bool = False) -> None:  # noqa: B027 - a no-op default
        """Called after the step's commit with the jobs it created or rescheduled. `new_order`: the step started
        the instance (a transport may let jobs of orders already under way go first)."""

    def lease_holder(self, topic: str | None) -> str | None:
        """The worker in this process that will run a new job of this topic at once, if any. The step then
        writes the job already leased to it, saving a claim transaction per job."""
        return None

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:  # noqa: B027
        """Called after commit with the jobs the step leased to `lease_holder`."""

    def order_id(self) -> str:
        """The id of an order (process instance) that this process starts. A transport that runs each order's jobs
        in a process chosen by its id picks the id for where the order should run (app/serving.py)."""
        return new_id()

    # A broker transport sends due jobs right after commit; the step records that in the outbox row, so the
    # sweep only re-sends what was not taken in time.
    sends_after_commit: bool = False


class WrappingDispatcher(JobDispatcher):
    """A transport around another one that passes every call through: a wrapper overrides only what it adds (long
    polls' wake-ups, job chains in a worker, jobs run in their order's home process)."""

    def __init__(self, inner: JobDispatcher) -> None:
        self.inner = inner

    @property
    def sends_after_commit(self) -> bool:  # type: ignore[override]
        return self.inner.sends_after_commit

    def dispatch(self, jobs: list[JobRecord], *, new_order: bool = False) -> None:
        self.inner.dispatch(jobs, new_order=new_order)

    def lease_holder(self, topic: str | None) -> str | None:
        return self.inner.lease_holder(topic)

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:
        self.inner.run_claimed(jobs)

    def order_id(self) -> str:
        return self.inner.order_id()
