"""Which open orders an operator's filter selects (for batches and migrations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import ProcessInstance
from processes.errors import InvalidInput

FILTERS = ("instanceIds", "businessKeys", "activeElement", "processKey", "version", "status")
MAX_TARGETS = 10000


def select_instances(engine: Engine, filter_: Any, *, definition_id: str | None = None) -> list[str]:
    """Ids of the open orders a filter selects, oldest first."""
    if filter_ is None:
        filter_ = {}
    if not isinstance(filter_, dict):
        raise InvalidInput("filter must be an object")
    unknown = sorted(set(filter_) - set(FILTERS))
    if unknown:
        raise InvalidInput(f"unknown filter {', '.join(unknown)}: use {', '.join(FILTERS)}")
    query = select(ProcessInstance.id, ProcessInstance.active_elements).where(ProcessInstance.ended_at.is_(None))
    if definition_id is not None:
        query = query.where(ProcessInstance.definition_id == definition_id)
    for name in ("instanceIds", "businessKeys"):
        value = filter_.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise InvalidInput(f"filter {name} must be a list of strings")
    if filter_.get("instanceIds") is not None:
        query = query.where(ProcessInstance.id.in_(filter_["instanceIds"]))
    if filter_.get("businessKeys") is not None:
        query = query.where(ProcessInstance.business_key.in_(filter_["businessKeys"]))
    if filter_.get("processKey"):
        query = query.where(ProcessInstance.process_key == str(filter_["processKey"]))
    if filter_.get("version") is not None:
        if not isinstance(filter_["version"], int):
            raise InvalidInput("filter version must be a number")
        query = query.where(ProcessInstance.definition_version == filter_["version"])
    if filter_.get("status"):
        query = query.where(ProcessInstance.status == str(filter_["status"]))
    element = filter_.get("activeElement")
    with engine.read_session() as session:
        rows = session.execute(query.order_by(ProcessInstance.created_at, ProcessInstance.id)).all()
    ids = [
        row.id for row in rows if not element or any(e.get("elementId") == element for e in row.active_elements or [])
    ]
    if len(ids) > MAX_TARGETS:
        raise InvalidInput(f"the filter selects {len(ids)} orders; at most {MAX_TARGETS} per batch")
    return ids
