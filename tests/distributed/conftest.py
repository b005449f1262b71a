"""Fixtures of the distributed tests: the services they need (skipped with the reason when missing, a failure in
CI), a PostgreSQL database per test, a sandbox per module, and clusters of orderflow processes that are stopped and
whose broker queues are forgotten at the end. The helpers are in tests/support/cluster.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.cluster import (
    IN_CI,
    REDIS_SERVER,
    Cluster,
    Proc,
    forget_queue,
    probe_postgres,
    probe_rabbitmq,
    probe_redis,
)
from tests.support.postgres import fresh_database


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so a missing service is a failure, not a skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_ok() -> None:
    reason = probe_postgres()
    if reason:
        _unavailable(reason)


@pytest.fixture(scope="module")
def redis_ok() -> None:
    reason = probe_redis()
    if reason:
        _unavailable(reason)


@pytest.fixture
def rabbitmq_ok() -> None:
    reason = probe_rabbitmq()
    if reason:
        _unavailable(reason)


@pytest.fixture
def redis_server_binary() -> str:
    if REDIS_SERVER is None:
        _unavailable("the redis-server binary is not installed (needed to run a broker this test may stop)")
    return REDIS_SERVER


@pytest.fixture
def postgres_db(postgres_ok: None) -> Iterator[str]:
    """A fresh PostgreSQL database per test (the server migrates it at start-up), dropped at the end."""
    with fresh_database("orderflow_dist") as url:
        yield url


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Sandbox payment and warehouse systems of this module: its /_stats count only this module's calls."""
    log_dir = tmp_path_factory.mktemp("sandbox")
    proc = Proc(
        "sandbox",
        [sys.executable, "-m", "connectors.sandbox", "--host", "127.0.0.1", "--port", "0", "--threads", "16"],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        log_dir,
    )
    try:
        yield proc.wait_for(r"sandbox listening on (http://\S+)", 30).group(1)
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        requests.post(f"{request.getfixturevalue('sandbox')}/_control/reset", timeout=5).raise_for_status()


@pytest.fixture
def cluster_factory(tmp_path: Path, sandbox: str, postgres_db: str) -> Iterator[Callable[..., Cluster]]:
    clusters: list[Cluster] = []

    def make(broker_url: str, **env: str) -> Cluster:
        cluster = Cluster(tmp_path, sandbox, postgres_db, broker_url, **env)
        clusters.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.stop()
            forget_queue(cluster.broker_url, cluster.queue)
