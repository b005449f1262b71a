"""What tracing costs: CPU per order with tracing off and on, in one process, several rounds.

Each round runs the same orders of `bpmn/order_fulfillment.bpmn` through the whole path in this process: the REST
start (Flask test client, so the request span is made), then every job claimed and run here as a worker thread
would (the connector calls go over HTTP to the sandbox systems, a process of their own), each result an engine
step, on SQLite in a fresh folder. Tracing on is the production set-up: the Flask instrumentation, spans for
steps, jobs and calls, a batch span processor and the OTLP/HTTP exporter sending protobuf to a local sink (a
process of its own that answers 200); the exporter's thread is flushed before the round's clock stops, so its
work is counted. CPU is `time.process_time()` of this process (every thread); the sandbox and the sink are not in
it. Rounds alternate off and on, after one warm-up round of each, and the medians are compared.

Run alone: `python -m bench.tracing [--orders 100 --rounds 4]`; `bench/run.py` calls `tracing_overhead()`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"
SINK = """
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(f"sink listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
"""


def _counter() -> Any:
    """A span processor that only counts the spans that ended."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Counted(SpanProcessor):
        spans = 0

        def on_end(self, span: Any) -> None:
            self.spans += 1

    return Counted()


@contextmanager
def _process(argv: list[str], marker: str):
    """A helper process that prints `marker ...URL` on its first line; yields the URL."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if marker not in line:
            raise RuntimeError(f"{argv[2]} did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(5)


def _round(sandbox_url: str, orders: list[dict[str, Any]], traced: bool, otlp_url: str) -> dict[str, Any]:
    from app import create_app
    from app.migrations import upgrade
    from observability import tracing
    from processes.core.db import make_engine
    from processes.deployment.deployments import deploy

    counted = _counter()
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-tracing-") as folder:
        db_url = f"sqlite:///{Path(folder) / 'orderflow.db'}"
        sql_engine = make_engine(db_url)
        upgrade(sql_engine)
        sql_engine.dispose()
        if traced:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracing.start(exporter=OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces"))
            tracing.provider().add_span_processor(counted)
        try:
            app = create_app(
                {
                    "ORDERFLOW_DATA_DIR": folder,
                    "SQLALCHEMY_DATABASE_URI": db_url,
                    "ORDERFLOW_API_TOKEN": TOKEN,
                    "ORDERFLOW_EMBEDDED_WORKERS": False,
                    "ORDERFLOW_SANDBOX": False,
                    "ORDERFLOW_CONNECTOR_SETTINGS": {},
                    "ORDERFLOW_SANDBOX_URL": sandbox_url,
                }
            )
            services = app.extensions["orderflow"]
            shipped = ROOT / "bpmn" / "order_fulfillment.bpmn"
            deploy(services.engine, [(shipped.name, shipped.read_bytes())], actor="bench")
            client = app.test_client()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            topics = services.connectors.topics()
            cpu, wall = time.process_time(), time.perf_counter()
            for n, variables in enumerate(orders):
                response = client.post(
                    "/api/v1/process-definitions/order_fulfillment/instances",
                    json={"businessKey": f"BENCH-{n}", "variables": variables},
                    headers=headers,
                )
                if response.status_code != 201:
                    raise RuntimeError(f"start failed: {response.status_code} {response.get_data(as_text=True)}")
                while claimed := services.jobs.claim("bench", limit=10, topics=topics):
                    for job in claimed:
                        services.jobs.run(job)
            provider = tracing.provider()
            if provider is not None:
                provider.force_flush()  # the exporter's work belongs to this round
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            with services.engine.read_session() as session:
                from sqlalchemy import func, select

                from processes.core.models import ProcessInstance

                completed = session.scalar(
                    select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "completed")
                )
        finally:
            tracing.stop()
    return {
        "tracing": "on" if traced else "off",
        "completed": completed,
        "cpuMsPerOrder": round(cpu * 1000 / len(orders), 2),
        "wallMsPerOrder": round(wall * 1000 / len(orders), 2),
        "spansPerOrder": round(counted.spans / len(orders), 1),
    }


def tracing_overhead(orders: int = 100, rounds: int = 4) -> dict[str, Any]:
    """CPU per order with tracing off and on (medians of `rounds` rounds each), and the overhead in percent."""
    from app.simulate import make_order

    logging.getLogger("spiff").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rng = random.Random(11)
    batch = [make_order(rng) for _ in range(orders)]
    sandbox_argv = [sys.executable, "-m", "connectors.sandbox", "--host", "127.0.0.1", "--port", "0"]
    with (
        _process(sandbox_argv, "sandbox listening") as sandbox_url,
        _process([sys.executable, "-c", SINK], "sink listening") as sink_url,
    ):
        for traced in (False, True):  # warm-up: imports, caches, the first connections
            _round(sandbox_url, batch[:10], traced, sink_url)
        measured = [_round(sandbox_url, batch, traced, sink_url) for _ in range(rounds) for traced in (False, True)]
    off = statistics.median(r["cpuMsPerOrder"] for r in measured if r["tracing"] == "off")
    on = statistics.median(r["cpuMsPerOrder"] for r in measured if r["tracing"] == "on")
    return {
        "orders": orders,
        "rounds": rounds,
        "cpuMsPerOrder": {"off": round(off, 2), "on": round(on, 2)},
        "overheadPercent": round((on - off) / off * 100, 1),
        "perRound": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    os.environ.pop("ORDERFLOW_TRACING", None)
    print(f"tracing overhead: {args.orders} orders per round, {args.rounds} rounds off and on ...", flush=True)
    result = tracing_overhead(args.orders, args.rounds)
    for line in result["perRound"]:
        spans = f", {line['spansPerOrder']} spans" if line["tracing"] == "on" else ""
        cpu = line["cpuMsPerOrder"]
        print(f"    tracing {line['tracing']:>3}: {cpu} ms CPU per order{spans} ({line['completed']} completed)")
    cpu = result["cpuMsPerOrder"]
    print(f"median CPU per order: off {cpu['off']} ms, on {cpu['on']} ms: {result['overheadPercent']:+}%")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
