"""Results of one order's jobs that arrive together, applied in one engine step.

The parallel branches of an order (reserve the stock, authorize the payment) call their systems at the same time, so
their results usually arrive together. Each used to be a step of its own: the second waited for the writer lock while
the first ran, then loaded, settled, derived and saved the order again. Here the first result of an order leads: while
it waits for the lock, results of the same order that arrive join it, and its step applies them all, each with its
own lease check. What one step would not do as the steps one by one would, it leaves to them:
- a result whose lease is stale is rejected on its own (Conflict/NotFound to its worker); the others still count;
- once a result opened an incident, the results after it run their own steps, as they would have;
- when the joint step fails (a database error, a state that cannot be saved), every result runs its own step.
A worker hears about its result only after the step that applied it committed."""

from __future__ import annotations

import threading
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


class ResultBatches:
    """The results of each order waiting for the order's next step."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._waiting: dict[str, list[_Result]] = {}
        self.joint_steps = 0  # steps that applied more than one result (what batching saved)

    def waiting(self, instance_id: str) -> int:
        """How many results of the order wait for its next step (none once the step took them)."""
        with self._lock:
            return len(self._waiting.get(instance_id) or ())

    def deliver(self, instance_id: str, apply: Callable[[Step], None], alone: Callable[[], None]) -> None:
        """Apply one result (`apply` within a step) together with the order's other results that arrive meanwhile;
        `alone` reports it in its own step instead (the way it went before batching). Returns once the result is
        committed; raises what the result's own step would (Conflict for a stale lease)."""
        mine = _Result(apply)
        with self._lock:
            batch = self._waiting.get(instance_id)
            leader = batch is None
            if leader:
                batch = self._waiting[instance_id] = [mine]
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

        def apply_all(step: Step) -> None:
            with self._lock:  # the batch closes here: later results start the next one
                if self._waiting.get(instance_id) is batch:
                    del self._waiting[instance_id]
                taken[:] = batch
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
                self.joint_steps += 1

        try:
            self.engine.step(instance_id, apply_all, actor="worker", kind="job")
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
        for result in taken:
            if result is not mine:
                result.settled.set()
        if mine.error is not None:
            raise mine.error
        if mine.alone:
            alone()
