"""The distributed transport for real: `orderflow serve`, `orderflow worker` (Celery) and `orderflow scheduler` as
separate processes on PostgreSQL and a Redis or RabbitMQ broker, no mocks.

What it shows: orders complete with several worker processes and their parallel branches run at the same time on
different processes; a worker killed with SIGKILL mid-job loses nothing and charges nobody twice; two schedulers
fire each timer once; orders started while the broker is down are dispatched once it is back (outbox sweep);
the same works on RabbitMQ.

Services: ORDERFLOW_TEST_POSTGRES_URL (default the local `test` database), ORDERFLOW_TEST_REDIS_URL,
ORDERFLOW_TEST_AMQP_URL and the `redis-server` binary (for the broker-outage test, which runs a broker of its own).
A missing service skips the tests that need it, except in CI (CI=true), where it is a failure.

Isolation: a PostgreSQL database per test (dropped at the end), a queue name per test, a sandbox process of this
module's own (its counters count this module's calls alone), a temporary data directory."""

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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support.diagrams import process
from tests.support.paths import ROOT
from tests.support.postgres import fresh_database, postgres_url
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


def _first_line(exc: Exception) -> str:
    message = str(exc).strip()
    return f"{exc.__class__.__name__}: {message.splitlines()[0] if message else ''}"


