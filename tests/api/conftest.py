"""API contract tests run the Flask app in this process: no server, no workers, a fresh SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.apps import in_process_app, token_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    """A Flask test client of `create_app` on a migrated, empty SQLite database in tmp, sending the bearer token.

    The fixture migrates the database itself (as tests/conftest.py's `engine` fixture does) and deploys the shipped
    workflow itself, so it does not depend on what `create_app` does at start-up. Jobs are not run (no embedded
    workers): these tests are about what the API answers, not about what runs afterwards."""
    yield token_client(in_process_app(tmp_path))
