"""Alembic migrations, applied programmatically at start-up (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(sql_engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if sql_engine is not None:
        # Alembic reads options through configparser, where % starts an interpolation: escape it (URLs carry
        # %-encoded passwords and options such as ?options=-csearch_path%3Dschema).
        url = sql_engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(sql_engine: Engine, revision: str = "head") -> None:
    config = alembic_config(sql_engine)
    with sql_engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several web processes start at once (gunicorn -w 4): one migrates, the others wait, then find it done.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('orderflow.migrate'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()