def _probe_postgres() -> str | None:
    probe = create_engine(postgres_url(), poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the reason is reported
        shown = make_url(postgres_url()).render_as_string(hide_password=True)
        return f"PostgreSQL not reachable at {shown} ({_first_line(exc)}; set ORDERFLOW_TEST_POSTGRES_URL)"
    finally:
        probe.dispose()
    return None


def _probe_redis(url: str = REDIS_URL) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
    try:
        client.ping()
    except Exception as exc:
        return f"Redis not reachable at {url} ({_first_line(exc)}; set ORDERFLOW_TEST_REDIS_URL)"
    finally:
        client.close()
    return None


def _probe_rabbitmq() -> str | None:
    from kombu import Connection

    shown = AMQP_URL.split("@")[-1]
    try:
        with Connection(AMQP_URL, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        return f"RabbitMQ not reachable at {shown} ({_first_line(exc)}; set ORDERFLOW_TEST_AMQP_URL)"
    return None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so a missing service is a failure, not a skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_ok() -> None:
    reason = _probe_postgres()
    if reason:
        _unavailable(reason)


@pytest.fixture(scope="module")
def redis_ok() -> None:
    reason = _probe_redis()
    if reason:
        _unavailable(reason)


@pytest.fixture
def rabbitmq_ok() -> None:
    reason = _probe_rabbitmq()
    if reason:
        _unavailable(reason)


@pytest.fixture
def redis_server_binary() -> str:
    if REDIS_SERVER is None:
        _unavailable("the redis-server binary is not installed (needed to run a broker this test may stop)")
    return REDIS_SERVER


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

    def worker(self, concurrency: int = 2, wait: bool = True) -> Proc:
        proc = self.spawn("worker", "worker", "--concurrency", str(concurrency), "--loglevel", "INFO")
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


# -- fixtures --------------------------------------------------------------------------------------------------------


@pytest.fixture
def db_url(postgres_ok: None) -> Iterator[str]:
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
def cluster_factory(tmp_path: Path, sandbox: str, db_url: str) -> Iterator[Callable[..., Cluster]]:
    clusters: list[Cluster] = []

    def make(broker_url: str, **env: str) -> Cluster:
        cluster = Cluster(tmp_path, sandbox, db_url, broker_url, **env)
        clusters.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.stop()
            _forget_queue(cluster.broker_url, cluster.queue)


def _forget_queue(broker_url: str, queue: str) -> None:
    """Leave nothing of a test's queue on the shared brokers: the queue, its binding and the unacknowledged
    messages of a killed worker, which Redis would otherwise put back into the queue an hour later. Best effort:
    a broker that is gone has nothing to clean."""
    try:
        if broker_url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
            try:
                client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
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


def stats(sandbox: str) -> dict[str, int]:
    response = requests.get(f"{sandbox}/_stats", timeout=5)
    response.raise_for_status()
    return response.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1. many orders, two worker processes, parallel branches at the same time -------------------------------------


def test_orders_complete_on_two_workers_and_parallel_branches_run_at_once(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = cluster_factory(REDIS_URL)
    cluster.serve()
    # One pool process per worker: two jobs running at once are necessarily on two different `orderflow worker`s.
    workers = [cluster.worker(concurrency=1, wait=False) for _ in range(2)]
    for worker in workers:
        cluster.ready(worker)

    ids = cluster.start_orders("BATCH", 30)
    cluster.wait_completed("BATCH", ids, timeout=60)
    groups = {pid: n for n, worker in enumerate(workers) for pid in worker.pids()}
    names = {worker_name(pid): n for pid, n in groups.items()}
    holders = [j["locked_by"] for j in cluster.jobs("kind = 'service'")]
    assert len(holders) == 30 * 4 and all(h in names for h in holders), set(holders) - set(names)
    per_worker = [sum(1 for h in holders if names[h] == n) for n in range(2)]
    assert min(per_worker) > 0, f"one worker ran every job: {per_worker}"

    # Each branch call now takes at least `latency` at the sandbox. Both branch jobs are created by one step (the
    # job_created events, T0) and cannot start before it; each ends (element_completed) at least `latency` after it
    # started. Had they run one after the other, the later one would end at T0 + 2 * latency or later, so ending
    # sooner proves they overlapped, however slow the machine is otherwise. Orders go one at a time, on idle workers.
    latency = 0.3
    control(sandbox, latencyMs=int(latency * 1000))
    for n in range(3):
        [instance_id] = cluster.start_orders(f"PARALLEL{n}", 1)
        cluster.wait_completed(f"PARALLEL{n}", [instance_id], timeout=20)
        events = cluster.events(instance_id)
        created = [when(e) for e in events if e["type"] == "job_created" and e["elementId"] in BRANCHES]
        ended = {e["elementId"]: when(e) for e in events if e["type"] == "element_completed"}
        # One step creates both (events of a step are stamped as they are recorded: a millisecond may pass).
        assert len(created) == 2 and (max(created) - min(created)).total_seconds() < 0.05, events
        spans = {b: (ended[b] - max(created)).total_seconds() for b in BRANCHES}
        assert all(span >= latency for span in spans.values()), spans
        assert max(spans.values()) < 2 * latency, f"the branches ran one after the other: {spans}"

        branch_jobs = cluster.jobs("instance_id = :i AND element_id = ANY(:e)", i=instance_id, e=list(BRANCHES))
        assert len(branch_jobs) == 2, branch_jobs
        ran_on = {names[j["locked_by"]] for j in branch_jobs}
        assert ran_on == {0, 1}, f"both branches ran on one worker process: {branch_jobs}"


# -- 2. a worker killed mid-job: nothing lost, no side effect twice ---------------------------------------------


def test_a_worker_killed_mid_job_loses_nothing_and_charges_nobody_twice(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = cluster_factory(REDIS_URL, ORDERFLOW_LEASE_SECONDS="3")
    cluster.serve()
    victim, survivor = cluster.worker(concurrency=2, wait=False), cluster.worker(concurrency=2, wait=False)
    for worker in (victim, survivor):
        cluster.ready(worker)
    cluster.scheduler(resend_after=2)
    control(sandbox, latencyMs=1000)  # every call is answered a second after the sandbox did the work
    before = stats(sandbox)
    orders = 6
    ids = cluster.start_orders("KILL", orders)

    # Kill the victim while it is in the middle of a capture or a shipment: leased to it, claimed long enough ago
    # that the call has reached the sandbox, but not yet answered.
    victim_names = [worker_name(pid) for pid in victim.pids()]
    in_flight_sql = "status = 'locked' AND locked_by = ANY(:names) AND updated_at < :claimed_before"

    def victim_mid_side_effect() -> list[dict[str, Any]]:
        claimed_before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=0.4)
        held = cluster.jobs(in_flight_sql, names=victim_names, claimed_before=claimed_before)
        return held if any(j["topic"] in ("payment.capture", "wms.ship") for j in held) else []

    wait_until(victim_mid_side_effect, 30, "the victim worker to be in the middle of a capture or shipment")
    victim.kill()
    killed = cluster.jobs("status = 'locked' AND locked_by = ANY(:names)", names=victim_names)
    assert any(j["topic"] in ("payment.capture", "wms.ship") for j in killed), killed
    assert cluster.worker(concurrency=2).popen.poll() is None  # the replacement

    cluster.wait_completed("KILL", ids, timeout=60)
    after = stats(sandbox)
    made = {name: after[name] - before[name] for name in after}
    assert made["captures"] == orders and made["shipments"] == orders, made
    assert made["authorizations"] == orders and made["reservations"] == orders, made
    # The killed call had reached the sandbox; its job ran again with the same idempotency key and got the reply
    # of the first call instead of a second charge or shipment.
    assert made["idempotentReplays"] >= 1, made
    for job in cluster.jobs("id = ANY(:ids)", ids=[j["id"] for j in killed]):
        assert job["status"] == "done" and job["locked_by"] not in victim_names, job


# -- 3. two schedulers: every timer fires once ---------------------------------------------------------------------

TIMER_THEN_COUNT = process(
    "timer_then_count",
    """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait a second">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="count"/>
    <bpmn:scriptTask id="count" scriptFormat="python"><bpmn:script>fired = fired + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="count" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)


def test_two_schedulers_fire_every_timer_once(redis_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    workers = [cluster.worker(concurrency=2, wait=False) for _ in range(2)]
    for worker in workers:
        cluster.ready(worker)
    # Both sweep often and resend soon, so both keep sending the same due timer jobs.
    schedulers = [cluster.scheduler(resend_after=0.5, interval=0.1) for _ in range(2)]
    name, xml = TIMER_THEN_COUNT
    response = server.post("/deployments", files=[("files", (name, xml, "application/xml"))])
    assert response.status_code == 201, response.text

    ids = cluster.start_orders("TIMER", 12, key="timer_then_count", fired=0)
    cluster.wait_completed("TIMER", ids, timeout=30)
    for instance_id in ids:
        view = server.get(f"/process-instances/{instance_id}").json()
        assert view["variables"]["fired"] == 1, view
        events = cluster.events(instance_id)
        completed = [e["elementId"] for e in events if e["type"] == "element_completed"]
        assert completed.count("wait") == 1 and completed.count("count") == 1, events
        assert [e["type"] for e in events].count("timers_checked") == 1, events
        fired_at = next(when(e) for e in events if e["type"] == "element_completed" and e["elementId"] == "wait")
        assert (fired_at - datetime.fromisoformat(view["createdAt"].rstrip("Z"))).total_seconds() >= 1.0, events
    for scheduler in schedulers:
        assert scheduler.popen.poll() is None and "sweep failed" not in scheduler.output(), scheduler.tail()


# -- 4. the broker goes away: orders still start, and run once it is back --------------------------------------


def start_redis(binary: str, port: int, log_dir: Path) -> Proc:
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = Proc("redis", [*args, "--dir", str(log_dir)], dict(os.environ), log_dir)
    proc.wait_for("Ready to accept connections", 20)
    return proc


def test_orders_started_while_the_broker_is_down_run_once_it_is_back(
    postgres_ok: None, redis_server_binary: str, cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    port = free_port()
    broker = start_redis(redis_server_binary, port, tmp_path)
    try:
        cluster = cluster_factory(f"redis://127.0.0.1:{port}/0")
        cluster.serve()
        cluster.worker(concurrency=2)
        scheduler = cluster.scheduler(resend_after=2)
        [warm_up] = cluster.start_orders("BEFORE", 1)
        cluster.wait_completed("BEFORE", [warm_up], timeout=30)

        broker.stop()
        orders = 5
        ids = cluster.start_orders("OUTAGE", orders)  # each start commits; only the publish after it fails
        assert cluster.server_proc is not None
        failed_sends = re.findall("could not send job .* to the broker", cluster.server_proc.output())
        assert len(failed_sends) == 2 * orders, cluster.server_proc.tail()  # both branch jobs of every order
        # The sweep finds the unsent jobs, cannot send them either, and must try again later.
        scheduler.wait_for("could not send job .* to the broker", 15)
        assert set(cluster.statuses("OUTAGE").values()) == {"running"}

        broker = start_redis(redis_server_binary, port, tmp_path)
        cluster.wait_completed("OUTAGE", ids, timeout=45)
    finally:
        broker.stop()


# -- 5. RabbitMQ ---------------------------------------------------------------------------------------------------


def test_orders_complete_with_a_rabbitmq_broker(rabbitmq_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(AMQP_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    ids = cluster.start_orders("RABBIT", 4)
    cluster.wait_completed("RABBIT", ids, timeout=30)
    health = server.get("/health").json()
    assert health["checks"]["broker"]["ok"] is True and health["checks"]["workers"]["transport"] == "celery", health


# -- 6. operating running orders: migration and suspend/resume run on the Celery workers --------------------------

APPROVE_V1 = process(
    "dist_approve",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="Approve"/>
    <bpmn:userTask id="Approve" name="Approve"/><bpmn:sequenceFlow id="f1" sourceRef="Approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)
APPROVE_V2 = process(
    "dist_approve",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="ApproveOrder"/>
    <bpmn:userTask id="ApproveOrder" name="Approve the order"/>
    <bpmn:sequenceFlow id="f1" sourceRef="ApproveOrder" targetRef="Check"/>
    <bpmn:userTask id="Check" name="Check"/><bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)
PAUSE = process(
    "dist_pause",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="pause"/>
    <bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition><bpmn:timeDuration>PT3S</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="pause" targetRef="end"/><bpmn:endEvent id="end"/>""",
)


def _deploy(server: Server, diagram: tuple[str, bytes]) -> None:
    name, xml = diagram
    response = server.post("/deployments", files=[("files", (name, xml, "application/xml"))])
    assert response.status_code == 201, response.text


def test_a_migration_batch_runs_on_the_celery_workers(redis_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    cluster.scheduler()
    _deploy(server, APPROVE_V1)
    ids = cluster.start_orders("MIGRATE", 5, key="dist_approve", amount=1)
    _deploy(server, APPROVE_V2)

    request = {
        "processKey": "dist_approve",
        "sourceVersion": 1,
        "targetVersion": 2,
        "mapping": {"Approve": "ApproveOrder"},
    }
    dry = server.post("/migrations", json={**request, "dryRun": True}).json()
    assert sorted(i["id"] for i in dry["instances"] if i["migratable"]) == sorted(ids)
    started = server.post("/migrations", json=request)
    assert started.status_code == 202, started.text
    batch_id = started.json()["batchId"]
    batch = wait_until(
        lambda: (b := server.get(f"/batches/{batch_id}").json())["status"] == "completed" and b, 30, "the batch"
    )
    assert batch["counts"] == {"done": 5, "failed": 0, "skipped": 0}, batch
    assert [j["locked_by"] for j in cluster.jobs("kind = 'batch'")][0].startswith("celery-")  # a worker ran it
    for instance_id in ids:
        for element in ("ApproveOrder", "Check"):
            task = server.get("/tasks").json()
            mine = [t for t in task["items"] if t["instanceId"] == instance_id and t["elementId"] == element]
            assert len(mine) == 1, (element, task)
            done = server.post(f"/tasks/{mine[0]['id']}/complete", json={"userId": "admin", "variables": {}})
            assert done.status_code == 200, done.text
    cluster.wait_completed("MIGRATE", ids, timeout=30)


def test_suspend_holds_a_timer_on_the_celery_workers_until_resume(
    redis_ok: None, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    cluster.scheduler(resend_after=0.5, interval=0.1)
    _deploy(server, PAUSE)
    late, early = cluster.start_orders("PAUSE", 2, key="dist_pause", n=1)
    for instance_id in (late, early):
        response = server.post(f"/process-instances/{instance_id}/suspend", json={"comment": "hold"})
        assert response.status_code == 200 and response.json()["status"] == "suspended", response.text
    # Resumed before its timer is due: the released timer job goes to the workers, which fire it.
    assert server.post(f"/process-instances/{early}/resume", json={}).status_code == 200
    cluster.wait_completed("PAUSE", [early], timeout=30)
    assert any(e["type"] == "timers_checked" and e["actor"] == "timer" for e in cluster.events(early))

    time.sleep(3.5)  # the held timer of the other order falls due: neither the scheduler nor a worker fires it
    view = server.get(f"/process-instances/{late}").json()
    assert view["status"] == "suspended" and [e["elementId"] for e in view["activeElements"]] == ["pause"], view
    assert [j["status"] for j in cluster.jobs("instance_id = :id", id=late)] == ["held"]
    assert server.post(f"/process-instances/{late}/resume", json={}).status_code == 200  # due: it fires on resume
    cluster.wait_completed("PAUSE", [late], timeout=30)
