"""Long polling for external workers: a fetch that finds nothing waits until new jobs arrive or its time is up.

A worker's long poll (Camunda 7 `fetchAndLock` with `asyncResponseTimeout`, Camunda 8 job activation with
`requestTimeout`) holds one server thread while it waits. Two things keep that cheap and prompt:

- a wake-up: every commit of this process that made or rescheduled jobs wakes the waiting polls, which look again
  at once, so a job is handed out as soon as it is ready; a poll also looks again every `recheck_seconds`, for jobs
  made by other processes (gunicorn workers, Celery workers) and retries that became due;
- a cap: at most `limit` polls wait at once. One beyond the cap is answered at once with what there is (possibly
  nothing), so waiting workers can never take every thread of the server (waitress has a fixed pool; `orderflow
  serve` gives the long polls threads of their own on top of it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from processes.core.transport import JobDispatcher, WrappingDispatcher

if TYPE_CHECKING:
    from processes.core.records import JobRecord

T = TypeVar("T")


class JobArrivals:
    """Where long polls wait for new jobs."""

    def __init__(self, limit: int = 8, recheck_seconds: float = 1.0):
        self.limit = limit
        self.recheck_seconds = recheck_seconds
        self._slots = threading.BoundedSemaphore(max(limit, 0)) if limit > 0 else None
        self._changed = threading.Condition()
        self._generation = 0
        self.waiting = 0  # polls waiting now (monitoring, tests)
        # Tells the other engine processes of `orderflow serve` (app/serving.py); none in a process of its own.
        self.tell_others: Callable[[], None] | None = None

    def announce(self, *, elsewhere: bool = True) -> None:
        """New jobs were committed (or a lock was released): every waiting poll looks again, in this process and,
        when `elsewhere`, in the other engine processes of the server."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        if elsewhere and self.tell_others is not None:
            self.tell_others()

    def poll(self, fetch: Callable[[], list[T]], timeout_seconds: float) -> list[T]:
        """`fetch()` now; while it finds nothing, again after each arrival, until `timeout_seconds` have passed."""
        with self._changed:
            seen = self._generation
        found = fetch()
        if found or timeout_seconds <= 0 or self._slots is None or not self._slots.acquire(blocking=False):
            return found
        with self._changed:
            self.waiting += 1
        try:
            deadline = time.monotonic() + timeout_seconds
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                with self._changed:
                    if self._generation == seen:
                        self._changed.wait(min(remaining, self.recheck_seconds))
                    seen = self._generation
                found = fetch()
                if found:
                    return found
        finally:
            with self._changed:
                self.waiting -= 1
            self._slots.release()


class AnnouncingDispatcher(WrappingDispatcher):
    """The installation's transport, unchanged, plus a wake-up for long polls after every commit that made jobs."""

    def __init__(self, inner: JobDispatcher, arrivals: JobArrivals):
        super().__init__(inner)
        self.arrivals = arrivals

    def dispatch(self, jobs: list[JobRecord], *, new_order: bool = False) -> None:
        self.inner.dispatch(jobs, new_order=new_order)
        if jobs:
            # A job leased at creation (to this process's job threads) is no other process's to fetch.
            self.arrivals.announce(elsewhere=any(job.locked_by is None for job in jobs))
