"""`make bench`: orderflow end to end against plain SpiffWorkflow on the same diagram, in one run.

(a) plain SpiffWorkflow runs bpmn/order_fulfillment.bpmn in memory, completing the service tasks inline;
(b) orderflow runs the same orders end to end: REST start, jobs through the embedded runner, the sandbox
    payment and warehouse systems over HTTP, SQLite on disk, until every order is completed.
The ratio b/a is what the README reports. Figures go to bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.task import TaskState

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM = ROOT / "bpmn" / "order_fulfillment.bpmn"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from app.simulate import make_order, simulate  # noqa: E402

TOKEN = "bench-token"


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


def orderflow_end_to_end(orders: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-") as data_dir:
        env = {
            **os.environ,
            "ORDERFLOW_DATA_DIR": data_dir,
            "ORDERFLOW_PORT": "0",
            "ORDERFLOW_SANDBOX_PORT": str(free_port()),
            "ORDERFLOW_API_TOKEN": TOKEN,
        }
        env.pop("ORDERFLOW_SANDBOX_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        try:
            url = None
            for _ in range(5):
                line = server.stdout.readline()
                if line.startswith("orderflow listening on "):
                    url = line.split()[3]
                    break
            if url is None:
                raise SystemExit("the orderflow server did not start")
            requests.get(f"{url}/api/v1/health", timeout=10).raise_for_status()
            simulate(url, TOKEN, orders=min(20, orders), concurrency=concurrency, invalid_share=0, seed=1)  # warm-up
            result = simulate(url, TOKEN, orders=orders, concurrency=concurrency, invalid_share=0, seed=2)
        finally:
            server.terminate()
            server.wait(10)
    return result.as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    print(f"(a) plain SpiffWorkflow, {args.orders} orders in memory ...", flush=True)
    plain = plain_spiffworkflow(args.orders)
    print(f"    {plain['ordersPerSecond']} orders/s", flush=True)
    print(f"(b) orderflow end to end, {args.orders} orders from {args.concurrency} REST clients ...", flush=True)
    end_to_end = orderflow_end_to_end(args.orders, args.concurrency)
    ratio = end_to_end["ordersPerSecond"] / plain["ordersPerSecond"]
    lat = end_to_end["latencyMs"]
    print(f"    {end_to_end['ordersPerSecond']} completed orders/s ({end_to_end['completed']}/{args.orders} completed)")
    print(f"    start-to-completion latency p50 {lat['p50']} ms, p99 {lat['p99']} ms")
    print(f"ratio b/a = {ratio:.3f}  (target >= 0.2; SpiffArena reaches about 0.02)")

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
    }
    (RESULTS / "latest.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {(RESULTS / 'latest.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
