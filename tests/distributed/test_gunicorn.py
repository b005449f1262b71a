"""Start-up as the README describes it: create_app() only wires, the set-up is a command run once.

On a fresh PostgreSQL database, `orderflow migrate` runs once, then `gunicorn -w 4 'app:create_app()'` starts four
web processes at once; every one of them boots and answers. Before create_app() stopped migrating, deploying and
adding people, four processes on a fresh database collided and some failed to boot.

The PostgreSQL server is ORDERFLOW_TEST_POSTGRES_URL (default: the local test database); the test creates a database
of its own and drops it at the end. Without a reachable server it is skipped (failed in CI)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.diagrams import simple
from tests.support.paths import SHIPPED
from tests.support.postgres import fresh_database
from tests.support.server import TOKEN

WEB_PROCESSES = 4
STARTUP = 90.0  # seconds gunicorn may take to boot its workers before the test fails


def _tables(sqlite_file: Path) -> set[str]:
    if not sqlite_file.exists():
        return set()
    with sqlite3.connect(sqlite_file) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _config(data_dir: Path) -> dict:
    return {
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir / 'orderflow.db'}",
        "ORDERFLOW_API_TOKEN": TOKEN,
        "ORDERFLOW_DEPLOY_SHIPPED": True,
        "ORDERFLOW_DEMO_USERS": True,
        "ORDERFLOW_EMBEDDED_WORKERS": False,
    }


def _orderflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


# -- create_app() wires; prepare() sets up -------------------------------------------------------------------------


def test_create_app_only_wires_and_prepare_sets_up_the_database(tmp_path: Path) -> None:
    from app import create_app
    from app.setup import check_schema, prepare

    data_dir = tmp_path / "data"
    first, second = create_app(_config(data_dir)), create_app(_config(data_dir))
    assert _tables(data_dir / "orderflow.db") == set()  # no migration, no deploy, no people
    assert "no orderflow schema" in check_schema({**_config(data_dir), "ORDERFLOW_SQLITE_SYNCHRONOUS": "FULL"})

    prepare(first)
    assert {"alembic_version", "process_definitions", "users"} <= _tables(data_dir / "orderflow.db")
    assert check_schema({**_config(data_dir), "ORDERFLOW_SQLITE_SYNCHRONOUS": "FULL"}) is None
    prepare(second)  # again, from another app on the same database: nothing changes, nothing fails
    client = second.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    definitions = client.get("/api/v1/process-definitions", headers=headers).get_json()["items"]
    assert [d["version"] for d in definitions if d["key"] == "order_fulfillment"] == [1]
    assert client.get("/api/v1/process-definitions/order_fulfillment/xml", headers=headers).data == SHIPPED.read_bytes()
    people = client.get("/api/v1/users", headers=headers).get_json()["items"]
    assert {"admin", "anna", "sam"} <= {p["username"] for p in people}


def test_processes_on_a_new_data_directory_agree_on_one_session_key(tmp_path: Path) -> None:
    from app import _data_dir_secret

    keys: list[str] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        barrier.wait()
        keys.append(_data_dir_secret(tmp_path))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 48
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left behind


@pytest.mark.parametrize("shipped", [True, False], ids=["deploy-shipped", "no-shipped"])
def test_migrate_creates_a_new_data_directory_the_schema_and_deploys_as_configured(
    tmp_path: Path, shipped: bool
) -> None:
    data_dir = tmp_path / "new" / "data"
    env = {**os.environ, "ORDERFLOW_DATA_DIR": str(data_dir), "ORDERFLOW_DATABASE_URL": "",
           "ORDERFLOW_DEPLOY_SHIPPED": str(shipped).lower(), "ORDERFLOW_DEMO_USERS": "false"}  # fmt: skip
    result = _orderflow(env, "migrate")
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    assert {"alembic_version", "jobs", "process_instances"} <= _tables(data_dir / "orderflow.db")
    with sqlite3.connect(data_dir / "orderflow.db") as connection:
        keys = {row[0] for row in connection.execute("SELECT key FROM process_definitions")}
        users = connection.execute("SELECT count(*) FROM users").fetchone()
    assert keys == ({"order_fulfillment", "order_management", "order_intake"} if shipped else set())
    assert users == (0,)


@pytest.mark.parametrize(
    "module_and_args",
    [
        ["app.cli", "worker", "--pool", "solo"],  # orderflow worker
        ["app.cli", "scheduler"],  # orderflow scheduler
        ["celery", "-A", "app.worker", "worker", "--pool", "solo"],  # what the systemd unit runs
    ],
    ids=["orderflow-worker", "orderflow-scheduler", "celery-worker"],
)
def test_workers_and_schedulers_refuse_a_database_without_schema(tmp_path: Path, module_and_args: list[str]) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")},
        "ORDERFLOW_DATA_DIR": str(tmp_path),
        # never reached: the schema check comes first (port 9 is the discard port, nothing listens there)
        "ORDERFLOW_BROKER_URL": "redis://127.0.0.1:9/0",
    }
    args = [sys.executable, "-m", *module_and_args]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no orderflow schema: run `orderflow migrate`" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "alembic_version" not in _tables(tmp_path / "orderflow.db")  # it did not migrate


# -- gunicorn -w 4 on a fresh PostgreSQL database ------------------------------------------------------------------


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test only, dropped at the end."""
    with fresh_database("orderflow_gunicorn") as url:
        yield url


