"""Shared fixtures: real sandbox systems, a fresh database per test, a running server for end-to-end tests."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.features import build_engine
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from tests.support.paths import CONFORMANCE
from tests.support.server import Server, read_line, start_server, stop
from tests.support.services import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium: browser tests never run `playwright install`

logging.getLogger("spiff").setLevel(logging.WARNING)

# Every `orderflow serve` the tests start runs in one process unless a test asks for more: the suite starts many
# servers, and a second engine process per server would double their start-up on the 2 cores CI has. The default,
# one engine process per core, has tests of its own (tests/e2e/test_engine_processes.py).
os.environ.setdefault("ORDERFLOW_PROCESSES", "1")


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The sandbox payment and warehouse systems, as a real HTTP service on loopback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = read_line(proc.stdout, 30)
    try:
        if not line.startswith("sandbox listening on http://127.0.0.1:"):
            pytest.fail(f"sandbox did not start, first stdout line: {line!r}")
        yield line.split()[-1]
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The public conformance diagrams (../shared/conformance beside the checkout, as in CI)."""
    if not CONFORMANCE.is_dir():
        missing(f"conformance files not found at {CONFORMANCE} (set ORDERFLOW_CONFORMANCE_DIR)")
    return CONFORMANCE


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'orderflow.db'}"


@pytest.fixture
def engine(db_url: str) -> Engine:
    """An engine on a fresh SQLite database, migrated the way the server migrates it."""
    from app.migrations import upgrade

    sql_engine = make_engine(db_url)
    upgrade(sql_engine)
    return build_engine(make_session_factory(sql_engine), settings=EngineSettings(lease_seconds=30))


@pytest.fixture(scope="module")
def server(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """orderflow serve as a real process: REST API, embedded workers, the shipped workflow deployed."""
    server = start_server(tmp_path_factory.mktemp("server"), sandbox_url)
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium driven by Playwright, shared by the whole run (starting it takes about a second)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies or storage from other tests), closed after the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


KINDS = ("unit", "api", "e2e", "browser", "distributed")  # the folders of tests/, one per kind of test
# The order `make test` hands modules to its processes in (`--no-loadscope-reorder`): the kinds whose modules take
# longest first, so that the last modules to start are short ones. pytest-xdist's own order (most tests first) put
# the distributed modules and single long tests (chaos, the demo) last, and one process ran them for the last
# minutes of the suite while the other idled.
LONGEST_FIRST = ("distributed", "e2e", "browser", "api", "unit")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets the marker of its folder (tests/unit/... is marked `unit`): `-m "unit or api"` selects kinds.

    `make test` runs the suite in two processes (pytest-xdist, `--dist loadgroup`); each test gets a group there: its
    module, so a module's servers (and a distributed module's sandbox) start once. Distributed tests of two modules
    may run at the same time: each cluster has a PostgreSQL database, a broker queue and data directory of its own,
    and a test that stops a broker stops a Redis server it started. (They used to run one after the other, which
    made them the last five minutes of the suite, with the other process idle.)"""
    here = Path(__file__).resolve().parent
    for item in items:
        parts = item.path.resolve().relative_to(here).parts
        if parts and parts[0] in KINDS:
            item.add_marker(parts[0])
        item.add_marker(pytest.mark.xdist_group("/".join(parts)))

    def rank(item: pytest.Item) -> int:
        parts = item.path.resolve().relative_to(here).parts
        return LONGEST_FIRST.index(parts[0]) if parts and parts[0] in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a module's tests keep their order
