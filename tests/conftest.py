"""Shared fixtures: real sandbox systems, a fresh database per test, a running server for end-to-end tests."""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import requests

from app.features import build_engine
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "bpmn" / "order_fulfillment.bpmn"
CONFORMANCE = Path(os.environ.get("ORDERFLOW_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
TOKEN = "test-token"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium: browser tests never run `playwright install`

logging.getLogger("spiff").setLevel(logging.WARNING)


def _read_line(stream, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The sandbox payment and warehouse systems, as a real HTTP service on loopback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = _read_line(proc.stdout, 30)
    try:
        if not line.startswith("sandbox listening on http://127.0.0.1:"):
            pytest.fail(f"sandbox did not start, first stdout line: {line!r}")
        yield line.split()[-1]
    finally:
        _stop(proc)


def missing(reason: str) -> NoReturn:
    """Something a test needs is not on this machine: skip with the reason; in CI (CI=true) fail: it must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
    pytest.skip(reason)


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


class Server:
    def __init__(self, url: str, data_dir: Path, proc: subprocess.Popen):
        self.url = url
        self.api = f"{url}/api/v1"
        self.data_dir = data_dir
        self.proc = proc
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.api + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.api + path, timeout=30, **kwargs)


def start_server(data_dir: Path, sandbox_url: str, **env: str) -> Server:
    environment = {
        **os.environ,
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "ORDERFLOW_PORT": "0",
        "ORDERFLOW_API_TOKEN": TOKEN,
        "ORDERFLOW_SANDBOX": "false",
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = _read_line(proc.stdout, 60)
    if not line.startswith("orderflow listening on "):
        _stop(proc)
        raise RuntimeError(f"server did not start: {line!r}")
    return Server(line.split()[3], data_dir, proc)


@pytest.fixture(scope="module")
def server(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """orderflow serve as a real process: REST API, embedded workers, the shipped workflow deployed."""
    server = start_server(tmp_path_factory.mktemp("server"), sandbox_url)
    try:
        yield server
    finally:
        _stop(server.proc)


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
