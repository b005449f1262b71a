"""`make bench`: orderflow end to end against plain SpiffWorkflow on the same diagram, and what each order costs.

(a) plain SpiffWorkflow runs bpmn/order_fulfillment.bpmn in memory, completing the service tasks inline, in a
    process of its own that loads none of orderflow (bench/plain.py);
(b) orderflow runs orders end to end: REST starts, jobs through the embedded runner, the sandbox payment and
    warehouse systems over HTTP, SQLite on disk (the default group commit), until every order is completed.
    (a) and (b) alternate over several rounds; the ratio b/a is the median of the rounds' ratios.
(b') open loop on the server of the last round: orders arrive at a fixed rate (50% and 80% of (b)'s median
    throughput) and the latency runs from each order's scheduled arrival to its completion.
(c) distributed scaling, all on PostgreSQL: the embedded engine on a database of its own, then 1, 2 and 3 Celery
    worker processes (`orderflow worker --pool threads --concurrency 4`) with one `orderflow scheduler` on Redis, each
    on a fresh database, over 2 rounds (medians). After the last 2-worker run, timers: 50 instances of a PT2S timer,
    how late each fired. Skipped, with the reason, when PostgreSQL or Redis is unreachable
    (ORDERFLOW_BENCH_POSTGRES_URL, ORDERFLOW_BENCH_REDIS_URL).
(d) one decision table, orderflow's DMN engine against SpiffWorkflow's (bench/decisions.py);
(e) the monitoring queries on 1,000,000 audit events (bench/monitoring.py).

Per order, for (b) and each run of (c): engine steps, commits, fsyncs, HTTP calls and CPU milliseconds per process
(bench/measure.py says how each is counted). Figures go to bench/results/latest.json and latest.md.
`--quick` (or ORDERFLOW_BENCH_QUICK=1, `make bench-quick`) runs fewer orders and rounds, to iterate."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM = ROOT / "bpmn" / "order_fulfillment.bpmn"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from app.serving import process_count  # noqa: E402
from app.simulate import percentile, simulate  # noqa: E402
from bench import measure  # noqa: E402
from bench.decisions import decision_speed  # noqa: E402
from bench.monitoring import monitoring_speed  # noqa: E402
from bench.openloop import open_loop  # noqa: E402
from bench.report import markdown, print_costs  # noqa: E402

TOKEN = "bench-token"
POSTGRES_URL = os.environ.get("ORDERFLOW_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ORDERFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
# Each `orderflow worker` of (c): one process running four jobs at once (a job mostly waits for HTTP and commits);
# --worker-args changes it, e.g. "--concurrency 1" for one prefork pool process running one job at a time.
WORKER_ARGS = ["--pool", "threads", "--concurrency", "4"]
OPEN_LOOP_SHARES = (0.5, 0.8)  # of the measured maximum throughput
PORTS = os.environ.get("ORDERFLOW_BENCH_PORTS", "")  # "9200-9299": the servers' ports come from this range

TIMER_SECONDS = 2
TIMER_PROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="bench_timer_definitions"
                  targetNamespace="http://orderflow.dev/bench">
  <bpmn:process id="bench_timer" name="Bench: wait {TIMER_SECONDS} s" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait {TIMER_SECONDS} s">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT{TIMER_SECONDS}S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


class Skipped(Exception):
    """Run (c) cannot run here (a service is unreachable); the reason is printed and recorded."""


def plain_spiffworkflow(seconds: float) -> dict:
    """(a): SpiffWorkflow alone, in a fresh process that loads none of orderflow's engine (bench/plain.py says why)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.plain", str(seconds)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


_ports_taken: set[int] = set()


