"""Suspending and resuming orders and definition versions: a feature of the engine core.

A suspended order runs no job and fires no timer (the core holds its jobs: `Feature.holds_jobs`), takes no task
completion and no message (`Feature.admit` refuses them with 409) and shows as `suspended`. Resuming releases the
held jobs: a timer that fell due meanwhile fires at once. Suspending a definition version refuses new starts of it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update

from processes.core import spiff
from processes.core.engine import Engine
from processes.core.feature import Feature
from processes.core.models import ENDED_STATUSES, INCIDENT, SUSPENDED, AuditEvent, ProcessDefinition, iso, utcnow
from processes.core.statements import Statement
from processes.core.step import Step
from processes.errors import Conflict, NotFound
from processes.instances import get_instance

# What a suspended order refuses; operators' own commands (variables, modification, migration, cancel) still run.
REFUSED = {"job": "job results", "timer": "timers", "task": "task completions", "message": "messages"}
# Asked by every start, so built once.
_DEFINITION_SUSPENDED = Statement(select(ProcessDefinition.suspended_at).where(ProcessDefinition.id == bindparam("id")))


class Suspension(Feature):
    """Holds a suspended order and refuses starts of a suspended definition version."""

    def admit(self, step: Step, kind: str | None) -> None:
        if kind == "start":
            suspended = _DEFINITION_SUSPENDED.scalar(step.connection, {"id": step.instance.definition_id})
            if suspended is not None:
                raise Conflict(
                    f"process definition {step.instance.definition_id} is suspended: it starts no new orders "
                    "until an operator resumes it"
                )
        elif kind in REFUSED and step.instance.suspended_at is not None:
            raise Conflict(
                f"process instance {step.instance.id} is suspended: it takes no {REFUSED[kind]} until an operator "
                "resumes it"
            )

    def holds_jobs(self, step: Step) -> bool:
        return step.instance.suspended_at is not None

    def instance_status(self, step: Step, status: str) -> str:
        # An incident stays visible (and retryable) while suspended: it is the more urgent fact.
        return SUSPENDED if step.instance.suspended_at is not None and status != INCIDENT else status


def _check_open(step: Step) -> None:
    if step.instance.status in ENDED_STATUSES:
        raise Conflict(f"process instance {step.instance.id} is {step.instance.status}")


def suspend_instance(engine: Engine, instance_id: str, *, comment: str | None = None, actor: str | None = None) -> dict:
    def apply(step: Step) -> None:
        _check_open(step)
        if step.instance.suspended_at is not None:
            raise Conflict(f"process instance {instance_id} is already suspended")
        before = step.instance.status
        step.instance.suspended_at = utcnow()
        step.record("instance_suspended", data={"comment": comment, "before": {"status": before}})

    engine.step(instance_id, apply, actor=actor, kind="suspend")
    return get_instance(engine, instance_id)


def resume_instance(engine: Engine, instance_id: str, *, comment: str | None = None, actor: str | None = None) -> dict:
    def apply(step: Step) -> None:
        _check_open(step)
        if step.instance.suspended_at is None:
            raise Conflict(f"process instance {instance_id} is not suspended")
        suspended_at = step.instance.suspended_at
        step.instance.suspended_at = None
        if step.instance.status == SUSPENDED:
            step.instance.status = "running"  # derived again by the step: running or waiting
        step.record("instance_resumed", data={"comment": comment, "suspendedAt": iso(suspended_at)})
        # Timers that fell due while it was suspended fire now, as the timer job would have made them.
        hooks = step.engine.hooks
        before = {feature: feature.before_timers(step) for feature in hooks.before_timers}
        spiff.fire_due_timers(step.workflow, utcnow())
        for feature in hooks.after_timers:
            feature.after_timers(step, before.get(feature))

    engine.step(instance_id, apply, actor=actor, kind="resume")
    return get_instance(engine, instance_id)


def set_definition_suspended(
    engine: Engine, key: str, version: int, *, suspended: bool, comment: str | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Suspend (or resume) new starts of one definition version; running orders of it go on."""
    now = utcnow()
    with engine.write_connection() as connection:
        row = connection.execute(
            select(ProcessDefinition.id, ProcessDefinition.suspended_at).where(
                ProcessDefinition.key == key, ProcessDefinition.version == version
            )
        ).first()
        if row is None:
            raise NotFound(f"no process definition with key '{key}' version {version} is deployed")
        if (row.suspended_at is not None) == suspended:
            raise Conflict(f"process definition {row.id} is {'already' if suspended else 'not'} suspended")
        connection.execute(
            update(ProcessDefinition)
            .where(ProcessDefinition.id == row.id)
            .values(suspended_at=now if suspended else None)
        )
        # Definitions have no audit trail of their own: the event is kept under the definition's id.
        connection.execute(
            AuditEvent.__table__.insert().values(
                instance_id=row.id[:32],
                at=now,
                type="definition_suspended" if suspended else "definition_resumed",
                actor=actor,
                data={"definitionId": row.id, "comment": comment},
            )
        )
    return {
        "id": row.id,
        "key": key,
        "version": version,
        "suspended": suspended,
        "suspendedAt": iso(now) if suspended else None,
    }
