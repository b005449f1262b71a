"""Set-up work that changes the database: migrations, the shipped workflows, the demo people.

create_app() does none of it, so any number of web processes (`gunicorn -w 4 'app:create_app()'`) can start at once.
It runs once, from one process: `orderflow migrate` or `orderflow serve` (which calls prepare() before it
serves). Celery workers and schedulers only check that the schema is there (require_schema)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask
    from sqlalchemy.engine import Engine as SqlEngine

log = logging.getLogger(__name__)


class SchemaNotReady(RuntimeError):
    """The database has no orderflow schema, or not the one this code needs: `orderflow migrate` has not run."""


def sql_engine_for(config: Mapping[str, Any], **options) -> SqlEngine:
    """An engine on the configured database for a command (migrate, user, token, worker checks). Creates the data
    directory first, which holds the default SQLite file."""
    from processes.core.db import make_engine

    Path(config["ORDERFLOW_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    return make_engine(config["SQLALCHEMY_DATABASE_URI"], config["ORDERFLOW_SQLITE_SYNCHRONOUS"], **options)


def migrate(sql_engine: SqlEngine) -> None:
    """Apply the migrations up to the newest. On PostgreSQL several callers take turns (an advisory lock)."""
    from .migrations import upgrade

    upgrade(sql_engine)


def prepare(app: Flask) -> None:
    """What `orderflow serve` does once before serving: migrate the database, deploy the shipped workflows
    (ORDERFLOW_DEPLOY_SHIPPED) and add the demo people when nobody exists yet (ORDERFLOW_DEMO_USERS). Running it
    again changes nothing: unchanged files keep their version and the demo people are only added to an empty
    database."""
    from processes.identity import add_demo_users

    from . import deploy_shipped
    from .extensions import db

    with app.app_context():
        migrate(db.engine)
    services = app.extensions["orderflow"]
    if app.config["ORDERFLOW_DEPLOY_SHIPPED"]:
        deploy_shipped(services)
    if app.config["ORDERFLOW_DEMO_USERS"]:
        if created := add_demo_users(services.engine):
            log.info("created demo users %s (README: Demo users)", ", ".join(created))


def schema_problem(sql_engine: SqlEngine) -> str | None:
    """Why this code cannot run on the database's schema, or None when it is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from .migrations import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    needed = set(scripts.get_heads())
    with sql_engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current == needed:
        return None
    where = sql_engine.url.render_as_string(hide_password=True)
    if not current:
        return f"the database {where} has no orderflow schema: run `orderflow migrate` (same environment) first"
    if not all(_known(scripts, revision) for revision in current):
        return (
            f"the database {where} is at migration {', '.join(sorted(current))}, newer than this code knows "
            f"({', '.join(sorted(needed))}): run the orderflow version that migrated it"
        )
    return (
        f"the database {where} is at migration {', '.join(sorted(current))}, this code needs "
        f"{', '.join(sorted(needed))}: run `orderflow migrate` with this version first"
    )


def _known(scripts, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def check_schema(config: Mapping[str, Any]) -> str | None:
    """schema_problem() on the configured database, through a connection that is closed again (no pool is left
    behind for processes that fork afterwards, such as Celery's pool)."""
    from sqlalchemy.pool import NullPool

    sql_engine = sql_engine_for(config, poolclass=NullPool)
    try:
        return schema_problem(sql_engine)
    finally:
        sql_engine.dispose()


def require_schema(sql_engine: SqlEngine) -> None:
    """Raise SchemaNotReady, saying to run `orderflow migrate`, unless the schema is at the newest migration."""
    if problem := schema_problem(sql_engine):
        raise SchemaNotReady(problem)
