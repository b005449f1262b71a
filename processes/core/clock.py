"""What "now" is for the engine: the wall clock in production, a virtual clock when scenarios are tested.

Every timestamp the engine writes (job due times, leases, retries, timer due moments) comes from `now()`. A caller
that wants another clock says so for its own thread of work with `using(clock)` (a context variable, so a test run
inside a server never moves the server's time), or gives it to the engine in `EngineSettings.clock`, which every
engine step then runs under.

SpiffWorkflow reads the wall clock itself when a timer event is reached (due = wall now + duration). The adapter
(`spiff.align_timers`) moves such a due moment by the clock's lead over the wall clock, and `spiff.fire_due_timers`
fires timers by this clock, so both kinds of timer follow the same time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta


def naive(moment: datetime) -> datetime:
    """A UTC datetime without its time zone: `moment.replace(tzinfo=None)` at a third of the cost (replace's keyword
    arguments are slow to parse, and a step takes the time a dozen times). `datetime.utcnow()` would be cheaper still
    but is deprecated from Python 3.12."""
    return datetime.combine(moment.date(), moment.time())


class Clock:
    """The wall clock. Subclass and override `now` for another idea of time."""

    def now(self) -> datetime:
        """Naive UTC, as every stored timestamp."""
        return naive(datetime.now(UTC))

    def lead(self) -> timedelta:
        """How far this clock is ahead of the wall clock (zero for the wall clock)."""
        return timedelta(0)


class VirtualClock(Clock):
    """A clock that stands still until told to move: tests skip forward to the next timer instead of waiting."""

    def __init__(self, start: datetime | None = None):
        self._now = start or Clock().now()

    def now(self) -> datetime:
        return self._now

    def lead(self) -> timedelta:
        return self._now - Clock().now()

    def advance_to(self, moment: datetime) -> None:
        """Move forward to `moment` (never back)."""
        if moment > self._now:
            self._now = moment

    def advance(self, by: timedelta) -> None:
        self.advance_to(self._now + by)


WALL_CLOCK = Clock()
_current: ContextVar[Clock] = ContextVar("orderflow_clock", default=WALL_CLOCK)


def current() -> Clock:
    return _current.get()


def now() -> datetime:
    """The current clock's naive UTC now."""
    return _current.get().now()


@contextmanager
def using(clock: Clock | None) -> Iterator[Clock]:
    """Run the block under `clock` (None: keep the current one)."""
    if clock is None:
        yield current()
        return
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
