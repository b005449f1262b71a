"""The embedded job transport: worker threads inside the server process, woken after each commit.

Jobs made by a step are handed straight to the threads (no polling delay); a poller picks up what is due
later (timers, retries) and jobs whose lease expired (a worker died). The threads only choose which jobs to
try; claiming, running and reporting are JobService's, shared with every other transport."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable

from processes.core.models import SERVICE, Job, utcnow
from processes.core.transport import JobDispatcher
from processes.errors import Conflict
from processes.jobs.service import ClaimedJob, JobService

log = logging.getLogger(__name__)


class EmbeddedRunner(JobDispatcher):
    def __init__(
        self,
        jobs: JobService,
        *,
        threads: int = 4,
        topics: Iterable[str] | None = None,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
    ):
        self.jobs = jobs
        self.threads = threads
        self.topics = list(topics) if topics is not None else None
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or f"embedded-{os.getpid()}"
        self._ready: queue.Queue[str | ClaimedJob | None] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._running = 0  # jobs a thread works on now (`backlog`)
        self._counting = threading.Lock()
        # A result waiting for its order's queued jobs holds a thread: one is always left to start them.
        jobs.results.queue_waits = max(threads - 1, 0)
        self._periodic: list[tuple[float, Callable[[], None]]] = []

    # -- JobDispatcher ------------------------------------------------------------------------------------

    def dispatch(self, jobs: list[Job], *, new_order: bool = False) -> None:
        now = utcnow()
        for job in jobs:
            if job.due_at <= now and (job.kind != SERVICE or self.topics is None or job.topic in self.topics):
                self._ready.put(job.id)
            else:
                self._wake.set()  # the poller recomputes when to look next

    def lease_holder(self, topic: str | None) -> str | None:
        if self._stop.is_set() or not self._workers:
            return None  # not running: leave new jobs for whoever claims them
        return self.worker_id if self.topics is None or topic in self.topics else None

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:
        self.jobs.expect(jobs)
        for job in jobs:
            self._ready.put(job)

    @property
    def backlog(self) -> int:
        """Jobs handed to this runner's threads and not finished: waiting for a thread, or running."""
        return self._ready.qsize() + self._running

    # -- lifecycle ----------------------------------------------------------------------------------------

    def every(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` every `seconds` while the runner runs (alert checks), on a thread of its own so that a slow
        action never holds up jobs. Register before start()."""
        self._periodic.append((seconds, action))

    def start(self) -> None:
        self._stop.clear()
        for n in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"orderflow-worker-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)
        poller = threading.Thread(target=self._poll, name="orderflow-poller", daemon=True)
        poller.start()
        self._workers.append(poller)
        if self._periodic:
            ticker = threading.Thread(target=self._tick, name="orderflow-periodic", daemon=True)
            ticker.start()
            self._workers.append(ticker)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for _ in range(self.threads):
            self._ready.put(None)
        for thread in self._workers:
            thread.join(timeout)
        self._workers.clear()

    # -- threads ------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._ready.get()
            if item is None:
                return
            with self._counting:
                self._running += 1
            try:
                if isinstance(item, ClaimedJob):
                    self._run(item)
                    continue
                job = self.jobs.claim_job(self.worker_id, item, topics=self.topics)
                if job is not None:
                    self._run(job)
            except Exception:  # keep the thread alive; the job stays leased and is retried after expiry
                log.exception("job %s could not be run", item)
            finally:
                with self._counting:
                    self._running -= 1

    def _run(self, job: ClaimedJob) -> None:
        try:
            self.jobs.run(job)
        except Conflict as exc:  # stale lease or a cancelled instance: the result is rejected, as it must be
            log.info("job %s result rejected: %s", job.id, exc)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.jobs.claim(self.worker_id, limit=50, topics=self.topics)
                for job in claimed:
                    self._ready.put(job)
                if len(claimed) == 50:
                    continue
                wait = self.poll_seconds
                due = self.jobs.next_due()
                if due is not None:
                    wait = min(wait, max((due - utcnow()).total_seconds(), 0.0))
            except Exception:
                log.exception("job poller failed; trying again")
                wait = self.poll_seconds
            self._wake.wait(wait)
            self._wake.clear()

    def _tick(self) -> None:
        due = [time.monotonic() + seconds for seconds, _ in self._periodic]
        while not self._stop.is_set():
            for n, (seconds, action) in enumerate(self._periodic):
                if time.monotonic() >= due[n]:
                    due[n] = time.monotonic() + seconds
                    action()  # actions handle their own errors (AlertMonitor.check_logged)
            self._stop.wait(max(min(due) - time.monotonic(), 0.0))
