"""Names of steps as people read them. Diagrams may name a task with an expression (`Approve order: ${level.name}`,
one name per pass of a multi-instance task); the inbox keeps each task's evaluated name, so pages show that one,
and where no evaluated name exists the name without its raw `${…}`. Ids are the last resort."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from processes.core.models import TASK_OPEN, HumanTask, ProcessDefinition

from ..services import services

EXPRESSION = re.compile(r"[$#]\{[^}]*\}")
NAME_ATTRIBUTE = re.compile(r'(\sname=")([^"]*[$#]\{[^"]*)(")')


def plain_name(text: str | None) -> str | None:
    """A label without its unevaluated expressions: "Approve order: ${level.name}" reads "Approve order"."""
    if not text or not EXPRESSION.search(text):
        return text
    return re.sub(r"\s{2,}", " ", EXPRESSION.sub("", text)).strip().rstrip(":,;-–—").strip() or None


def without_expressions(xml: str) -> str:
    """A diagram for viewing: element names drawn without raw `${…}` (one drawn task stands for every pass)."""
    return NAME_ATTRIBUTE.sub(lambda m: m.group(1) + (plain_name(m.group(2)) or "") + m.group(3), xml)


# Active elements that only hold others (an embedded subprocess, a multi-instance task's loop): an order waits in
# what they hold.
CONTAINER_TYPES = ("SubWorkflowTask", "CallActivity", "SubProcess", "TransactionSubprocess")


def _task_names(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    with services().engine.read_session() as session:
        rows = session.execute(select(HumanTask.id, HumanTask.name).where(HumanTask.id.in_(ids))).all()
    return {row.id: row.name for row in rows if row.name}


def name_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each audit event with `stepName`: the evaluated task name for task events, else the element's name without
    raw expressions, else its id."""
    task_ids = {str((e.get("data") or {}).get("taskId")) for e in events if isinstance(e.get("data"), dict)}
    names = _task_names({i for i in task_ids if i and i != "None"})
    for event in events:
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        event["stepName"] = names.get(str(data.get("taskId"))) or plain_name(event.get("elementName"))
        event["stepName"] = event["stepName"] or event.get("elementId") or ""
    return events


def waiting_at(instance: dict[str, Any]) -> list[str]:
    """Where an order waits, by name: the open inbox tasks' own names, other steps' names, ids only when unnamed.
    Boundary events (a timer waiting beside a task) and containers with something active inside are left out."""
    active = [e for e in instance.get("activeElements") or [] if e.get("elementId")]
    with services().engine.read_session() as session:
        rows = session.execute(
            select(HumanTask.element_id, HumanTask.name).where(
                HumanTask.instance_id == instance["id"], HumanTask.status == TASK_OPEN
            )
        ).all()
    task_names: dict[str, list[str]] = {}
    for row in rows:
        task_names.setdefault(row.element_id, []).append(row.name)
    inner = [e for e in active if not str(e.get("type") or "").endswith(CONTAINER_TYPES)]
    names: list[str] = []
    for element in inner or active:
        if element.get("type") == "BoundaryEvent" and len(inner) > 1:
            continue
        shown = task_names.get(element["elementId"]) or [plain_name(element.get("name")) or element["elementId"]]
        names += [name for name in shown if name and name not in names]
    return names


NAMED_ELEMENT = re.compile(r'<[\w:]+\s[^>]*?\bid="([^"]+)"[^>]*?\bname="([^"]*)"')


@lru_cache(maxsize=64)
def names_in(xml: str) -> dict[str, str]:
    """Element id to the name drawn in the diagram `xml` (without raw expressions; the id when it has none)."""
    found = NAMED_ELEMENT.findall(xml)
    return {element_id: plain_name(html.unescape(name)) or element_id for element_id, name in found}


def element_names(definition_id: str) -> dict[str, str]:
    """Element id to the name drawn in the diagram (without raw expressions), for steps pages only know by id."""
    with services().engine.read_session() as session:
        xml = session.scalar(select(ProcessDefinition.xml).where(ProcessDefinition.id == definition_id))
    return names_in(xml) if xml else {}
