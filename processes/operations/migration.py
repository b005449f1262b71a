"""Migrating running orders from one version of a process to another.

Each order moves in its own engine step: its state (the task tree SpiffWorkflow keeps) is rebuilt on the target
version's spec. Every task keeps its id, data and internal data, so its jobs, timers, message subscriptions and
inbox task follow it; only the element it stands for changes, by the mapping (elements with the same id map to
themselves). Finished tasks of elements the target does not have leave the history of the tree, predicted ones are
predicted again from the target's flows. An order with a token at an element the target does not have (and the
mapping does not place) cannot move: it stays as it was, and the dry run and the batch say why."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from processes.core import spiff
from processes.core.engine import Engine
from processes.core.models import (
    HumanTask,
    Incident,
    Job,
    ProcessDefinition,
    ProcessInstance,
)
from processes.core.step import Step
from processes.errors import Conflict, InvalidInput, NotFound
from processes.operations.selection import select_instances

TaskState = spiff.TaskState
ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
UNSURE = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE  # not reached yet
SUFFIXES = (".BoundaryEventSplit", ".BoundaryEventJoin")
MAX_INSTANCES = 10000


class CannotMigrate(Conflict):
    """One order cannot move to the target version (an element it is at does not exist there)."""


def _mapped(name: str, mapping: dict[str, str]) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            return mapping.get(base, base) + suffix
    return mapping.get(name, name)


def _drop(tasks: dict, task_id: str) -> None:
    task = tasks.pop(task_id, None)
    if task is None:
        return
    parent = tasks.get(task["parent"]) if task["parent"] else None
    if parent is not None and task_id in parent["children"]:
        parent["children"].remove(task_id)
    for child in list(task["children"]):
        _drop(tasks, child)


def _splice(tasks: dict, task_id: str) -> None:
    task = tasks.pop(task_id)
    parent = tasks.get(task["parent"]) if task["parent"] else None
    for child in task["children"]:
        if child in tasks:
            tasks[child]["parent"] = task["parent"]
    if parent is not None:
        at = parent["children"].index(task_id)
        parent["children"][at : at + 1] = task["children"]


def _move_tree(dct: dict, spec, mapping: dict[str, str], where: str, version: int) -> list[str]:
    """Rename the tree's task specs for `spec` in place; the reasons it cannot move (nothing changed then)."""
    tasks = dct["tasks"]
    problems = []
    for task in tasks.values():
        name = _mapped(task["task_spec"], mapping)
        if name not in spec.task_specs and task["state"] & ACTIVE:
            shown = task["task_spec"].split(".")[0]
            problems.append(
                f"it is at {shown}{where}, which version {version} does not have (map it to an element of version "
                f"{version})"
            )
    if problems:
        return problems
    # From the root down: what is not definite yet below an active task is predicted again on the target's
    # flows once the tree is rebuilt, so it goes; so does anything predicted for an element the target lacks.
    stack = [(dct["root"], False)]
    while stack:
        task_id, parent_active = stack.pop()
        task = tasks.get(task_id)
        if task is None:
            continue
        name = _mapped(task["task_spec"], mapping)
        if task["state"] & UNSURE and (parent_active or name not in spec.task_specs):
            _drop(tasks, task_id)
            continue
        children = list(task["children"])
        if name in spec.task_specs:
            task["task_spec"] = name
        elif task_id != dct["root"]:
            _splice(tasks, task_id)
        stack.extend((child, bool(task["state"] & ACTIVE)) for child in reversed(children))
    if dct.get("last_task") not in tasks:
        dct["last_task"] = None
    return []


def rebuild_state(
    dct: dict, source_spec, source_subs: dict, target_spec, target_subs: dict, mapping: dict, version: int
) -> list[str]:
    """Move a serialized instance state (orderflow's format, without the spec) to the target spec, in place."""
    problems = _move_tree(dct, target_spec, mapping, "", version)
    # Subprocess states belong to the task that runs them; the spec comes from that task's (mapped) element.
    owners = {}
    for tree in (dct, *dct["subprocesses"].values()):
        for task_id, task in tree["tasks"].items():
            owners[task_id] = task["task_spec"]
    for task_id, sub in list(dct["subprocesses"].items()):
        owner = owners.get(task_id)
        sub_name = _subprocess_spec_name(owner, target_spec, target_subs)
        if sub_name is None or sub_name not in target_subs:
            active = [
                t["task_spec"] for t in sub["tasks"].values() if t["state"] & ACTIVE and "." not in t["task_spec"]
            ]
            if active:
                problems.append(f"it is at {', '.join(active)} inside {owner}, a scope version {version} does not have")
            else:
                del dct["subprocesses"][task_id]
            continue
        problems.extend(_move_tree(sub, target_subs[sub_name], mapping, f" inside {owner}", version))
    return problems


def _subprocess_spec_name(owner: str | None, target_spec, target_subs: dict) -> str | None:
    if owner is None:
        return None
    for spec in (target_spec, *target_subs.values()):
        task_spec = spec.task_specs.get(owner)
        if task_spec is not None:
            return getattr(task_spec, "spec", None)
    return None


def _definition(session, key: str, version: int):
    row = session.execute(
        select(ProcessDefinition.id, ProcessDefinition.version).where(
            ProcessDefinition.key == key, ProcessDefinition.version == version
        )
    ).first()
    if row is None:
        raise NotFound(f"no process definition with key '{key}' version {version} is deployed")
    return row


