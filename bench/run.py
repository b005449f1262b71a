"""`make bench`: orderflow end to end against plain SpiffWorkflow on the same diagram, in one run.

(a) plain SpiffWorkflow runs bpmn/order_fulfillment.bpmn in memory, completing the service tasks inline;
(b) orderflow runs the same orders end to end: REST start, jobs through the embedded runner, the sandbox
    payment and warehouse systems over HTTP, SQLite on disk, until every order is completed;
(c) the same orders on the distributed set-up: `orderflow serve` on a fresh PostgreSQL database, two Celery workers
    (`orderflow worker --concurrency 1`) and one `orderflow scheduler` on Redis. Then 50 instances of a process with a
    2-second intermediate timer measure how late due timers fire. Skipped, with the reason, when PostgreSQL or Redis
    is unreachable (ORDERFLOW_BENCH_POSTGRES_URL, ORDERFLOW_BENCH_REDIS_URL).
(d) one decision table, orderflow's DMN engine against SpiffWorkflow's (bench/decisions.py); (e) the monitoring
    queries on 1,000,000 audit events (bench/monitoring.py).
The ratio b/a is what the README reports, with c/b for the distributed run. Figures go to bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.task import TaskState

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM = ROOT / "bpmn" / "order_fulfillment.bpmn"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from app.simulate import make_order, percentile, simulate  # noqa: E402
from bench.decisions import decision_speed  # noqa: E402
from bench.monitoring import monitoring_speed  # noqa: E402

TOKEN = "bench-token"
POSTGRES_URL = os.environ.get("ORDERFLOW_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ORDERFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379")

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


def plain_spiffworkflow(orders: int) -> dict:
    """Orders per second of SpiffWorkflow alone: spec parsed once, no persistence, no HTTP."""
    logging.getLogger("spiff").setLevel(logging.WARNING)
    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec, subprocess_specs = parser.get_spec("order_fulfillment"), parser.get_subprocess_specs("order_fulfillment")
    rng = random.Random(7)
    variables = [make_order(rng) for _ in range(orders)]
    started = time.perf_counter()
    for order in variables:
        workflow = BpmnWorkflow(spec, subprocess_specs)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(order)
        workflow.do_engine_steps()
        while not workflow.is_completed():
            for task in workflow.get_tasks(state=TaskState.STARTED):
                task.data[f"{task.task_spec.bpmn_id}_result"] = "ok"
                task.complete()
            workflow.do_engine_steps()
    seconds = time.perf_counter() - started
    return {"orders": orders, "seconds": round(seconds, 3), "ordersPerSecond": round(orders / seconds, 1)}


def free_port() -> int:
    import socket

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

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Path:
        log = self.log_dir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.running.append((name, process))
        return log

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


def start_server(processes: Processes, env: dict[str, str]) -> str:
    """Start `orderflow serve` (ORDERFLOW_PORT=0 in env) and return its URL once it answers /health."""
    processes.start("serve", ["serve"], env)
    url = processes.wait_for("serve", r"orderflow listening on (\S+)", timeout=90).group(1)
    requests.get(f"{url}/api/v1/health", timeout=10).raise_for_status()
    return url


def base_env(data_dir: str) -> dict[str, str]:
    """The environment of the server under test: its own data directory, port and sandbox; the embedded
    default unless the caller adds a database and broker."""
    env = {
        **os.environ,
        "ORDERFLOW_DATA_DIR": data_dir,
        "ORDERFLOW_PORT": "0",
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
        "ORDERFLOW_SQLITE_SYNCHRONOUS",  # (b) is recorded as synchronous=FULL, the default
        "ORDERFLOW_URL",
    ):
        env.pop(name, None)
    return env


def run_orders(url: str, orders: int, concurrency: int) -> dict:
    simulate(url, TOKEN, orders=min(20, orders), concurrency=concurrency, invalid_share=0, seed=1)  # warm-up
    return simulate(url, TOKEN, orders=orders, concurrency=concurrency, invalid_share=0, seed=2).as_dict()


def orderflow_end_to_end(orders: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
        processes = Processes(data_dir)
        try:
            url = start_server(processes, base_env(data_dir))
            return run_orders(url, orders, concurrency)
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
    """A broker URL on an empty Redis database (picked at random among the empty ones, so that runs at the same
    time rarely share one; the queue name is unique anyway), or Skipped with the reason."""
    import redis

    parts = urlsplit(REDIS_URL)
    server = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    try:
        client = redis.Redis.from_url(server, socket_connect_timeout=2, socket_timeout=5)
        client.ping()
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


def orderflow_distributed(orders: int, concurrency: int, timer_instances: int) -> dict:
    """Run (c). Raises Skipped before starting anything when PostgreSQL or Redis is unreachable."""
    pg_url, admin = _postgres_admin()
    try:
        broker_url, redis_client = _redis_db()
    except Skipped:
        admin.close()
        raise
    run = uuid.uuid4().hex[:10]
    database, queue = f"orderflow_bench_{run}", f"orderflow-bench-{run}"
    created = False
    try:
        with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
            processes = Processes(data_dir)
            try:
                admin.execute(f'CREATE DATABASE "{database}"')
                created = True
                database_url = pg_url.set(drivername="postgresql+psycopg", database=database)
                env = {
                    **base_env(data_dir),
                    "ORDERFLOW_DATABASE_URL": database_url.render_as_string(hide_password=False),
                    "ORDERFLOW_BROKER_URL": broker_url,
                    "ORDERFLOW_QUEUE": queue,
                }
                url = start_server(processes, env)  # applies the migrations, deploys, starts the sandbox
                for name in ("worker-1", "worker-2"):
                    processes.start(name, ["worker", "--concurrency", "1"], env)
                processes.start("scheduler", ["scheduler"], env)
                for name in ("worker-1", "worker-2"):
                    processes.wait_for(name, r"celery@\S+ ready\.", timeout=90)
                processes.wait_for("scheduler", r"scheduler sweeping", timeout=60)
                health = requests.get(
                    f"{url}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
                ).json()
                if health["status"] != "ok" or health["checks"]["workers"]["transport"] != "celery":
                    raise RuntimeError(f"the distributed server is not healthy: {health}")
                result = run_orders(url, orders, concurrency)
                result["timerLateness"] = timer_lateness(url, timer_instances)
            finally:
                processes.stop_all()
    finally:
        try:
            if created:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            admin.close()
            _clean_redis(redis_client, queue)
    return {
        **result,
        "concurrency": concurrency,
        "database": "postgresql",
        "broker": "redis",
        "workers": "2 x `orderflow worker --concurrency 1`, 1 x `orderflow scheduler`",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timer-instances", type=int, default=50)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below when killed

    print(f"(a) plain SpiffWorkflow, {args.orders} orders in memory ...", flush=True)
    plain = plain_spiffworkflow(args.orders)
    print(f"    {plain['ordersPerSecond']} orders/s", flush=True)
    print(f"(b) orderflow end to end, {args.orders} orders from {args.concurrency} REST clients ...", flush=True)
    end_to_end = orderflow_end_to_end(args.orders, args.concurrency)
    ratio = end_to_end["ordersPerSecond"] / plain["ordersPerSecond"]
    lat = end_to_end["latencyMs"]
    print(f"    {end_to_end['ordersPerSecond']} completed orders/s ({end_to_end['completed']}/{args.orders} completed)")
    print(f"    start-to-completion latency p50 {lat['p50']} ms, p99 {lat['p99']} ms")
    print(f"ratio b/a = {ratio:.3f}  (target >= 0.2; SpiffArena reaches about 0.02)", flush=True)

    print(
        f"(c) orderflow distributed: PostgreSQL, Redis, 2 Celery workers of 1 process and a scheduler, "
        f"{args.orders} orders from {args.concurrency} REST clients ...",
        flush=True,
    )
    failure = None
    try:
        distributed = orderflow_distributed(args.orders, args.concurrency, args.timer_instances)
    except Skipped as exc:
        print(f"    skipped: {exc}", flush=True)
        distributed = {"skipped": str(exc)}
    except Exception as exc:
        failure = f"{exc.__class__.__name__}: {exc}"
        print(f"    failed: {failure}", flush=True)
        distributed = {"failed": failure}
    else:
        lat = distributed["latencyMs"]
        distributed["ratioToEmbedded"] = round(distributed["ordersPerSecond"] / end_to_end["ordersPerSecond"], 4)
        completed = f"{distributed['completed']}/{args.orders} completed"
        print(f"    {distributed['ordersPerSecond']} completed orders/s ({completed})")
        print(f"    start-to-completion latency p50 {lat['p50']} ms, p99 {lat['p99']} ms")
        print(f"ratio c/b = {distributed['ratioToEmbedded']:.3f}")
        timers = distributed["timerLateness"]
        late = timers["latenessMs"]
        print(
            f"    timer lateness ({timers['fired']}/{timers['instances']} {timers['timer']} timers fired): "
            f"p50 {late['p50']} ms, p99 {late['p99']} ms, max {late['max']} ms"
        )

    print("(d) decisions: one 20-rule table, orderflow's DMN engine vs SpiffWorkflow's ...", flush=True)
    decisions = decision_speed()
    for name, case in decisions["cases"].items():
        print(
            f"    {name}: orderflow {case['orderflowMicroseconds']} µs, "
            f"SpiffWorkflow {case['spiffWorkflowMicroseconds']} µs, {case['ratio']}x faster"
        )

    print("(e) monitoring: the dashboard's queries on 1,000,000 audit events in SQLite ...", flush=True)
    monitoring = monitoring_speed()
    for name, milliseconds in monitoring["milliseconds"].items():
        print(f"    {name}: {milliseconds} ms")

    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "diagram": "bpmn/order_fulfillment.bpmn",
        "plainSpiffWorkflow": plain,
        "orderflowEndToEnd": {
            **end_to_end,
            "concurrency": args.concurrency,
            "database": "sqlite (WAL, synchronous=FULL)",
        },
        "ratio": round(ratio, 4),
        "orderflowDistributed": distributed,
        "decisions": decisions,
        "monitoring": monitoring,
    }
    (RESULTS / "latest.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {(RESULTS / 'latest.json').relative_to(ROOT)}")
    if failure:
        sys.exit(1)


if __name__ == "__main__":
    main()
