"""PostgreSQL for the tests that need it: where it is, and a fresh database of one test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support.services import missing

POSTGRES_URL = os.environ.get("ORDERFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CONNECT_TIMEOUT = 3  # seconds, for probing the server


def postgres_url(database: str | None = None) -> str:
    """The test server's URL (for another database on it, when given), with the driver the project installs."""
    url = make_url(POSTGRES_URL)
    if url.drivername == "postgresql":  # a plain libpq-style URL
        url = url.set(drivername="postgresql+psycopg")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def shown_url() -> str:
    return make_url(postgres_url()).render_as_string(hide_password=True)


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new database for one test, dropped at the end; skipped (failed in CI) when PostgreSQL is unreachable."""
    admin = create_engine(
        postgres_url(),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # whatever the driver raises, the reason is reported
        admin.dispose()
        first_line = (str(exc).strip().splitlines() or [""])[0]
        missing(f"PostgreSQL not reachable at {shown_url()} ({exc.__class__.__name__}: {first_line}; "
                "set ORDERFLOW_TEST_POSTGRES_URL)")  # fmt: skip
    try:
        yield postgres_url(name)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
