"""Job chains in a worker process: the next job of an order runs where the order's last job ran.

When a job's result moves an order on to its next service task (capture after authorize, ship after capture), the
step that makes the new job runs in the worker that ran the job before it. Writing the new job already leased to
that worker, and running it right after in the same broker task, saves what a trip through the broker costs:
the publish, the claim transaction, and reloading the order's state in another process whose cache does not hold
it. The embedded runner does the same inside the server (EmbeddedRunner.lease_holder).

When that step splits the order (a parallel gateway after a service task), all its new jobs, up to
MAX_SIDE_BY_SIDE, stay in the chain as one group: the worker runs them side by side, one thread each, and the result
ready first waits for the others' calls, so all are applied in one step, as when a message brings an order's
parallel jobs (app/worker.py). Sent through the broker, they would run on different workers, and each result would
take a step of its own.

Nothing changes in what is guaranteed: the job row is written leased, in the step's transaction, like any lease; a
worker that dies before running it lets the lease expire, and the outbox sweep sends it to the broker (its
`dispatched_at` is empty). Limits keep one message from holding a worker long: one group waits in the chain at a
time, of at most MAX_SIDE_BY_SIDE jobs (a wider split sends the rest to the broker), and a chain ends after
`max_jobs` jobs (an order that loops hands its next job to the broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from processes.core.transport import MAX_SIDE_BY_SIDE, ClaimedJob, JobDispatcher, WrappingDispatcher


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
    def running(self, jobs: list[ClaimedJob]) -> Iterator[Iterator[list[ClaimedJob]]]:
        """Run a chain in this thread: iterate over `jobs` (one order's, due together) and then over the jobs leased
        to this worker by each step that runs meanwhile, one group per step (several: a parallel split, to run side
        by side). Jobs still waiting when the caller stops early stay leased until their lease ends, and the sweep
        then sends them on."""
        chain = _Chain(list(jobs))
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
        # While a step runs, `waiting` is empty (its group was taken before): what it promised is the next group.
        return bool(self.waiting) or self.promised >= MAX_SIDE_BY_SIDE or self.started + self.promised >= max_jobs

    def jobs(self) -> Iterator[list[ClaimedJob]]:
        while self.waiting:
            # Whatever was promised and not handed over was rolled back with its step: it never existed.
            self.promised = 0
            group, self.waiting = self.waiting, []
            self.started += len(group)
            yield group
