"""Messages: routing a message by name and business key or correlation key to the one instance waiting for it,
or starting an instance at a message start event.

SpiffWorkflow accepts the first message of a name whatever its key, so orderflow routes messages itself: every step
records which message each waiting element expects (with its correlation key evaluated), and a message is delivered
straight to that element in an engine step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.serializer.event_definition import (
    MessageEventDefinitionConverter as CamundaMessageEventDefinitionConverter,
)
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, delete, insert, select

from processes import expressions
from processes.core import spiff
from processes.core.feature import Feature
from processes.core.models import MessageSubscription, ProcessDefinition, ProcessInstance, utcnow
from processes.core.spiff import find_task
from processes.errors import Conflict, InternalError, NotFound
from processes.features import event_gateways, event_subprocesses, signals

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step

ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class MergingMessageEventDefinition(CamundaMessageEventDefinition):
    """A message catch whose variables are merged into the process, as Camunda does (SpiffWorkflow's Camunda
    flavour nests them under `<task>_Response`)."""

    def update_internal_data(self, my_task, event):
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task):
        payload = my_task.internal_data.get(self.name)
        if isinstance(payload, Mapping):
            my_task.data.update(payload.get("payload") if "result_var" in payload else payload)

    def __eq__(self, other):
        return isinstance(other, CamundaMessageEventDefinition) and self.name == other.name

    def __hash__(self):
        return hash(("message", self.name))


def correlation_keys(root: etree._Element) -> dict[str, str]:
    """Message name -> its correlation key expression (Camunda 8 `zeebe:subscription correlationKey`)."""
    keys = {}
    for message in root.iter(f"{{{BPMN_NS}}}message"):
        subscription = message.find(f".//{{{ZEEBE_NS}}}subscription")
        if subscription is not None and subscription.get("correlationKey") and message.get("name"):
            keys[message.get("name")] = subscription.get("correlationKey")
    return keys


def prepare_message_events(specs: list, keys: Mapping[str, str]) -> list[str]:
    """Make message catch events merge their variables and know their correlation key; return the names of
    message start events (which start instances)."""
    starts = []
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if event_gateways.is_event_gateway(task_spec):  # its messages are on the gateway
                event_gateways.prepare(task_spec, keys, _merging)
                continue
            definition = getattr(task_spec, "event_definition", None)
            merging = _merging(definition) if isinstance(task_spec, CatchingEvent) else None
            if merging is None:
                continue
            task_spec.event_definition = merging
            if definition.name in keys:
                task_spec.extensions = {**(task_spec.extensions or {}), "correlationKey": keys[definition.name]}
            if spec is specs[0] and task_spec.__class__.__name__ == "StartEvent":
                starts.append(definition.name)
    return starts


def _merging(definition) -> MergingMessageEventDefinition | None:
    # Receive tasks get SpiffWorkflow's plain message definition, catch events the Camunda one.
    if type(definition) not in (CamundaMessageEventDefinition, MessageEventDefinition):
        return None
    return MergingMessageEventDefinition(
        definition.name,
        definition.correlation_properties,
        expression=getattr(definition, "expression", None),
        result_var=getattr(definition, "result_var", None),
        description=definition.description,
    )


def _key(key_expression: str | None, data: dict[str, Any]) -> str | None:
    if not key_expression:
        return None
    try:
        key = expressions.evaluate(key_expression, data)
    except expressions.ExpressionError:
        return None  # a key that cannot be computed yet: only the business key can reach it
    return None if key is None else str(key)


def waiting_messages(step: Step, tasks: list) -> list[dict[str, Any]]:
    """What each waiting element expects: message name, correlation key value, task."""
    waits = []
    for task in tasks:
        if task.state != TaskState.WAITING:
            continue
        definition = getattr(task.task_spec, "event_definition", None)
        if event_gateways.is_event_gateway(task.task_spec):
            expected = list(event_gateways.messages_of(task))
        elif isinstance(definition, CamundaMessageEventDefinition):
            expected = [(definition.name, (task.task_spec.extensions or {}).get("correlationKey"))]
        else:
            continue
        for name, key_expression in expected:
            waits.append(
                {
                    "message_name": name,
                    "correlation_key": _key(key_expression, task.data),
                    "task_id": str(task.id),
                    "element_id": task.task_spec.bpmn_id,
                }
            )
    waits.extend(event_subprocesses.subscriptions(step.workflow))  # message event subprocesses of active scopes
    waits.extend(signals.waits(step, tasks))  # signals, in the same table (never routed as messages: `_waiting`)
    return waits


_subscriptions = MessageSubscription.__table__
DELETE_SUBSCRIPTIONS = delete(_subscriptions).where(_subscriptions.c.instance_id == bindparam("instance_id"))
INSERT_SUBSCRIPTIONS = insert(_subscriptions)


def save_subscriptions(step: Step, waits: list[dict[str, Any]], before: list[dict[str, Any]]) -> None:
    """Rewrite the instance's subscriptions when what it waits for changed (most steps change nothing here)."""
    if waits == before:
        return
    connection = step.connection
    if not step.instance.is_new:
        connection.execute(DELETE_SUBSCRIPTIONS, {"instance_id": step.instance.id})
    if waits:
        now = utcnow()
        connection.execute(
            INSERT_SUBSCRIPTIONS, [{**w, "instance_id": step.instance.id, "created_at": now} for w in waits]
        )


