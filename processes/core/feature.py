"""The feature interface: how a BPMN capability plugs into the engine core.

The core runs one engine step (lock, load, command, settle, derive, save, commit, dispatch) and knows no BPMN
feature by name. A feature subclasses `Feature` and overrides only the hooks it needs; every hook does nothing by
default, so the core calls only the hooks a feature really overrides (see `Hooks`). One list of features, written
once (`app.features.default_features`), serves the engine, the parser, the serializer and lint.

Deploy-time hooks shape how a diagram is read; step hooks run inside an engine step, under its lock and in its
transaction, and must not do network I/O; job hooks run when a job's result is reported (also inside a step)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processes.core.records import JobRecord
    from processes.core.step import ClaimedJob, Step


class Feature:
    """A BPMN capability. Override the hooks you need; the others cost nothing."""

    # -- reading diagrams (parser, serializer, lint) ------------------------------------------------------

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        """The parser's override map (tag -> (parser class, spec class)) with this feature's classes in it.
        `defaults` is the base parser's full map, for features that wrap every activity."""
        return classes

    def converters(self) -> dict:
        """Serializer converters for the spec classes this feature adds: spec class -> converter class."""
        return {}

    def prepare_xml(self, root: Any) -> None:
        """Change the copy of a diagram that SpiffWorkflow parses (the stored XML stays as drawn)."""

    def lint(self, loaded: Any) -> list:
        """Problems (`processes.errors.Problem`) in a diagram file, found before it is parsed."""
        return []

    def prepare_specs(self, specs: list, roots: Sequence[Any]) -> None:
        """Finish a process's parsed specs (its own and its subprocesses'), given every diagram deployed with it."""

    # -- inside an engine step --------------------------------------------------------------------------------

    def around_step(self, kind: str | None) -> AbstractContextManager[object]:
        """A context the whole step runs in (a span around each step, for example): locking, the command, the commit
        and the hand-over of its jobs. What the step raises passes through it. `kind` is the command's (see `admit`)."""
        return nullcontext()

    def admit(self, step: Step, kind: str | None) -> None:
        """The command of `kind` ("start", "job", "timer", "task", "message", ...; None when the caller names none)
        is about to run on the locked instance: raise an `OrderflowError` to refuse it (nothing is written)."""

    def begin(self, step: Step) -> None:
        """The instance is loaded (or created) and the command is about to run."""

    def before_run(self, step: Step) -> bool:
        """Before the engine first runs in this step. True when the feature moved the instance on."""
        return False

    def settle(self, step: Step) -> bool:
        """After each run of the engine: do what the engine cannot do alone. True when the engine must run again."""
        return False

    def element_completed(self, step: Step, task: Any) -> None:
        """A drawn element completed while the engine ran."""

    def derive(self, step: Step, active_tasks: list) -> None:
        """The engine has settled: derive side effects (jobs, inbox rows, subscriptions) from the active tasks."""

    def holds_jobs(self, step: Step) -> bool:
        """True while the instance's jobs (service jobs and its timer) must wait: the core writes them held, and
        releases them in the first step where no feature holds them any more."""
        return False

    def instance_status(self, step: Step, status: str) -> str:
        """The status of an instance that has not ended, as the step derived it: a feature may say another."""
        return status

    def next_timer(self, step: Step) -> datetime | None:
        """The earliest moment this feature needs the instance woken, beyond SpiffWorkflow's own timers."""
        return None

    def describe(self, step: Step, task: Any, element: dict[str, Any]) -> None:
        """Add what this feature knows to an active element of `GET /process-instances/{id}`."""

    def job_left(self, step: Step, job: JobRecord, status: str) -> None:
        """A job's task was left (a boundary event, a cancel): the job is cancelled. `status` is what it was."""

    def saved(self, step: Step) -> None:
        """The step's rows are written (the instance row exists): write this feature's own rows."""

    def uncaught_error(self, step: Step, task: Any, code: str, message: str, *, check: bool = False) -> bool:
        """A BPMN error thrown at `task` that no boundary event on it catches. True when the feature caught it (an
        error event subprocess, a boundary event of an enclosing activity); with `check`, only say whether it would."""
        return False

    # -- job results (each inside a step) ---------------------------------------------------------------------

    def job_result(self, step: Step, task: Any, job: JobRecord, variables: dict[str, Any]) -> bool:
        """A job completed at `task`. True when this feature took the result (the task is not completed)."""
        return False

    def completing(self, step: Step, task: Any) -> bool:
        """A job's task got its result and is about to complete. True when the feature left it another way."""
        return False

    def review(self, step: Step, task: Any, job: JobRecord, review: Any) -> bool:
        """A job's answer differs from what was asked. True when the feature holds it for a person."""
        return False

    def before_timers(self, step: Step) -> Any:
        """Due timers are about to fire; what this returns is given back to `after_timers`."""
        return None

    def after_timers(self, step: Step, before: Any) -> None:
        """Due timers fired."""

    def run_job(self, engine: Any, job: ClaimedJob) -> bool:
        """Run a job of a kind this feature owns (outside any step). True when it did."""
        return False


HOOKS = tuple(name for name, value in vars(Feature).items() if callable(value) and not name.startswith("_"))


class Hooks:
    """The features that override each hook, in list order: the core calls only those."""

    def __init__(self, features: Sequence[Feature]):
        self.features = tuple(features)
        for name in HOOKS:
            default = getattr(Feature, name)
            setattr(self, name, tuple(f for f in self.features if getattr(type(f), name) is not default))
