"""orderflow's Flask application: create_app() wires config, database, engine, jobs and the REST API.

It only wires: it migrates nothing, deploys nothing and adds nobody, so several processes may call it at once
(`gunicorn -w 4 'app:create_app()'`). The set-up that changes the database is app.setup.prepare(), which
`orderflow serve` runs once before serving; `orderflow migrate` applies the migrations alone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apiflask import APIFlask

__version__ = "0.1.0"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "bpmn"

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> APIFlask:
    from . import auth, problems  # noqa: F401 - auth registers the token check
    from .api import register_blueprints
    from .config import from_environment
    from .extensions import db
    from .services import build_services
    from .web import register_pages

    app = APIFlask(
        "orderflow",
        root_path=str(Path(__file__).resolve().parent),  # templates/ and static/ live beside this file
        title="orderflow API",
        version=__version__,
        spec_path="/api/v1/openapi.json",
        docs_path="/api/v1/docs",
    )
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    app.config["SECURITY_SCHEMES"] = {
        "BearerAuth": {"type": "http", "scheme": "bearer"},
        # Camunda clients (/engine-rest, /v2) may send the API token as the Basic password instead.
        "BasicAuth": {"type": "http", "scheme": "basic"},
    }
    Path(app.config["ORDERFLOW_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    app.secret_key = app.config["SECRET_KEY"] or _data_dir_secret(Path(app.config["ORDERFLOW_DATA_DIR"]))
    from processes.core import json_columns

    # JSON columns (variables, audit data, job variables) as every other process writes them (make_engine): orjson
    # where it can, the standard library where it cannot (json_columns). The server had written them with the
    # standard library alone, 2-4% of its CPU per order.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_serializer": json_columns.dumps,
        "json_deserializer": json_columns.loads,
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from processes.core.db import postgres_options

        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**postgres_options(), **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"check_same_thread": False, "timeout": 30},
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        }
    _observe(app)
    db.init_app(app)
    with app.app_context():
        from processes.core.db import configure

        sql_engine = configure(db.engine, app.config["ORDERFLOW_SQLITE_SYNCHRONOUS"])
    services = build_services(sql_engine, app.config)
    app.extensions["orderflow"] = services
    problems.register(app)
    register_blueprints(app)
    register_pages(app)
    return app


def _observe(app: APIFlask) -> None:
    """Tracing and JSON log lines when the configuration asks for them (before the engine is built: its list of
    features depends on them). With both off this installs nothing."""
    from observability import logs, tracing

    if app.config.get("ORDERFLOW_LOG_FORMAT") == "json" and not logs.ON:
        logs.configure({"ORDERFLOW_LOG_FORMAT": "json"})  # gunicorn: `orderflow serve` has done it already
    if app.config.get("ORDERFLOW_TRACING", "off") != "off":
        tracing.start(app.config["ORDERFLOW_TRACING"])
    if tracing.ON:
        from .request_spans import trace_requests

        trace_requests(app)


def _data_dir_secret(data_dir: Path) -> str:
    """The key that signs login sessions when ORDERFLOW_SECRET_KEY is not set: made once and kept in the data
    directory, so restarts and several processes on one machine agree on it."""
    import os
    import secrets
    import tempfile

    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    # Written whole to a file of its own, then linked into place: processes starting together (gunicorn -w 4) on a
    # new data directory never read a half-written key, and the first link wins for all of them.
    descriptor, written = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(written, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(written)
    return path.read_text().strip()


def deploy_shipped(services) -> None:
    """Deploy the shipped workflows; unchanged files keep their version (app.setup.prepare calls this)."""
    from processes.deployment.deployments import deploy

    files = [(p.name, p.read_bytes()) for p in sorted(SHIPPED_DIR.glob("*.bpmn")) + sorted(SHIPPED_DIR.glob("*.dmn"))]
    if files:
        result = deploy(services.engine, files, actor="orderflow")
        for definition in result.definitions:
            log.info("deployed %s version %s", definition["key"], definition["version"])
