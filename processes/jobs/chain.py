"""Job chains in a worker process: the next job of an order runs where the order's last job ran.

When a job's result moves an order on to its next service task (capture after authorize, ship after capture), the
step that makes the new job runs in the worker that ran the job before it. Writing the new job already leased to
that worker, and running it right after in the same broker task, saves what a trip through the broker costs:
the publish, the claim transaction, and reloading the order's state in another process whose cache does not hold
it. The embedded runner does the same inside the server (EmbeddedRunner.lease_holder).

Nothing changes in what is guaranteed: the job row is written leased, in the step's transaction, like any lease; a
worker that dies before running it lets the lease expire, and the outbox sweep sends it to the broker (its
`dispatched_at` is empty). Two limits keep one message from holding a worker long: at most one job waits in the
chain at a time (the second job of a parallel split goes to the broker, so another worker can run it at the same
time), and a chain ends after `max_jobs` jobs (an order that loops hands its next job to the broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from processes.core.transport import ClaimedJob, JobDispatcher, WrappingDispatcher


class JobChain(WrappingDispatcher):
    """The dispatcher of a worker process: the installation's transport, unchanged, plus chains for the jobs made
    while this thread runs a chain (`running`)."""

    def __init__(self, inner: JobDispatcher, worker_id: Callable[[], str], topics: Iterable[str], max_jobs: int = 10):
        super().__init__(inner)
        self.worker_id = worker_id
        self.topics = set(topics)
        self.max_jobs = max_jobs
        self._local = threading.local()

    def lease_holder(self, topic: str | None) -> str | None:
        chain = getattr(self._local, "chain", None)
        if chain is None or topic not in self.topics or chain.full(self.max_jobs):
            return self.inner.lease_holder(topic)
        chain.promised += 1
        return self.worker_id()

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:
        chain = getattr(self._local, "chain", None)
        if chain is None:
            self.inner.run_claimed(jobs)
            return
        chain.waiting.extend(jobs)

    @contextmanager
    def running(self, first: ClaimedJob) -> Iterator[Iterator[ClaimedJob]]:
        """Run a chain in this thread: iterate over `first` and then each job leased to this worker by the steps
        of the jobs before it. Jobs still waiting when the caller stops early stay leased until their lease ends,
        and the sweep then sends them on."""
        chain = _Chain([first])
        self._local.chain = chain
        try:
            yield chain.jobs()
        finally:
            self._local.chain = None


class _Chain:
    def __init__(self, waiting: list[ClaimedJob]):
        self.waiting = waiting
        self.started = 0
        self.promised = 0  # leases granted by lease_holder in the step now running (before its commit)

    def full(self, max_jobs: int) -> bool:
        return len(self.waiting) + self.promised > 0 or self.started + self.promised >= max_jobs

    def jobs(self) -> Iterator[ClaimedJob]:
        while self.waiting:
            # Whatever was promised and not handed over was rolled back with its step: it never existed.
            self.promised = 0
            self.started += 1
            yield self.waiting.pop(0)
