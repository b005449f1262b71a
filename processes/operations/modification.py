"""Moving an order's tokens (modification): cancel the work at some elements and start it before others, in one
engine step. The step then withdraws the jobs and inbox tasks of what was cancelled and makes those of what was
started, as for any other change. What cannot be done (an element that does not exist, one whose scope is not
active, a cancel where no token is) is refused with 422 naming every such element, and nothing changes."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from sqlalchemy import update

from processes.core import spiff
from processes.core.engine import Engine
from processes.core.models import ENDED_STATUSES, INCIDENT, RUNNING, Incident, utcnow
from processes.core.step import Step
from processes.errors import Conflict, InvalidInput
from processes.instances import check_variables, get_instance
from processes.operations.variables import apply_to_tasks

BOUNDARY_SPLIT = ".BoundaryEventSplit"  # SpiffWorkflow's name for the task that arms an element's boundary events
KINDS = ("cancel", "startBefore")


def check_instructions(instructions: Any) -> list[tuple[str, str]]:
    if not isinstance(instructions, list) or not instructions:
        raise InvalidInput('instructions must be a non-empty list of {"cancel": id} or {"startBefore": id}')
    parsed = []
    for number, instruction in enumerate(instructions, 1):
        if not isinstance(instruction, dict) or len(instruction) != 1:
            raise InvalidInput(f'instruction {number}: give exactly one of "cancel" or "startBefore"')
        ((kind, element),) = instruction.items()
        if kind not in KINDS or not isinstance(element, str) or not element:
            raise InvalidInput(
                f'instruction {number}: give exactly one of "cancel" or "startBefore" with an element id'
            )
        parsed.append((kind, element))
    return parsed


def _scope_of(step: Step, element: str, specs: dict) -> tuple[Any, str | None]:
    """(the workflow the element would run in, None) or (None, why it cannot start there)."""
    workflow = step.workflow
    if element in workflow.spec.task_specs:
        return workflow, None
    for sub in workflow.subprocesses.values():
        if element in sub.spec.task_specs and not sub.is_completed():
            return sub, None
    for name, spec in specs.items():
        if element in spec.task_specs:
            return None, f"{element} is inside subprocess {name}, which is not active"
    return None, f"{element} does not exist in {step.instance.process_key} version {step.instance.definition_version}"


def modify_instance(
    engine: Engine,
    instance_id: str,
    *,
    instructions: Any,
    variables: dict[str, Any] | None = None,
    comment: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    parsed = check_instructions(instructions)
    variables = check_variables(variables)

    def apply(step: Step) -> None:
        instance, workflow = step.instance, step.workflow
        if instance.status in ENDED_STATUSES:
            raise Conflict(f"process instance {instance_id} is {instance.status}")
        _spec, subprocess_specs = engine.spec_for(step.connection, instance.definition_id)
        active = [t for t in spiff.tasks_in(workflow, spiff.ACTIVE_STATES) if spiff.is_element(t)]
        problems, cancels, starts = [], [], []
        for kind, element in parsed:
            if kind == "cancel":
                found = [t for t in active if spiff.element_id(t) == element]
                if not found:
                    problems.append(f"cannot cancel {element}: no token is there")
                cancels.extend(found)
            else:
                scope, why = _scope_of(step, element, subprocess_specs)
                spec = scope.spec.task_specs[element] if scope is not None else None
                if why is None and getattr(spec, "bpmn_id", None) is None:
                    why = f"{element} is not an element of the diagram"
                elif why is None and type(spec).__name__ == "BoundaryEvent":
                    why = f"{element} is a boundary event: start before the activity it is attached to"
                if why is not None:
                    problems.append(why)
                else:
                    starts.append((element, scope, spec))
        if problems:
            raise InvalidInput("; ".join(problems))

        data = {**(instance.variables or {}), **variables}
        before = [e.get("elementId") for e in instance.active_elements or []]
        anchors: dict[int, Any] = {}
        cancelled_ids = []
        for task in cancels:
            target = task
            if task.parent is not None and task.parent.task_spec.name.endswith(BOUNDARY_SPLIT):
                target = task.parent  # its boundary events go with it
            anchors.setdefault(id(task.workflow), target.parent)
            cancelled_ids.append(str(task.id))
            target.cancel()
            step.record("element_cancelled", task, {"comment": comment, "by": "modification"})
        for element, scope, spec in starts:
            start_spec = scope.spec.task_specs.get(element + BOUNDARY_SPLIT, spec)
            parent = anchors.get(id(scope)) or scope.task_tree
            child = spiff.add_child(parent, start_spec, spiff.TaskState.FUTURE)
            child.data = deepcopy(data)
            # Its way on to the end is predicted as a new token's would be (SpiffWorkflow's reset does the same).
            spiff.predict(child, spiff.TaskState.PREDICTED_MASK | spiff.TaskState.FUTURE)
            spiff.update(child)
            child.data.update(deepcopy(data))
            step.record("element_started", element_id=element, data={"comment": comment, "by": "modification"})
        if variables:
            apply_to_tasks(step, variables, [])

        now = utcnow()
        if cancelled_ids:
            # Incidents at the cancelled elements are over: the token left them.
            step.connection.execute(
                update(Incident)
                .where(
                    Incident.instance_id == instance.id,
                    Incident.resolved_at.is_(None),
                    Incident.task_id.in_(cancelled_ids),
                )
                .values(resolved_at=now, resolution="moved", resolved_by=step.actor, comment=comment)
            )
        still_open = step.connection.scalar(
            Incident.__table__.select()
            .with_only_columns(Incident.id)
            .where(Incident.instance_id == instance.id, Incident.resolved_at.is_(None))
            .limit(1)
        )
        if still_open is None and instance.status == INCIDENT:
            instance.status = RUNNING  # derived again by the step
        step.record(
            "instance_modified",
            data={
                "comment": comment,
                "instructions": [{kind: element} for kind, element in parsed],
                "variables": variables or None,
                "before": {"activeElements": before},
            },
        )

    engine.step(instance_id, apply, actor=actor, kind="modify")
    return get_instance(engine, instance_id)
