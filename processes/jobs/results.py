"""Results of one order's jobs that arrive together, applied in one engine step.

The parallel branches of an order (reserve the stock, authorize the payment) call their systems at the same time, so
their results usually arrive together. Each used to be a step of its own: the second waited for the writer lock while
the first ran, then loaded, settled, derived and saved the order again. Here the first result of an order leads: while
it waits for the lock, results of the same order that arrive join it, and its step applies them all, each with its
own lease check. What one step would not do as the steps one by one would, it leaves to them:
- a result whose lease is stale is rejected on its own (Conflict/NotFound to its worker); the others still count;
- once a result opened an incident, the results after it run their own steps, as they would have;
- when the joint step fails (a database error, a state that cannot be saved), every result runs its own step.
A worker hears about its result only after the step that applied it committed.

The first result no longer waits on its own: a step reads before it takes the writer lock (Engine.step's
`rerunnable`), so it would close its batch before the other branch's result arrived, and that result's step would
follow as a step of its own. So a leader waits while jobs of the same order are still calling their systems in this
process (`calling`: they were handed out together, by the step that made them), for at most half of what is left of
its lease; each such job either joins its batch or says it ended another way (`Call.end`). A result therefore
reaches its order no later than its slowest sibling's call: the price of one step instead of two."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from processes.core.engine import Engine
from processes.core.step import Step
from processes.errors import Conflict, NotFound


@dataclass
class _Result:
    apply: Callable[[Step], None]  # applies this result within a step; Conflict/NotFound for a stale lease
    settled: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    alone: bool = False  # not applied: its worker reports it in a step of its own


class Call:
    """One job of an order handed to this process to call its system (ResultBatches.calling): queued for a thread
    until `begin`, over at `end` or when its result joins a batch."""

    __slots__ = ("batches", "instance_id", "begun", "ended")

    def __init__(self, batches: ResultBatches, instance_id: str, begun: bool) -> None:
        self.batches, self.instance_id, self.begun, self.ended = batches, instance_id, begun, False

    def begin(self) -> None:
        """A thread runs the job now."""
        with self.batches._changed:
            self.begun = True
            self.batches._changed.notify_all()

    def end(self) -> None:
        """The call is over and its result will not join a batch (it failed, or it is reported otherwise)."""
        with self.batches._changed:
            self.batches._end(self)


class ResultBatches:
    """The results of each order waiting for the order's next step.

    `queue_waits`: how many leaders may wait at once for calls still queued for a thread; a transport whose
    threads run both the calls and the leaders sets it below its thread count, so that a thread is always left to
    start the queued calls (0: leaders wait only for calls that have begun)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a call of some order began or ended, or a step ended
        self._waiting: dict[str, list[_Result]] = {}
        self._calls: dict[str, list[Call]] = {}  # per order: its jobs calling their systems in this process
        self._stepping: set[str] = set()  # orders whose batch's step runs now: the next batch waits for it
        self.queue_waits = 0
        self._queue_waiting = 0
        self.joint_steps = 0  # steps that applied more than one result (what batching saved)

    def calling(self, instance_id: str, *, begun: bool = True) -> Call:
        """A job of this order is handed over to call its system (`begun`: a thread runs it now): a result of the
        same order waits for it to end."""
        call = Call(self, instance_id, begun)
        with self._lock:
            self._calls.setdefault(instance_id, []).append(call)
        return call

    def _end(self, call: Call) -> None:  # under the lock
        if call.ended:
            return
        call.ended = True
        calls = self._calls[call.instance_id]
        calls.remove(call)
        if not calls:
            del self._calls[call.instance_id]
        self._changed.notify_all()

    def _wait_for_calls(self, instance_id: str, wait_until: float) -> None:  # under the lock
        """Wait while the order's other calls may still join: those begun, and those queued while a queue slot
        is held."""
        slot = False
        try:
            while True:
                calls = self._calls.get(instance_id)
                left = wait_until - time.monotonic()
                if not calls or left <= 0:
                    return
                if not any(call.begun for call in calls):
                    if not slot and self._queue_waiting >= self.queue_waits:
                        return  # no thread would be left to start them
                    if not slot:
                        slot, self._queue_waiting = True, self._queue_waiting + 1
                self._changed.wait(left)
        finally:
            if slot:
                self._queue_waiting -= 1

    def waiting(self, instance_id: str) -> int:
        """How many results of the order wait for its next step (none once the step took them)."""
        with self._lock:
            return len(self._waiting.get(instance_id) or ())

    def deliver(
        self,
        instance_id: str,
        apply: Callable[[Step], None],
        alone: Callable[[], None],
        call: Call | None = None,
        wait_until: float | None = None,
    ) -> None:
        """Apply one result (`apply` within a step) together with the order's other results that arrive meanwhile;
        `alone` reports it in its own step instead (the way it went before batching). `call` is the job's own
        call, which ends here; a leader waits for the order's other calls until `wait_until` (time.monotonic()).
        Returns once the result is committed; raises what the result's own step would (Conflict for a stale
        lease)."""
        mine = _Result(apply)
        with self._lock:
            if call is not None:
                self._end(call)
            batch = self._waiting.get(instance_id)
            leader = batch is None
            if leader:
                batch = self._waiting[instance_id] = [mine]
                # One batch's step at a time per order (the next one would read what this one is changing), and
                # the order's calls in this process get until `wait_until` to join; results join meanwhile.
                while instance_id in self._stepping:
                    self._changed.wait()
                if wait_until is not None:
                    self._wait_for_calls(instance_id, wait_until)
                self._stepping.add(instance_id)
            else:
                batch.append(mine)
        if not leader:
            mine.settled.wait()
            if mine.error is not None:
                raise mine.error
            if mine.alone:
                alone()
            return
        taken: list[_Result] = []
        rejected = []
        joint = []

        def apply_all(step: Step) -> None:
            # The step may run this twice (another writer changed what it read: Engine.step's `rerunnable`), so
            # each run starts from nothing.
            with self._lock:  # the batch closes here: later results start the next one
                if self._waiting.get(instance_id) is batch:
                    del self._waiting[instance_id]
                taken[:] = batch
            rejected.clear()
            joint.clear()
            for result in taken:
                result.error, result.alone = None, False
            applied = 0
            for n, result in enumerate(taken):
                if n and step.incident is not None:
                    for rest in taken[n:]:
                        rest.alone = True  # the order stopped: they go on as their own steps would
                    break
                try:
                    result.apply(step)
                    applied += 1
                except (Conflict, NotFound) as exc:  # raised before the result changed anything
                    result.error = exc
            if not applied:
                rejected.append(True)
                raise next(r.error for r in taken if r.error is not None)  # nothing to save: roll back
            if applied > 1:
                joint.append(True)

        try:
            try:
                self.engine.step(instance_id, apply_all, actor="worker", kind="job", rerunnable=True)
            finally:
                with self._lock:
                    self._stepping.discard(instance_id)
                    self._changed.notify_all()
        except BaseException:
            with self._lock:
                if self._waiting.get(instance_id) is batch:  # failed before the batch closed
                    del self._waiting[instance_id]
                    taken[:] = batch
            others = [r for r in taken if r is not mine]
            if rejected:  # every lease was stale: each worker hears its own rejection
                for result in others:
                    result.settled.set()
                raise mine.error from None
            for result in others:
                result.error, result.alone = None, True
                result.settled.set()
            if others:
                alone()  # a joint step that failed: each result on its own, as before
                return
            raise
        if joint:
            self.joint_steps += 1
        for result in taken:
            if result is not mine:
                result.settled.set()
        if mine.error is not None:
            raise mine.error
        if mine.alone:
            alone()