def correlate(
    engine: Engine,
    name: str,
    *,
    business_key: str | None = None,
    correlation_key: str | None = None,
    variables: dict[str, Any] | None = None,
    actor: str | None = None,
    instance_id: str | None = None,
    matching: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Deliver a message to the one instance waiting for it, or start an instance at a message start event.
    `instance_id` names the instance; `matching` (Camunda 7's correlationKeys) keeps only instances whose
    variables have these values."""
    from processes.instances import check_variables, start_instance

    variables = check_variables(variables)
    for _ in range(3):  # the instance may move on between lookup and delivery: look again
        waiting = _waiting(engine, name, business_key, correlation_key, instance_id, matching)
        instances = {instance_id for instance_id, _task in waiting}
        if len(instances) > 1:
            raise Conflict(
                f"{len(instances)} process instances wait for message '{name}'; "
                "send a businessKey or correlationKey that identifies one"
            )
        if not waiting:
            break
        instance_id, task_id = waiting[0]
        try:
            engine.step(instance_id, _deliver(name, task_id, variables), actor=actor, kind="message")
        except _NotWaiting:
            continue
        return {"result": "correlated", "instanceId": instance_id}

    keys = _message_starts(engine, name) if instance_id is None and not matching else []
    if len(keys) > 1:
        raise Conflict(f"message '{name}' starts several processes ({', '.join(sorted(keys))}); it must start one")
    if keys:
        started = start_instance(engine, keys[0], variables=variables, business_key=business_key, actor=actor)
        instance_id = started.instance["id"]
        if started.created:  # the instance now waits at its message start event: hand it the message
            with engine.read_session() as session:
                task_id = session.scalar(
                    select(MessageSubscription.task_id).where(
                        MessageSubscription.instance_id == instance_id,
                        MessageSubscription.message_name == name,
                        MessageSubscription.task_id.not_like(signals.PREFIX + "%"),
                    )
                )
            if task_id is not None:
                engine.step(instance_id, _deliver(name, task_id, variables), actor=actor, kind="message")
        return {"result": "started", "instanceId": instance_id}
    which = f" with businessKey '{business_key}'" if business_key else ""
    which += f" with correlationKey '{correlation_key}'" if correlation_key else ""
    which += f" with id {instance_id}" if instance_id else ""
    which += f" with variables {dict(matching)}" if matching else ""
    raise NotFound(f"no process instance is waiting for message '{name}'{which}, and no process starts with it")


def waiting_instances(
    engine: Engine,
    name: str,
    business_key: str | None = None,
    instance_id: str | None = None,
    matching: Mapping[str, Any] | None = None,
) -> list[str]:
    """Ids of the instances waiting for this message, oldest subscription first (to correlate to all of them)."""
    found = _waiting(engine, name, business_key, None, instance_id, matching)
    return list(dict.fromkeys(found_id for found_id, _task in found))


class _NotWaiting(InternalError):
    pass


def _waiting(
    engine: Engine,
    name: str,
    business_key: str | None,
    correlation_key: str | None,
    instance_id: str | None = None,
    matching: Mapping[str, Any] | None = None,
):
    query = (
        select(MessageSubscription.instance_id, MessageSubscription.task_id)
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(
            MessageSubscription.message_name == name,
            ProcessInstance.ended_at.is_(None),
            MessageSubscription.task_id.not_like(signals.PREFIX + "%"),
        )
        .order_by(MessageSubscription.created_at)
    )
    if business_key is not None:
        query = query.where(ProcessInstance.business_key == business_key)
    if correlation_key is not None:
        query = query.where(MessageSubscription.correlation_key == correlation_key)
    if instance_id is not None:
        query = query.where(MessageSubscription.instance_id == instance_id)
    if matching:
        query = query.add_columns(ProcessInstance.variables)
    with engine.read_session() as session:
        rows = session.execute(query).all()
    if matching:  # compared here: JSON equality in SQL differs between SQLite and PostgreSQL
        return [
            (row[0], row[1])
            for row in rows
            if all(var in (row[2] or {}) and row[2][var] == value for var, value in matching.items())
        ]
    return [tuple(row) for row in rows]


def _deliver(name: str, task_id: str, variables: dict[str, Any]):
    def apply(step: Step) -> None:
        if task_id.startswith(event_subprocesses.PREFIX):
            if not event_subprocesses.deliver(step, task_id, name, variables):
                raise _NotWaiting()
            return
        task = find_task(step.workflow, task_id)
        definition = getattr(task.task_spec, "event_definition", None) if task is not None else None
        if task is None or task.state != TaskState.WAITING:
            raise _NotWaiting()
        if event_gateways.is_event_gateway(task.task_spec):
            if not event_gateways.catch_message(task, name, variables):
                raise _NotWaiting()
        elif getattr(definition, "name", None) != name:
            raise _NotWaiting()
        else:
            definition.catch(task, BpmnEvent(definition, payload=dict(variables)))
            spiff.update(task)
        step.record("message_received", task, {"message": name, "variables": variables})

    return apply


def _message_starts(engine: Engine, name: str) -> list[str]:
    """Keys of the processes whose latest version starts with this message."""
    with engine.read_session() as session:
        rows = session.execute(
            select(ProcessDefinition.key, ProcessDefinition.message_starts).order_by(ProcessDefinition.version.desc())
        ).all()
    latest: dict[str, list[str]] = {}
    for key, starts in rows:
        latest.setdefault(key, starts or [])
    return [key for key, starts in latest.items() if name in starts]


class Messages(Feature):
    """Message catch events, event-based gateways' messages and message event subprocesses: each step records what
    the instance waits for, so `correlate` can route a message straight to it."""

    def converters(self) -> dict:
        return {MergingMessageEventDefinition: CamundaMessageEventDefinitionConverter}

    def derive(self, step: Step, active_tasks: list) -> None:
        waits = waiting_messages(step, active_tasks)
        before = [
            {"message_name": m["message"], "correlation_key": m.get("correlationKey"), "task_id": e["taskId"],
             "element_id": e["elementId"]}
            for e in (step.instance.active_elements or [])
            for m in (e.get("messages") or ([e] if e.get("message") else []))
        ]  # fmt: skip
        by_task: dict[str, list[dict[str, Any]]] = {}
        for wait in waits:
            by_task.setdefault(wait["task_id"], []).append(wait)
        step.scratch["messages"] = (waits, before, by_task)

    def describe(self, step: Step, task, element: dict[str, Any]) -> None:
        expected = step.scratch["messages"][2].get(str(task.id))
        if not expected:
            return
        if len(expected) == 1:
            element["message"] = expected[0]["message_name"]
            element["correlationKey"] = expected[0]["correlation_key"]
        else:  # an event-based gateway: whichever of these messages comes first
            element["messages"] = [{"message": w["message_name"], "correlationKey": w["correlation_key"]}
                                   for w in expected]  # fmt: skip

    def saved(self, step: Step) -> None:
        waits, before, _ = step.scratch["messages"]
        save_subscriptions(step, waits, before)  # after the instance row exists
