"""The distributed set-up for tests: `orderflow serve`, `orderflow worker` (Celery) and `orderflow scheduler` as
separate processes on PostgreSQL and a Redis or RabbitMQ broker (a Cluster), each process in its own process group
with its output in a log file; the services they need, probed; the sandbox's controls and counters.

Services: ORDERFLOW_TEST_POSTGRES_URL (default the local `test` database), ORDERFLOW_TEST_REDIS_URL,
ORDERFLOW_TEST_AMQP_URL and the `redis-server` binary (for tests that stop a broker of their own)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support.paths import ROOT
from tests.support.postgres import postgres_url
from tests.support.server import TOKEN, Server

REDIS_URL = os.environ.get("ORDERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
AMQP_URL = os.environ.get("ORDERFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_SERVER = shutil.which("redis-server") or next((p for p in ["/usr/bin/redis-server"] if os.path.exists(p)), None)
IN_CI = os.environ.get("CI") == "true"
CONNECT_TIMEOUT = 3  # seconds, for probing services
STARTUP = 60.0  # seconds a process may take to say it is ready before the test fails
HOST = socket.gethostname()

ORDER = {
    "items": [
        {"sku": "SKU-1001", "quantity": 2, "unitPrice": 12.5},
        {"sku": "SKU-1004", "quantity": 1, "unitPrice": 9.9},
    ],
    "currency": "EUR",
    "shippingAddress": {"street": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"},
    "customer": {"id": "C-42", "tier": "gold"},
}
BRANCHES = ("Task_ReserveInventory", "Task_AuthorizePayment")


# -- services: reachable, or skipped (failed in CI) with the reason ------------------------------------------------


def first_line(exc: Exception) -> str:
    message = str(exc).strip()
    return f"{exc.__class__.__name__}: {message.splitlines()[0] if message else ''}"


def probe_postgres() -> str | None:
    probe = create_engine(postgres_url(), poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the reason is reported
        shown = make_url(postgres_url()).render_as_string(hide_password=True)
        return f"PostgreSQL not reachable at {shown} ({first_line(exc)}; set ORDERFLOW_TEST_POSTGRES_URL)"
    finally:
        probe.dispose()
    return None


def probe_redis(url: str = REDIS_URL) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
    try:
        client.ping()
    except Exception as exc:
        return f"Redis not reachable at {url} ({first_line(exc)}; set ORDERFLOW_TEST_REDIS_URL)"
    finally:
        client.close()
    return None


def probe_rabbitmq() -> str | None:
    from kombu import Connection

    shown = AMQP_URL.split("@")[-1]
    try:
        with Connection(AMQP_URL, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        return f"RabbitMQ not reachable at {shown} ({first_line(exc)}; set ORDERFLOW_TEST_AMQP_URL)"
    return None


# -- processes: each in its own process group, output in a log file, stopped at the end --------------------------


class Proc:
    """A subprocess in its own session (process group), with stdout and stderr in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(
                args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pgid = self.popen.pid  # start_new_session: the child leads a new process group

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float = STARTUP) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before {pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not log {pattern!r} within {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def pids(self) -> set[int]:
        """Live processes of this process group (a Celery worker and its pool children)."""
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == self.pgid:
                        found.add(int(entry))
                except OSError:  # gone meanwhile
                    pass
        return found

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and every pool child, no clean-up of any kind."""
        os.killpg(self.pgid, signal.SIGKILL)
        self.popen.wait(10)
        wait_until(lambda: not self.pids(), 10, f"every process of {self.name} to be gone")

    def terminate(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10) -> None:
        self.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of the group (a hung parent, orphaned pool children) goes. While a member lives the
        # group id cannot have been reused, so this never signals anyone else's processes.
        if self.popen.poll() is None or self.pids():
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(10)


class Cluster:
    """The processes of one test on one database and one queue: a server, workers, schedulers."""

    def __init__(self, tmp_path: Path, sandbox: str, db_url: str, broker_url: str, **env: str):
        self.tmp_path = tmp_path
        self.sandbox = sandbox
        self.db_url = db_url
        self.broker_url = broker_url
        self.queue = f"orderflow-test-{uuid.uuid4().hex[:12]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")},
            "ORDERFLOW_DATA_DIR": str(tmp_path / "data"),
            "ORDERFLOW_DATABASE_URL": db_url,
            "ORDERFLOW_BROKER_URL": broker_url,
            "ORDERFLOW_QUEUE": self.queue,
            "ORDERFLOW_PORT": "0",
            "ORDERFLOW_API_TOKEN": TOKEN,
            "ORDERFLOW_SANDBOX": "false",
            "ORDERFLOW_SANDBOX_URL": sandbox,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.procs: list[Proc] = []
        self.server: Server | None = None
        self.server_proc: Proc | None = None
        self.workers: list[Proc] = []
        self.sql = create_engine(db_url, poolclass=NullPool)

    def spawn(self, name: str, *args: str) -> Proc:
        proc = Proc(name, [sys.executable, "-m", "app.cli", *args], self.env, self.tmp_path)
        self.procs.append(proc)
        return proc

    def serve(self) -> Server:
        self.server_proc = proc = self.spawn("serve", "serve")
        url = proc.wait_for(r"orderflow listening on (http://\S+)").group(1)
        self.server = Server(url, self.tmp_path / "data", proc.popen)
        return self.server

    def worker(self, concurrency: int = 2, wait: bool = True, pool: str = "prefork") -> Proc:
        proc = self.spawn("worker", "worker", "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO")
        self.workers.append(proc)
        if wait:
            self.ready(proc)
        return proc

    @staticmethod
    def ready(worker: Proc) -> None:
        worker.wait_for(r"celery@\S+ ready\.")

    def scheduler(self, resend_after: float = 2.0, interval: float = 0.25) -> Proc:
        proc = self.spawn("scheduler", "scheduler", "--interval", str(interval), "--resend-after", str(resend_after))
        proc.wait_for("scheduler sweeping every")
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pgid}) ---\n{p.tail(25)}" for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:  # all at once: a Celery worker's warm shutdown takes a moment
            proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            proc.stop(timeout=max(deadline - time.monotonic(), 0.1))
        self.sql.dispose()
        if self.server is not None:
            self.server.http.close()

    # -- orders -----------------------------------------------------------------------------------------------

    def start_orders(self, prefix: str, count: int, key: str = "order_fulfillment", **variables: Any) -> list[str]:
        assert self.server is not None
        server = self.server

        def start(n: int) -> str:
            body = {"businessKey": f"{prefix}-{n}", "variables": variables or ORDER}
            response = server.post(f"/process-definitions/{key}/instances", json=body)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(max_workers=min(count, 6)) as pool:
            return list(pool.map(start, range(count)))

    def statuses(self, prefix: str) -> dict[str, str]:
        assert self.server is not None
        response = self.server.get("/process-instances", params={"businessKeyPrefix": f"{prefix}-", "perPage": 500})
        assert response.status_code == 200, response.text
        return {item["id"]: item["status"] for item in response.json()["items"]}

    def wait_completed(self, prefix: str, ids: list[str], timeout: float) -> None:
        """Poll (one list request per round) until every instance completed; fail at once on an incident."""
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = self.statuses(prefix)
            incidents = [i for i in ids if statuses.get(i) == "incident"]
            assert not incidents, f"{self.explain(incidents[:3])}\n{self.logs()}"
            if all(statuses.get(i) == "completed" for i in ids):
                return
            time.sleep(0.2)
        waiting = [i for i in ids if statuses.get(i) != "completed"]
        raise AssertionError(
            f"{len(waiting)}/{len(ids)} instances did not complete within {timeout}s: "
            f"{self.explain(waiting[:3])}\n{self.logs()}"
        )

    def explain(self, ids: list[str]) -> str:
        assert self.server is not None
        views = [self.server.get(f"/process-instances/{i}").json() for i in ids]
        return "; ".join(f"{v['id']} {v['status']} incidents={v.get('incidents')} jobs={v.get('jobs')}" for v in views)

    def events(self, instance_id: str) -> list[dict[str, Any]]:
        assert self.server is not None
        response = self.server.get(f"/process-instances/{instance_id}/events")
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def jobs(self, where: str = "TRUE", **params: Any) -> list[dict[str, Any]]:
        """Job rows straight from the database: who holds or held them (`locked_by`) is not in the REST view."""
        with self.sql.connect() as connection:
            rows = connection.execute(text(f"SELECT * FROM jobs WHERE {where}"), params).mappings().all()
        return [dict(row) for row in rows]


def worker_name(pid: int) -> str:
    """The `locked_by` a Celery pool process writes into the jobs it claims (app.worker.worker_id)."""
    return f"celery-{HOST}-{pid}"


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"].rstrip("Z"))


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def forget_queue(broker_url: str, queue: str) -> None:
    """Leave nothing of a test's queue on the shared brokers: the queue, its binding and the unacknowledged
    messages of a killed worker, which Redis would otherwise put back into the queue an hour later. Best effort:
    a broker that is gone has nothing to clean."""
    try:
        if broker_url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
            try:
                priorities = [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]  # kombu's list per priority
                client.delete(queue, *priorities, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
                for tag, payload in client.hscan_iter("unacked"):
                    if queue in json.loads(payload)[1:]:  # [message, exchange, routing key]
                        client.hdel("unacked", tag)
                        client.zrem("unacked_index", tag)
            finally:
                client.close()
        elif broker_url.startswith("amqp"):
            from kombu import Connection

            with Connection(broker_url, connect_timeout=CONNECT_TIMEOUT) as connection:
                connection.default_channel.queue_delete(queue)
                connection.default_channel.exchange_delete(queue)
    except Exception:  # clean-up must not hide the test's own result
        pass


def control(sandbox: str, **controls: Any) -> None:
    requests.post(f"{sandbox}/_control", json=controls, timeout=5).raise_for_status()


def in_flight(sandbox: str, *, reset: bool = False) -> dict[str, int]:
    """The sandbox's business calls in flight now and the most at once (since the last reset, which `reset` does)."""
    if reset:
        response = requests.post(f"{sandbox}/_in_flight/reset", timeout=5)
    else:
        response = requests.get(f"{sandbox}/_in_flight", timeout=5)
    response.raise_for_status()
    return response.json()


def stats(sandbox: str) -> dict[str, int]:
    response = requests.get(f"{sandbox}/_stats", timeout=5)
    response.raise_for_status()
    return response.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(binary: str, port: int, log_dir: Path) -> Proc:
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = Proc("redis", [*args, "--dir", str(log_dir)], dict(os.environ), log_dir)
    proc.wait_for("Ready to accept connections", 20)
    return proc
