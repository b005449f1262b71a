"""Helpers on a domain Engine, called directly (no server)."""

from __future__ import annotations

from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import Job
from processes.deployment.deployments import deploy


def deployed(engine: Engine, *files: tuple[str, bytes]) -> None:
    deploy(engine, list(files))


def job_rows(engine: Engine, instance_id: str) -> list[Job]:
    with engine.read_session() as session:
        return list(session.scalars(select(Job).where(Job.instance_id == instance_id).order_by(Job.created_at)))
