"""What the shared HTTP client remembers about its recent calls, for the health report.

Per process and in memory on purpose: recording happens on every call, so it must cost a lock
and an append, never a network round trip.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from connectors.circuit import Clock

DEFAULT_WINDOW = 100


@dataclass(frozen=True)
class CallStats:
    calls: int  # calls in the window (refused ones are not calls: they never reached the system)
    errors: int
    last_success_at: float | None
    last_failure_at: float | None
    refused: int  # calls the open circuit refused since start

    @property
    def error_rate(self) -> float:
        return round(self.errors / self.calls, 4) if self.calls else 0.0


class CallMonitor:
    def __init__(self, *, window: int = DEFAULT_WINDOW, clock: Clock = time.time) -> None:
        self._lock = threading.Lock()
        self._outcomes: deque[bool] = deque(maxlen=window)  # True = error
        self._clock = clock
        self._last_success_at: float | None = None
        self._last_failure_at: float | None = None
        self._refused = 0

    def record(self, *, error: bool) -> None:
        now = self._clock()
        with self._lock:
            self._outcomes.append(error)
            if error:
                self._last_failure_at = now
            else:
                self._last_success_at = now

    def refused(self) -> None:
        with self._lock:
            self._refused += 1

    def snapshot(self) -> CallStats:
        with self._lock:
            return CallStats(
                calls=len(self._outcomes),
                errors=sum(self._outcomes),
                last_success_at=self._last_success_at,
                last_failure_at=self._last_failure_at,
                refused=self._refused,
            )