GUNICORN_CONFIG = """
control_socket_disable = True  # gunicorn >= 25 would otherwise share ~/.gunicorn/gunicorn.ctl with every other run


def post_worker_init(worker):  # after the worker loaded the app, i.e. after create_app() returned
    worker.log.info("orderflow app loaded in worker %s", worker.pid)
"""


def _wait_for(condition, what: str, log: Path, proc: subprocess.Popen):
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode} while waiting for {what}:\n{log.read_text()}")
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}")


def test_four_gunicorn_workers_boot_on_a_freshly_migrated_database(
    fresh_postgres: str, sandbox_url: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")},
        "ORDERFLOW_DATABASE_URL": fresh_postgres,
        "ORDERFLOW_DATA_DIR": str(tmp_path / "data"),  # new: the session key is made by the first worker
        "ORDERFLOW_API_TOKEN": TOKEN,
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        "ORDERFLOW_EMBEDDED_WORKERS": "false",  # no broker either: this test runs no jobs
    }
    migrated = _orderflow(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr

    config = tmp_path / "gunicorn.conf.py"
    config.write_text(GUNICORN_CONFIG)
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(config), "-w", str(WEB_PROCESSES), "-b", "127.0.0.1:0",
             "app:create_app()"],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        address = _wait_for(
            lambda: re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text()), "the address", log, proc
        ).group(1)
        _wait_for(
            lambda: len(set(re.findall(r"orderflow app loaded in worker (\d+)", log.read_text()))) == WEB_PROCESSES,
            f"{WEB_PROCESSES} workers to load the app",
            log,
            proc,
        )
        health = requests.get(f"{address}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["database"] == {"ok": True}

        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        deployed = http.post(
            f"{address}/api/v1/deployments",
            files=[("files", ("gunicorn.bpmn", simple("gunicorn_check"), "application/xml"))],
            timeout=30,
        )
        assert deployed.status_code == 201, deployed.text

        paths = ["/health", "/process-definitions", "/process-definitions/gunicorn_check", "/process-instances"]

        def get(path: str) -> tuple[str, int]:
            return path, http.get(f"{address}/api/v1{path}", timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:  # concurrent, so every worker process gets some
            answers = list(pool.map(get, paths * 10))
        assert [a for a in answers if a[1] != 200] == []
        listed = http.get(f"{address}/api/v1/process-definitions", timeout=30).json()["items"]
        # The shipped workflows come from `orderflow migrate`, once: four web processes deployed nothing again.
        assert sorted((d["key"], d["version"]) for d in listed) == [
            ("gunicorn_check", 1), ("order_fulfillment", 1), ("order_intake", 1), ("order_management", 1)
        ]  # fmt: skip
    finally:
        proc.terminate()  # gunicorn's graceful stop
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "Traceback" not in output and "Worker failed to boot" not in output, output
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", output))) == WEB_PROCESSES, output  # none restarted
