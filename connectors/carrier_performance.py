"""Live carrier performance, as orderflow has seen it: for each carrier, the bookings it refused or failed lately and
the share of its parcels delivered by the promised date. The carrier connector records every booking and every
delivery it tracks; the `carrier.performance` topic hands the figures to a process (variable `carrierStats`), where a
decision table can steer orders away from a carrier that is failing or late.

Kept in the memory of the process that runs the carrier connector (the server's workers, or one `orderflow worker`):
it is recent history, so it starts empty and is rebuilt by the next bookings after a restart. With several workers,
each keeps its own figures from the calls it made."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_CARRIERS = ("DHL", "UPS", "DPD")
FAILURE_WINDOW_SECONDS = 15 * 60  # what "recent" means for failed bookings
DELIVERIES_KEPT = 200  # the on-time rate covers each carrier's last deliveries


class CarrierPerformance:
    """Thread-safe: the connector records from several worker threads while processes read snapshots."""

    def __init__(
        self,
        carriers: Iterable[str] = DEFAULT_CARRIERS,
        *,
        window_seconds: float = FAILURE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = {c: deque() for c in carriers}
        self._bookings: dict[str, int] = dict.fromkeys(self._failures, 0)
        self._deliveries: dict[str, deque[bool]] = {c: deque(maxlen=DELIVERIES_KEPT) for c in self._failures}
        self._delivered: set[str] = set()  # tracking numbers already counted

    def booking(self, carrier: str, *, ok: bool) -> None:
        """A booking the carrier took (ok) or refused or failed (not ok)."""
        with self._lock:
            self._bookings[carrier] = self._bookings.get(carrier, 0) + 1
            if not ok:
                self._failures.setdefault(carrier, deque()).append(self._clock())

    def delivery(self, carrier: str, tracking_number: str, *, on_time: bool) -> None:
        """A parcel seen delivered; each tracking number counts once, however often it is tracked."""
        with self._lock:
            if tracking_number in self._delivered:
                return
            self._delivered.add(tracking_number)
            self._deliveries.setdefault(carrier, deque(maxlen=DELIVERIES_KEPT)).append(on_time)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """{carrier: {"recentFailures": n, "bookings": n, "onTimeRate": 0..1 or None when nothing was delivered}}."""
        with self._lock:
            since = self._clock() - self._window
            result = {}
            for carrier in sorted(set(self._failures) | set(self._deliveries)):
                failures = self._failures.setdefault(carrier, deque())
                while failures and failures[0] < since:
                    failures.popleft()
                deliveries = self._deliveries.get(carrier) or ()
                result[carrier] = {
                    "recentFailures": len(failures),
                    "bookings": self._bookings.get(carrier, 0),
                    "onTimeRate": round(sum(deliveries) / len(deliveries), 3) if deliveries else None,
                }
            return result


def performance(tracker: CarrierPerformance, variables: Any, ctx: Any) -> dict[str, Any]:
    """The `carrier.performance` topic: no remote call, the figures this process has seen."""
    return {"carrierStats": tracker.snapshot()}
