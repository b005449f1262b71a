"""What one evaluation of a diagram's expression may cost, and what an instance may keep.

Every evaluation (a Python condition or script, a JUEL or FEEL expression, a DMN decision) runs under a `Budget`:
a step budget and a deadline. The step ends inside the engine step, which holds the instance's lock (and, on
SQLite, the process-wide writer lock), so nothing may run long between two checks:

- the evaluators count their own work: the Python sandbox every loop iteration and every item a builtin walks
  (`sum`, `map`, `sorted`, `str.join` ...), FEEL every loop, filter and call, JUEL every method call;
- every count also looks at the clock now and then (every `CHECK_EVERY` steps), so the deadline holds even
  where each step is slow. The clock is the CPU time of the evaluating thread (`clock`), so a loaded machine does
  not fail an ordinary expression;
- what could still take long in one go is bounded by size (strings, lists, ranges, repetition) or runs on a
  linear-time engine (FEEL regular expressions on RE2), so the time between two checks stays short.

No thread or signal is used: the budget is a few attributes on a thread-local object, so an evaluation costs
nothing more than before unless it loops. Nested evaluations (the FEEL cells of one DMN decision, a JUEL
expression a bean call evaluates) share the outermost budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from processes.errors import OrderflowError

CHECK_EVERY = 1024  # steps between two looks at the clock
# The clock of the budgets: CPU time of the evaluating thread. A busy machine, or other threads holding the GIL,
# must not turn an ordinary expression into an incident; what the budget bounds is the work one evaluation does.
clock = time.thread_time


@dataclass
class Limits:
    """The limits in force, process-wide; `configure` sets them from EngineSettings."""

    seconds: float = 1.0  # ORDERFLOW_EXPRESSION_SECONDS, of the evaluating thread's CPU time
    steps: int = 1_000_000  # ORDERFLOW_EXPRESSION_STEPS
    max_variables_bytes: int = 4 * 1024 * 1024  # ORDERFLOW_MAX_VARIABLES_BYTES


LIMITS = Limits()


def configure(
    *, seconds: float | None = None, steps: int | None = None, max_variables_bytes: int | None = None
) -> None:
    """Change the limits for every evaluation from now on (the engine calls this with its settings)."""
    if seconds is not None:
        LIMITS.seconds = float(seconds)
    if steps is not None:
        LIMITS.steps = int(steps)
    if max_variables_bytes is not None:
        LIMITS.max_variables_bytes = int(max_variables_bytes)


class OverBudget(OrderflowError):
    """An expression used up its time or step budget, or built a value over the size limits. `budget` names
    which ("time", "steps" or "size")."""

    status = 422
    title = "Expression over budget"

    def __init__(self, message: str, budget: str = "time") -> None:
        super().__init__(message)
        self.budget = budget

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.budget))


def _time_message() -> str:
    return f"took longer than its time budget of {LIMITS.seconds:g} s (ORDERFLOW_EXPRESSION_SECONDS)"


class Budget:
    """The steps left and the deadline of one evaluation.

    The deadline is fixed at the first look at the clock, after the first CHECK_EVERY steps, not when the evaluation
    begins: reading a thread's CPU time is a system call (about 1.4 µs here, 1% of the server's CPU when every one of
    an order's few dozen evaluations read it at its start), and almost every evaluation ends long before its first
    check. What the deadline bounds is unchanged but for those first steps, which are short by the rule above."""

    __slots__ = ("_deadline", "left", "next_check", "depth")

    def __init__(self) -> None:
        self._deadline: float | None = None
        self.left = LIMITS.steps
        self.next_check = max(self.left - CHECK_EVERY, 0)
        self.depth = 0

    @property
    def deadline(self) -> float:
        """The `clock()` time by which the evaluation must end (fixed at the first time it is asked for)."""
        if self._deadline is None:
            self._deadline = clock() + LIMITS.seconds
        return self._deadline

    def tick(self, n: int = 1) -> None:
        """Count `n` steps of work; raise OverBudget when the steps or the time are used up."""
        self.left -= n
        if self.left < self.next_check:
            if self.left < 0:
                raise OverBudget(
                    f"did more than {LIMITS.steps:,} steps of work, its step budget (ORDERFLOW_EXPRESSION_STEPS)",
                    "steps",
                )
            self.next_check = max(self.left - CHECK_EVERY, 0)
            self.check_time()

    def check_time(self) -> None:
        now = clock()
        if self._deadline is None:
            self._deadline = now + LIMITS.seconds
        elif now > self._deadline:
            raise OverBudget(_time_message(), "time")

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """The items of `iterable`, each counted as a step."""
        for item in iterable:
            self.left -= 1
            if self.left < self.next_check:
                self.tick(0)
            yield item

    def __enter__(self) -> Budget:
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            _local.budget = None


_local = threading.local()


def evaluation() -> Budget:
    """The budget of the evaluation under way on this thread, or a new one; use as `with limits.evaluation():`
    around an evaluation (a nested one shares the outer budget; the outermost ends it)."""
    budget = getattr(_local, "budget", None)
    if budget is None:
        budget = _local.budget = Budget()
    return budget


def current() -> Budget:
    """The budget under way, or a fresh one for work outside any `evaluation()` (it has its own full budget)."""
    budget = getattr(_local, "budget", None)
    return budget if budget is not None else Budget()


def deadline() -> float:
    """The `clock()` time by which the evaluation under way must end."""
    budget = getattr(_local, "budget", None)
    return budget.deadline if budget is not None else clock() + LIMITS.seconds


def check_deadline(at: float) -> None:
    if clock() > at:
        raise OverBudget(_time_message(), "time")
