"""Alembic migrations, applied programmatically at start-up (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(sql_engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if sql_engine is not None:
        config.set_main_option("sqlalchemy.url", sql_engine.url.render_as_string(hide_password=False))
    return config


def upgrade(sql_engine: Engine, revision: str = "head") -> None:
    config = alembic_config(sql_engine)
    with sql_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()