def free_port() -> int:
    """A free port: from ORDERFLOW_BENCH_PORTS when set, else one the system picks."""
    if PORTS:
        low, _, high = PORTS.partition("-")
        for port in range(int(low), int(high or low) + 1):
            if port in _ports_taken:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_taken.add(port)
            return port
        raise RuntimeError(f"no free port left in ORDERFLOW_BENCH_PORTS={PORTS}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the orderflow processes of a run --------------------------------------------------------------------------


class Processes:
    """The `python -m app.cli ...` processes of one run. Each runs in its own process group with its output in a
    log file, so stop_all() also ends what it started (the server's sandbox, Celery's pool processes)."""

    def __init__(self, log_dir: str):
        self.log_dir = Path(log_dir)
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], prefix: list[str] | None = None) -> Path:
        log = self.log_dir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [*(prefix or []), sys.executable, "-m", "app.cli", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.running.append((name, process))
        return log

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.running}

    def wait_for(self, name: str, pattern: str, timeout: float) -> re.Match:
        """Wait until the process's log shows `pattern`; fail with the log's tail if it exits or times out."""
        process = dict(self.running)[name]
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while True:
            text = log.read_text(errors="replace")
            match = re.search(pattern, text)
            if match:
                return match
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {process.returncode}" if process.returncode is not None else "timed out"
                tail = "\n".join("      " + line for line in text.splitlines()[-15:])
                raise RuntimeError(f"{name} did not start ({state}); its output ends:\n{tail}")
            time.sleep(0.1)

    def stop_all(self, timeout: float = 20) -> None:
        """SIGTERM to each main process (a Celery worker then shuts down warm, the server stops its sandbox),
        newest first; whatever is left of a process group after `timeout` is killed."""
        for _, process in reversed(self.running):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for _, process in reversed(self.running):
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group keeps the leader's id
            except (ProcessLookupError, PermissionError):
                pass
            if process.poll() is None:
                process.wait(5)
        self.running.clear()


def start_server(processes: Processes, env: dict[str, str], prefix: list[str] | None = None) -> str:
    """Start `orderflow serve` and return its URL once it answers /health."""
    processes.start("server", ["serve"], env, prefix)
    url = processes.wait_for("server", r"orderflow listening on (\S+)", timeout=90).group(1)
    requests.get(f"{url}/api/v1/health", timeout=10).raise_for_status()
    return url


def base_env(data_dir: str) -> dict[str, str]:
    """The environment of the server under test: its own data directory, port and sandbox; the embedded
    default unless the caller adds a database and broker."""
    env = {
        **os.environ,
        "ORDERFLOW_DATA_DIR": data_dir,
        "ORDERFLOW_PORT": str(free_port()) if PORTS else "0",
        "ORDERFLOW_SANDBOX_PORT": str(free_port()),
        "ORDERFLOW_API_TOKEN": TOKEN,
    }
    for name in (
        "ORDERFLOW_SANDBOX_URL",
        "ORDERFLOW_PAYMENT_URL",
        "ORDERFLOW_WMS_URL",
        "ORDERFLOW_DATABASE_URL",
        "ORDERFLOW_BROKER_URL",
        "ORDERFLOW_QUEUE",
        "ORDERFLOW_EMBEDDED_WORKERS",
        "ORDERFLOW_SQLITE_SYNCHRONOUS",  # (b) is recorded with the default, group commit
        "ORDERFLOW_PROCESSES",  # and with the default engine processes, one per core
        "ORDERFLOW_URL",
        "ORDERFLOW_WORKER_PROFILE",
    ):
        env.pop(name, None)
    return env


def sandbox_requests(sandbox_url: str) -> int | None:
    """Business requests the sandbox systems received so far (the connectors' HTTP calls)."""
    try:
        return int(requests.get(f"{sandbox_url}/_stats", timeout=10).json()["requests"])
    except (requests.RequestException, KeyError, ValueError):
        return None