def check_request(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """The request with its definitions found: 404 for an unknown version, 422 for a mapping to nowhere."""
    key = request.get("processKey")
    source, target = request.get("sourceVersion"), request.get("targetVersion")
    if not isinstance(key, str) or not key or not isinstance(source, int) or not isinstance(target, int):
        raise InvalidInput("give processKey, sourceVersion and targetVersion")
    if source == target:
        raise InvalidInput("sourceVersion and targetVersion are the same")
    mapping = request.get("mapping") or {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise InvalidInput("mapping must be an object of old element id -> new element id")
    with engine.read_session() as session:
        source_row, target_row = _definition(session, key, source), _definition(session, key, target)
        source_spec, source_subs = engine.spec_for(session, source_row.id)
        target_spec, target_subs = engine.spec_for(session, target_row.id)
    unknown_old = [k for k in mapping if not any(k in s.task_specs for s in (source_spec, *source_subs.values()))]
    unknown_new = [
        v for v in mapping.values() if not any(v in s.task_specs for s in (target_spec, *target_subs.values()))
    ]
    problems = [f"{k} is not an element of version {source}" for k in unknown_old]
    problems += [f"{v} is not an element of version {target}" for v in unknown_new]
    if problems:
        raise InvalidInput("mapping: " + "; ".join(problems))
    return {
        "processKey": key, "sourceVersion": source, "targetVersion": target, "mapping": mapping,
        "sourceId": source_row.id, "targetId": target_row.id, "filter": request.get("filter") or {},
    }  # fmt: skip


def matching_instances(engine: Engine, checked: dict[str, Any]) -> list[str]:
    """Ids of the source version's open orders that the filter selects, oldest first."""
    return select_instances(engine, checked["filter"], definition_id=checked["sourceId"])


def dry_run(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    checked = check_request(engine, request)
    ids = matching_instances(engine, checked)
    results = []
    with engine.read_session() as session:
        source = engine.spec_for(session, checked["sourceId"])
        target = engine.spec_for(session, checked["targetId"])
        for instance_id in ids:
            state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
            problems = rebuild_state(json.loads(state), *source, *target, checked["mapping"], checked["targetVersion"])
            results.append({"id": instance_id, "migratable": not problems, "reason": "; ".join(problems) or None})
    return {
        "processKey": checked["processKey"],
        "sourceVersion": checked["sourceVersion"],
        "targetVersion": checked["targetVersion"],
        "mapping": checked["mapping"],
        "instances": results,
    }


def migrate_instance(
    engine: Engine, instance_id: str, checked: dict[str, Any], *, comment: str | None = None, actor: str | None = None
) -> str:
    """Move one order in one engine step; CannotMigrate (nothing changed) when it cannot. Returns a detail."""
    mapping, version = checked["mapping"], checked["targetVersion"]

    def apply(step: Step) -> None:
        instance = step.instance
        if instance.ended_at is not None:
            raise CannotMigrate(f"process instance {instance_id} is {instance.status}")
        if instance.definition_id != checked["sourceId"]:
            raise CannotMigrate(
                f"process instance {instance_id} runs on version {instance.definition_version}, not "
                f"{checked['sourceVersion']}"
            )
        source = engine.spec_for(step.connection, checked["sourceId"])
        target_spec, target_subs = engine.spec_for(step.connection, checked["targetId"])
        dct = json.loads(engine.serializer.dump_state(step.workflow))
        problems = rebuild_state(dct, *source, target_spec, target_subs, mapping, version)
        if problems:
            raise CannotMigrate("; ".join(problems))
        workflow = engine.serializer.load_state(json.dumps(dct), target_spec, target_subs)
        workflow.script_engine = engine.script_engine
        spiff.set_step_facts(workflow, {"processInstanceId": instance.id, "businessKey": instance.business_key})
        for task in spiff.tasks_in(workflow, ACTIVE):
            spiff.predict(task, task.state | UNSURE)
        step.workflow = workflow
        before = {"definitionId": instance.definition_id, "version": instance.definition_version}
        instance.definition_id, instance.definition_version = checked["targetId"], version
        renamed = {old: new for old, new in mapping.items() if old != new}
        for old, new in renamed.items():
            spec = target_spec.task_specs.get(new) or next(
                (s.task_specs[new] for s in target_subs.values() if new in s.task_specs), None
            )
            name = getattr(spec, "bpmn_name", None)
            for table in (Job, Incident):
                step.connection.execute(
                    update(table)
                    .where(table.instance_id == instance.id, table.element_id == old)
                    .values(element_id=new)
                )
            step.connection.execute(
                update(HumanTask)
                .where(HumanTask.instance_id == instance.id, HumanTask.element_id == old)
                .values(element_id=new, name=name)
            )
        for job in step.active_jobs():  # the step writes these back: keep them in line with the update above
            if job.element_id in renamed:
                job.element_id = renamed[job.element_id]
        step.record(
            "instance_migrated",
            data={
                "comment": comment,
                "mapping": mapping,
                "before": before,
                "after": {"definitionId": checked["targetId"], "version": version},
            },
        )

    engine.step(instance_id, apply, actor=actor, kind="migrate")
    return f"moved to version {version}"
