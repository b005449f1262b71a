"""The app in this process, for API contract tests: no server, no embedded workers, a migrated SQLite database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from processes.core.db import make_engine
from tests.support.paths import SHIPPED
from tests.support.server import TOKEN


def in_process_app(data_dir: Path, *, deploy_shipped: bool = True, **config: Any) -> Flask:
    """`create_app` on a fresh SQLite database in `data_dir`, migrated here (as `orderflow migrate` would).

    The shipped order workflow is deployed by the test itself (`deploy_shipped`), so what `create_app` does at start-up
    never matters; `config` overrides or adds settings (the connectors' sandbox URL, SLA targets, ...)."""
    from app import create_app
    from app.migrations import upgrade
    from processes.deployment.deployments import deploy

    db_url = f"sqlite:///{data_dir / 'orderflow.db'}"
    sql_engine = make_engine(db_url)
    upgrade(sql_engine)
    sql_engine.dispose()
    app = create_app(
        {
            "ORDERFLOW_DATA_DIR": str(data_dir),
            "SQLALCHEMY_DATABASE_URI": db_url,
            "ORDERFLOW_API_TOKEN": TOKEN,
            "ORDERFLOW_DEPLOY_SHIPPED": False,
            "ORDERFLOW_EMBEDDED_WORKERS": False,
            "ORDERFLOW_SANDBOX": False,
            **config,
        }
    )
    if deploy_shipped:
        deploy(app.extensions["orderflow"].engine, [(SHIPPED.name, SHIPPED.read_bytes())], actor="tests")
    return app


def token_client(app: Flask) -> FlaskClient:
    """A test client that sends the API token as a bearer, as an integrator's client does."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client