class Meter:
    """Counts around the measured orders of one run: CPU per process, connector calls, and whatever `counters`
    reads (PostgreSQL's commits and WAL syncs)."""

    def __init__(self, processes: Processes, sandbox_url: str, postgres: tuple | None = None, redis_client=None):
        self.processes, self.sandbox_url, self.postgres, self.redis = processes, sandbox_url, postgres, redis_client

    def _read(self) -> dict:
        pids = None
        counters = {}
        if self.postgres is not None:
            admin, database = self.postgres
            pids = measure.postgres_backends(admin, database)
            counters = measure.postgres_counters(admin, database)
        return {
            "cpu": measure.snapshot(self.processes.pids(), pids),
            "redisCpu": measure.redis_cpu(self.redis) if self.redis is not None else None,
            "sandbox": sandbox_requests(self.sandbox_url),
            "wall": time.time(),
            **counters,
        }

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> None:
        self.after = self._read()

    def per_order(self, completed: int) -> dict:
        if not completed:
            return {}
        before, after = self.before, self.after
        cpu = after["cpu"].minus(before["cpu"])
        if after["redisCpu"] is not None and before["redisCpu"] is not None:
            cpu["redis (whole server)"] = after["redisCpu"] - before["redisCpu"]
        result = {"cpuMsPerOrder": {role: round(s * 1000 / completed, 2) for role, s in sorted(cpu.items())}}
        if after["sandbox"] is not None and before["sandbox"] is not None:
            result["connectorCallsPerOrder"] = round((after["sandbox"] - before["sandbox"]) / completed, 2)
        if "commits" in after:
            result["commitsPerOrder"] = round((after["commits"] - before["commits"]) / completed, 2)
            if after.get("walSyncs") is not None:
                result["fsyncsPerOrder"] = round((after["walSyncs"] - before["walSyncs"]) / completed, 2)
                result["fsyncsCountedAs"] = "PostgreSQL WAL syncs (pg_stat_wal.wal_sync, whole cluster)"
        return result


def run_orders(url: str, orders: int, concurrency: int, meter: Meter) -> dict:
    simulate(url, TOKEN, orders=min(20, orders), concurrency=concurrency, invalid_share=0, seed=1)  # warm-up
    meter.start()
    result = simulate(url, TOKEN, orders=orders, concurrency=concurrency, invalid_share=0, seed=2).as_dict()
    meter.stop()
    result["perOrder"] = meter.per_order(result["completed"])
    result["perOrder"]["restStartsPerOrder"] = 1
    return result


def _steps_sqlite(data_dir: str, since: float) -> float | None:
    with sqlite3.connect(Path(data_dir) / "orderflow.db") as db:
        row = db.execute(
            "SELECT avg(revision) FROM process_instances WHERE status = 'completed' AND created_at >= ?",
            (_naive(since),),
        ).fetchone()
    return None if row[0] is None else round(row[0], 2)


def _naive(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None).isoformat(sep=" ")


def orderflow_embedded(
    orders: int,
    concurrency: int,
    open_loop_at: Callable[[float], list[float]] | None = None,
    open_seconds: float = 0,
    count_fsyncs: bool = False,
) -> dict:
    """One (b) run on SQLite. `open_loop_at(throughput of this run)` gives the rates of the open-loop runs that
    follow on the same server. `count_fsyncs` runs the server under strace to count its fsyncs: a run of its own,
    because tracing slows the server and the sandbox it starts (measured: about a tenth fewer orders per second, and
    the sandbox's CPU per order more than doubled), so the runs whose throughput is reported are never traced."""
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
        processes = Processes(data_dir)
        trace = Path(data_dir) / "fsyncs.log"
        prefix = measure.strace_prefix(trace) if count_fsyncs else None
        try:
            env = base_env(data_dir)
            url = start_server(processes, env, prefix)
            meter = Meter(processes, f"http://127.0.0.1:{env['ORDERFLOW_SANDBOX_PORT']}")
            result = run_orders(url, orders, concurrency, meter)
            per_order = result["perOrder"]
            per_order["engineStepsPerOrder"] = _steps_sqlite(data_dir, meter.before["wall"])
            if prefix is not None:
                fsyncs = measure.fsyncs_between(trace, meter.before["wall"], meter.after["wall"])
                if fsyncs is not None and result["completed"]:
                    per_order["fsyncsPerOrder"] = round(fsyncs / result["completed"], 2)
                    per_order["fsyncsCountedAs"] = (
                        f"fsync/fdatasync calls of the server (strace), in a {orders}-order run of its own"
                    )
            rates = open_loop_at(result["ordersPerSecond"]) if open_loop_at is not None else []
            result["openLoop"] = [open_loop(url, TOKEN, rate, open_seconds) for rate in rates]
            return result
        finally:
            processes.stop_all()


