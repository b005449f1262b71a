"""The engine core: one engine step per change to an order, and the interface features plug into.

Public API:
- `Engine`, `EngineSettings`: the step function and its caches; `JOB_KEY` marks the job made for a task.
- `Step`: what one step works on, with `record`, `open_incident`, `active_jobs`, `create_service_job`.
- `Feature`: the hooks a BPMN capability overrides (all do nothing by default).
- `ClaimedJob`, `JobDispatcher`: the job transport interface.
- `spiff`: the one adapter for SpiffWorkflow internals.

The core imports nothing from `processes.features`, `inbox` or `app` (import-linter checks it)."""

from processes.core import spiff
from processes.core.engine import JOB_KEY, MAX_ROUNDS, Engine, EngineSettings
from processes.core.feature import Feature
from processes.core.step import Step
from processes.core.transport import ClaimedJob, JobDispatcher

__all__ = [
    "JOB_KEY",
    "MAX_ROUNDS",
    "ClaimedJob",
    "Engine",
    "EngineSettings",
    "Feature",
    "JobDispatcher",
    "Step",
    "spiff",
]
