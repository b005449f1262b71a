"""The inbox as a feature of the engine core: ready user tasks become rows people's inboxes read, discrepancy
reviews hold a job for a person, and timer boundary events on user tasks escalate them as drawn."""

from __future__ import annotations

from typing import Any

from inbox import escalations, projection, reviews
from processes.core.feature import Feature
from processes.core.models import JOB_REVIEW
from processes.core.records import JobRecord
from processes.core.step import Step


class HumanTasks(Feature):
    """Projects ready user tasks into the task table (and cancels rows of tasks that were left)."""

    def derive(self, step: Step, active_tasks: list) -> None:
        step.scratch["inbox"] = projection.project(step, active_tasks, step.instance.active_elements or [])

    def describe(self, step: Step, task, element: dict[str, Any]) -> None:
        human_id = step.scratch["inbox"].get(str(task.id))
        if human_id is not None:
            element["humanTaskId"] = human_id


class Reviews(Feature):
    """A job whose answer differs from what was asked waits for a person's review in the inbox."""

    def review(self, step: Step, task, job: JobRecord, review: Any) -> bool:
        reviews.open_review(step, task, job, review)
        return True

    def job_left(self, step: Step, job: JobRecord, status: str) -> None:
        if status == JOB_REVIEW:  # its task was left: so is the review
            reviews.cancel_reviews(step, job.id)


class Escalations(Feature):
    """Timer boundary events on user tasks: reminders, reassignment, priority, or a manager's task."""

    def element_completed(self, step: Step, task) -> None:
        if escalations.is_timer_boundary(task):
            escalations.on_timer_boundary(step, task)

    def before_timers(self, step: Step) -> dict[str, int]:
        return escalations.cycles_left(step.workflow)

    def after_timers(self, step: Step, before: dict[str, int]) -> None:
        escalations.after_timer_check(step, before)