# -- (c) the distributed set-up --------------------------------------------------------------------------------


def _postgres_admin():
    """An autocommit connection to the bench's PostgreSQL server, or Skipped with the reason."""
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    try:
        import psycopg
    except ImportError as exc:
        raise Skipped(f"the PostgreSQL driver is not installed ({exc}); install the `postgres` extra") from exc
    try:
        return url, psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        raise Skipped(f"PostgreSQL at {where} is unreachable ({str(exc).strip().splitlines()[0]})") from exc


def _redis_db() -> tuple[str, object]:
    """A broker URL on a Redis database: the one ORDERFLOW_BENCH_REDIS_URL names, or else an empty one picked at
    random (so that runs at the same time rarely share one; the queue name is unique anyway), or Skipped."""
    import redis

    parts = urlsplit(REDIS_URL)
    server = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    try:
        client = redis.Redis.from_url(server, socket_connect_timeout=2, socket_timeout=5)
        client.ping()
        if parts.path.strip("/"):
            return REDIS_URL, redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        try:
            databases = int(client.config_get("databases").get("databases", 16))
        except redis.ResponseError:  # CONFIG is disabled on some servers
            databases = 16
        clients = {db: redis.Redis.from_url(f"{server}/{db}", socket_timeout=5) for db in range(1, databases)}
        empty = [db for db, candidate in clients.items() if candidate.dbsize() == 0] or [databases - 1]
        db = random.choice(empty)
        return f"{server}/{db}", clients[db]
    except redis.RedisError as exc:
        raise Skipped(f"Redis at {parts.hostname}:{parts.port or 6379} is unreachable ({exc})") from exc


def _clean_redis(client, queue: str) -> None:
    """Remove the run's queue and bindings; kombu's shared bookkeeping keys go too if nothing else is left."""
    try:
        keys = [k for k in client.scan_iter(match=f"*{queue}*")]
        if keys:
            client.delete(*keys)
        rest = [k.decode() for k in client.scan_iter(count=100)]
        if rest and all(k.startswith(("_kombu.", "unacked")) for k in rest):
            client.delete(*rest)
    except Exception as exc:  # cleaning up must not hide the run's own outcome
        print(f"    note: could not clean up the Redis queue {queue}: {exc}", flush=True)


