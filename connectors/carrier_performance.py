"""Live carrier performance, as orderflow has seen it: for each carrier, the bookings it refused or failed lately and
the share of its parcels delivered by the promised date. The carrier connector records every booking and every
delivery it tracks; the `carrier.performance` topic hands the figures to a process (variable `carrierStats`), where a
decision table can steer orders away from a carrier that is failing or late.

Kept in the memory of the process that runs the carrier connector (the server's workers, or one `orderflow worker`):
it is recent history, so it starts empty and is rebuilt by the next bookings after a restart. The engine processes
of one `orderflow serve` tell each other every booking and delivery (`share`, `absorb`), so an order sees what the
others' orders met whichever process runs it; separate `orderflow worker` processes each keep their own figures from
the calls they made."""

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
        # Told of every booking and delivery recorded here, as a dict `absorb` takes (the other engine processes).
        self.share: Callable[[dict[str, Any]], None] | None = None

    def booking(self, carrier: str, *, ok: bool) -> None:
        """A booking the carrier took (ok) or refused or failed (not ok)."""
        at = self._clock()
        self._booking(carrier, ok, at)
        if self.share is not None:
            self.share({"booking": carrier, "ok": ok, "at": at})

    def delivery(self, carrier: str, tracking_number: str, *, on_time: bool) -> None:
        """A parcel seen delivered; each tracking number counts once, however often it is tracked."""
        if self._delivery(carrier, tracking_number, on_time) and self.share is not None:
            self.share({"delivery": carrier, "trackingNumber": tracking_number, "onTime": on_time})

    def absorb(self, record: dict[str, Any]) -> None:
        """A booking or delivery another process recorded (what its `share` was given); not shared again."""
        if "booking" in record:
            self._booking(str(record["booking"]), bool(record["ok"]), float(record["at"]))
        elif "delivery" in record:
            self._delivery(str(record["delivery"]), str(record["trackingNumber"]), bool(record["onTime"]))

    def _booking(self, carrier: str, ok: bool, at: float) -> None:
        with self._lock:
            self._bookings[carrier] = self._bookings.get(carrier, 0) + 1
            if not ok:
                self._failures.setdefault(carrier, deque()).append(at)

    def _delivery(self, carrier: str, tracking_number: str, on_time: bool) -> bool:
        with self._lock:
            if tracking_number in self._delivered:
                return False
            self._delivered.add(tracking_number)
            self._deliveries.setdefault(carrier, deque(maxlen=DELIVERIES_KEPT)).append(on_time)
            return True

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
