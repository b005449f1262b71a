"""API contract tests run the Flask app in this process: no server, no workers, a fresh SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from processes.core.db import make_engine
from tests.support.paths import SHIPPED
from tests.support.server import TOKEN


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    """A Flask test client of `create_app` on a migrated, empty SQLite database in tmp, sending the bearer token.

    The fixture migrates the database itself (as tests/conftest.py's `engine` fixture does) and deploys the shipped
    workflow itself, so it does not depend on what `create_app` does at start-up. Jobs are not run (no embedded
    workers): these tests are about what the API answers, not about what runs afterwards."""
    from app import create_app
    from app.migrations import upgrade
    from processes.deployment.deployments import deploy

    db_url = f"sqlite:///{tmp_path / 'orderflow.db'}"
    sql_engine = make_engine(db_url)
    upgrade(sql_engine)
    sql_engine.dispose()
    app = create_app(
        {
            "ORDERFLOW_DATA_DIR": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": db_url,
            "ORDERFLOW_API_TOKEN": TOKEN,
            "ORDERFLOW_DEPLOY_SHIPPED": False,
            "ORDERFLOW_EMBEDDED_WORKERS": False,
            "ORDERFLOW_SANDBOX": False,
        }
    )
    deploy(app.extensions["orderflow"].engine, [(SHIPPED.name, SHIPPED.read_bytes())], actor="tests")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    yield client