def timer_lateness(url: str, instances: int) -> dict:
    """Start `instances` instances of a process with a PT2S intermediate timer back to back from one client and
    measure, per instance, when the timer element completed (audit trail) minus when it was due (the timer job)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with requests.Session() as http:
        http.headers.update(auth)
        deployed = http.post(
            f"{url}/api/v1/deployments",
            files=[("files", ("bench_timer.bpmn", TIMER_PROCESS, "application/xml"))],
            timeout=(5, 60),
        )
        deployed.raise_for_status()
        prefix = f"TIMER-{uuid.uuid4().hex[:8]}-"
        ids = []
        for n in range(instances):
            response = http.post(
                f"{url}/api/v1/process-definitions/bench_timer/instances",
                json={"businessKey": f"{prefix}{n}"},
                timeout=(5, 30),
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
        deadline = time.monotonic() + TIMER_SECONDS + 60
        params = {"businessKeyPrefix": prefix, "status": "completed", "perPage": 1}
        while time.monotonic() < deadline:
            if http.get(f"{url}/api/v1/process-instances", params=params, timeout=(5, 30)).json()["total"] >= instances:
                break
            time.sleep(0.25)
        lateness, missing = [], 0
        for instance_id in ids:
            view = http.get(f"{url}/api/v1/process-instances/{instance_id}", timeout=(5, 30)).json()
            events = http.get(f"{url}/api/v1/process-instances/{instance_id}/events", timeout=(5, 30)).json()["items"]
            due = next((j["dueAt"] for j in view.get("jobs") or [] if j["kind"] == "timer"), None)
            completed = [e for e in events if e["type"] == "element_completed" and e["elementId"] == "wait"]
            fired = completed[0]["at"] if completed else None
            if due is None or fired is None:
                missing += 1
                continue
            lateness.append((_parse(fired) - _parse(due)).total_seconds() * 1000)
    return {
        "instances": instances,
        "timer": f"PT{TIMER_SECONDS}S",
        "fired": len(lateness),
        "notFired": missing,
        "latenessMs": {
            "p50": round(percentile(lateness, 50), 1),
            "p99": round(percentile(lateness, 99), 1),
            "max": round(max(lateness), 1) if lateness else 0.0,
            "min": round(min(lateness), 1) if lateness else 0.0,
        },
    }


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.rstrip("Z"))


def on_postgres(
    workers: int,
    orders: int,
    concurrency: int,
    *,
    admin,
    pg_url,
    broker: tuple[str, object] | None,
    timer_instances: int = 0,
    profile_dir: str | None = None,
) -> dict:
    """One run of (c) on a fresh database: `workers` = 0 is the embedded engine (no broker), else that many
    Celery worker processes and a scheduler."""
    run = uuid.uuid4().hex[:10]
    database, queue = f"orderflow_bench_{run}", f"orderflow-bench-{run}"
    admin.execute(f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
            processes = Processes(data_dir)
            try:
                database_url = pg_url.set(drivername="postgresql+psycopg", database=database)
                env = {**base_env(data_dir), "ORDERFLOW_DATABASE_URL": database_url.render_as_string(False)}
                if workers:
                    env |= {"ORDERFLOW_BROKER_URL": broker[0], "ORDERFLOW_QUEUE": queue}
                url = start_server(processes, env)  # applies the migrations, deploys, starts the sandbox
                if workers:
                    worker_env = {**env, "ORDERFLOW_WORKER_PROFILE": profile_dir} if profile_dir else env
                    names = [f"worker-{n + 1}" for n in range(workers)]
                    for name in names:
                        processes.start(name, ["worker", *WORKER_ARGS], worker_env)
                    processes.start("scheduler", ["scheduler"], env)
                    for name in names:
                        processes.wait_for(name, r"celery@\S+ ready\.", timeout=90)
                    processes.wait_for("scheduler", r"scheduler sweeping", timeout=60)
                health = requests.get(
                    f"{url}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
                ).json()
                expected = "celery" if workers else "embedded"
                if health["status"] != "ok" or health["checks"]["workers"]["transport"] != expected:
                    raise RuntimeError(f"the server on PostgreSQL is not healthy: {health}")
                sandbox = f"http://127.0.0.1:{env['ORDERFLOW_SANDBOX_PORT']}"
                meter = Meter(processes, sandbox, (admin, database), broker[1] if workers and broker else None)
                result = run_orders(url, orders, concurrency, meter)
                result["perOrder"]["engineStepsPerOrder"] = _steps_postgres(pg_url, database, meter.before["wall"])
                if timer_instances:
                    result["timerLateness"] = timer_lateness(url, timer_instances)
            finally:
                processes.stop_all()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if workers and broker:
            _clean_redis(broker[1], queue)
    result["workers"] = workers
    result["concurrency"] = concurrency
    return result


def _steps_postgres(pg_url, database: str, since: float) -> float | None:
    import psycopg

    with psycopg.connect(pg_url.set(database=database).render_as_string(hide_password=False)) as db:
        row = db.execute(
            "SELECT avg(revision) FROM process_instances WHERE status = 'completed' AND created_at >= %s",
            (_naive(since),),
        ).fetchone()
    return None if row[0] is None else round(float(row[0]), 2)


def distributed(
    orders: int,
    concurrency: int,
    worker_counts: list[int],
    timer_instances: int,
    profile_dir: str | None,
    rounds: int = 1,
) -> dict:
    """Run (c): per round, the embedded engine on PostgreSQL, then each worker count; each set-up's figure is the
    median over the rounds, and its ratio to embedded the median of the rounds' ratios (a round's set-ups run
    minutes apart, rounds further apart). Raises Skipped before starting anything when PostgreSQL or Redis is
    unreachable."""
    pg_url, admin = _postgres_admin()
    try:
        broker = _redis_db()
    except Skipped:
        admin.close()
        raise
    names = ["embedded", *(_workers(n) for n in worker_counts)]
    all_rounds: dict[str, list[dict]] = {name: [] for name in names}
    try:
        for n in range(rounds):
            label = f" (round {n + 1}/{rounds})" if rounds > 1 else ""
            print(f"    embedded engine on PostgreSQL, {orders} orders{label} ...", flush=True)
            embedded = on_postgres(0, orders, concurrency, admin=admin, pg_url=pg_url, broker=None)
            all_rounds["embedded"].append(embedded)
            _say(embedded)
            for workers in worker_counts:
                print(f"    {workers} worker process(es) + scheduler, {orders} orders{label} ...", flush=True)
                run = on_postgres(
                    workers,
                    orders,
                    concurrency,
                    admin=admin,
                    pg_url=pg_url,
                    broker=broker,
                    timer_instances=timer_instances if workers == 2 and n == rounds - 1 else 0,
                    profile_dir=profile_dir,
                )
                run["ratioToEmbedded"] = round(run["ordersPerSecond"] / max(embedded["ordersPerSecond"], 1e-9), 3)
                all_rounds[_workers(workers)].append(run)
                _say(run)
    finally:
        admin.close()
    runs = {}
    for name, measured in all_rounds.items():
        summary = dict(measured[-1])  # the costs per order and the timers of the last round
        summary["ordersPerSecond"] = round(statistics.median(r["ordersPerSecond"] for r in measured), 2)
        summary["ordersPerSecondRounds"] = [r["ordersPerSecond"] for r in measured]
        if name != "embedded":
            summary["ratioToEmbedded"] = round(statistics.median(r["ratioToEmbedded"] for r in measured), 3)
        runs[name] = summary
    if rounds > 1:
        print("    medians over the rounds:", flush=True)
        for name, run in runs.items():
            share = f", {run['ratioToEmbedded']:.2f} of embedded" if "ratioToEmbedded" in run else ""
            print(f"      {name}: {run['ordersPerSecond']} orders/s{share} {run['ordersPerSecondRounds']}", flush=True)
    return {
        "database": "postgresql",
        "broker": "redis",
        "workerArgs": " ".join(WORKER_ARGS),
        "rounds": rounds,
        "runs": runs,
    }


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count != 1 else ''}"


def _say(run: dict) -> None:
    lat = run["latencyMs"]
    ratio = f", {run['ratioToEmbedded']:.2f} of embedded" if "ratioToEmbedded" in run else ""
    print(
        f"      {run['ordersPerSecond']} orders/s{ratio} ({run['completed']}/{run['orders']} completed; "
        f"burst latency p50 {lat['p50']} ms, p99 {lat['p99']} ms)",
        flush=True,
    )
    print_costs(run["perOrder"], indent="      ")
    if "timerLateness" in run:
        timers = run["timerLateness"]
        late = timers["latenessMs"]
        print(
            f"      timer lateness ({timers['fired']}/{timers['instances']} {timers['timer']} timers fired): "
            f"p50 {late['p50']} ms, p99 {late['p99']} ms, max {late['max']} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    quick = os.environ.get("ORDERFLOW_BENCH_QUICK", "") not in ("", "0", "false")
    parser.add_argument("--quick", action="store_true", default=quick, help="fewer orders and rounds (iterating)")
    parser.add_argument("--orders", type=int, help="orders per (b) round and per (c) run (default 500, quick 150)")
    parser.add_argument("--rounds", type=int, help="rounds of (a) then (b) (default 3, quick 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="REST clients starting orders")
    parser.add_argument("--plain-seconds", type=float, help="how long each (a) runs (default 10, quick 3)")
    parser.add_argument("--open-loop-seconds", type=float, help="length of each open-loop run (default 30, quick 10)")
    parser.add_argument("--workers", default="1,2,3", help="Celery worker counts of (c), comma-separated")
    parser.add_argument("--c-rounds", type=int, help="rounds of (c) (default 2, quick 1)")
    parser.add_argument("--timer-instances", type=int, help="timers after the 2-worker run (default 50, quick 20)")
    parser.add_argument("--only", default="abcdef", help="which parts to run, e.g. 'c' or 'ab'")
    parser.add_argument(
        "--worker-args", default=" ".join(WORKER_ARGS), help="options of each `orderflow worker` in (c)"
    )
    parser.add_argument("--profile-workers", metavar="DIR", help="cProfile each Celery worker process into DIR")
    args = parser.parse_args()
    orders = args.orders or (150 if args.quick else 500)
    rounds = args.rounds or (2 if args.quick else 3)
    plain_seconds = args.plain_seconds or (3.0 if args.quick else 10.0)
    open_seconds = args.open_loop_seconds or (10.0 if args.quick else 30.0)
    timer_instances = args.timer_instances if args.timer_instances is not None else (20 if args.quick else 50)
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    WORKER_ARGS[:] = args.worker_args.split()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below when killed
    command = " ".join(["make bench" if not args.quick else "make bench-quick", *sys.argv[1:]])
    figures: dict = {
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "diagram": "bpmn/order_fulfillment.bpmn",
        "quick": args.quick,
    }
    failure = None

    if "a" in args.only and "b" in args.only:
        plain_runs, embedded_runs, ratios, cpu_ratios = [], [], [], []
        for n in range(rounds):
            last = n == rounds - 1
            print(f"round {n + 1}/{rounds}: (a) plain SpiffWorkflow for {plain_seconds:.0f} s ...", flush=True)
            plain = plain_spiffworkflow(plain_seconds)
            print(f"    {plain['ordersPerSecond']} orders/s, {plain['cpuMsPerOrder']} ms CPU per order", flush=True)
            print(f"round {n + 1}/{rounds}: (b) orderflow end to end, {orders} orders ...", flush=True)

            def rates(this_run: float, earlier=tuple(r["ordersPerSecond"] for r in embedded_runs)) -> list[float]:
                capacity = statistics.median([*earlier, this_run])  # the maximum throughput measured so far
                return [capacity * share for share in OPEN_LOOP_SHARES]

            # The last round's server goes on with the open loop once its own orders are measured.
            run = orderflow_embedded(orders, args.concurrency, rates if last else None, open_seconds)
            ratio = run["ordersPerSecond"] / plain["ordersPerSecond"]
            plain_runs.append(plain)
            embedded_runs.append(run)
            ratios.append(ratio)
            cpu = run["perOrder"].get("cpuMsPerOrder", {})
            spent = cpu.get("server", 0.0) + cpu.get("sandbox", 0.0)
            if spent:  # what each order costs in CPU, whatever share of the machine each side got
                cpu_ratios.append(plain["cpuMsPerOrder"] / spent)
            print(
                f"    {run['ordersPerSecond']} orders/s ({run['completed']}/{orders} completed), b/a = {ratio:.3f}",
                flush=True,
            )
            print_costs(run["perOrder"], indent="    ")
            for loop in run.get("openLoop", []):
                lat = loop["latencyMs"]
                print(
                    f"    open loop at {loop['ratePerSecond']} orders/s for {loop['seconds']:.0f} s: "
                    f"p50 {lat['p50']} ms, p99 {lat['p99']} ms ({loop['completed']}/{loop['orders']} completed)",
                    flush=True,
                )
        fsync_orders = min(orders, 200)
        print(f"(b) once more, {fsync_orders} orders with the server under strace, to count its fsyncs ...", flush=True)
        counted = orderflow_embedded(fsync_orders, args.concurrency, count_fsyncs=True)["perOrder"]
        if "fsyncsPerOrder" in counted:
            print(f"    fsyncs per order: {counted['fsyncsPerOrder']}", flush=True)
            for run in embedded_runs:
                run["perOrder"]["fsyncsPerOrder"] = counted["fsyncsPerOrder"]
                run["perOrder"]["fsyncsCountedAs"] = counted["fsyncsCountedAs"]
        else:
            print("    not counted: strace is missing or cannot trace here", flush=True)
        median = statistics.median(ratios)
        print(f"ratio b/a = {median:.3f} (median of {rounds} rounds, {min(ratios):.3f} to {max(ratios):.3f})")
        cpu_median = statistics.median(cpu_ratios) if cpu_ratios else None
        if cpu_median is not None:
            print(
                f"by CPU per order, a / (b's server + sandbox) = {cpu_median:.3f} (median; the throughput ratio moves "
                "with how a busy machine shares its cores, this one does not)",
                flush=True,
            )
        figures |= {
            "plainSpiffWorkflow": plain_runs,
            "orderflowEndToEnd": embedded_runs,
            "endToEndSettings": {
                "concurrency": args.concurrency,
                "database": "sqlite (WAL, group commit)",
                "engineProcesses": process_count("auto"),  # `orderflow serve`'s default (app/serving.py)
            },
            "ratio": {"median": round(median, 4), "min": round(min(ratios), 4), "max": round(max(ratios), 4)},
            "cpuRatio": None if cpu_median is None else round(cpu_median, 4),
            "openLoop": embedded_runs[-1].get("openLoop", []),
        }

    if "c" in args.only:
        print(f"(c) distributed scaling on PostgreSQL + Redis ({' '.join(WORKER_ARGS)} each) ...", flush=True)
        try:
            figures["distributed"] = distributed(
                orders,
                args.concurrency,
                worker_counts,
                timer_instances,
                args.profile_workers,
                rounds=args.c_rounds or (1 if args.quick else 2),
            )
        except Skipped as exc:
            print(f"    skipped: {exc}", flush=True)
            figures["distributed"] = {"skipped": str(exc)}
        except Exception as exc:
            failure = f"{exc.__class__.__name__}: {exc}"
            print(f"    failed: {failure}", flush=True)
            figures["distributed"] = {"failed": failure}
        if args.profile_workers:
            print_profiles(Path(args.profile_workers))

    if "d" in args.only:
        print("(d) decisions: one 20-rule table, orderflow's DMN engine vs SpiffWorkflow's ...", flush=True)
        figures["decisions"] = decisions = decision_speed()
        for name, case in decisions["cases"].items():
            print(
                f"    {name}: orderflow {case['orderflowMicroseconds']} µs, "
                f"SpiffWorkflow {case['spiffWorkflowMicroseconds']} µs, {case['ratio']}x faster"
            )

    if "e" in args.only:
        events = 100_000 if args.quick else 1_000_000
        print(f"(e) monitoring: the dashboard's queries on {events:,} audit events in SQLite ...", flush=True)
        figures["monitoring"] = monitoring = monitoring_speed(events)
        for name, milliseconds in monitoring["milliseconds"].items():
            print(f"    {name}: {milliseconds} ms")

    if "f" in args.only:
        from bench.tracing import tracing_overhead

        orders, rounds = (50, 2) if args.quick else (100, 4)
        print(f"(f) tracing: CPU per order in process, off and on (OTLP to a local sink), {rounds} rounds ...")
        figures["tracing"] = tracing = tracing_overhead(orders=orders, rounds=rounds)
        cpu = tracing["cpuMsPerOrder"]
        print(f"    off {cpu['off']} ms, on {cpu['on']} ms per order: {tracing['overheadPercent']:+}%", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "latest-quick" if args.quick else "latest"
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(figures))
    print(f"figures written to bench/results/{name}.json and {name}.md")
    if failure:
        sys.exit(1)


def machine() -> dict:
    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "cpus": os.cpu_count(),
        "cpuModel": model,
        "memoryGiB": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "loadAverageAtStart": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def print_profiles(directory: Path, top: int = 25) -> None:
    """The workers' cProfile files merged: where a worker's CPU per job goes, by cumulative time."""
    import pstats

    files = sorted(directory.glob("worker-*.prof"))
    if not files:
        print(f"    no worker profiles in {directory}")
        return
    stats = pstats.Stats(str(files[0]))
    for other in files[1:]:
        stats.add(str(other))
    print(f"    worker profile ({len(files)} processes), top {top} by cumulative time; full data in {directory}")
    stats.sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    main()
