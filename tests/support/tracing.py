"""Tracing in tests: the sandbox systems in a thread of the test process, remembering the `traceparent` each call
brought, and running an order's jobs in the test thread (as a worker would) until nothing is left."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import request
from werkzeug.serving import make_server

from connectors.sandbox.server import create_sandbox_app


@dataclass
class RecordingSandbox:
    url: str
    # (method and path, traceparent header or None) of every business call, in order
    calls: list[tuple[str, str | None]] = field(default_factory=list)


@contextmanager
def recording_sandbox() -> Iterator[RecordingSandbox]:
    """The real sandbox app on a free loopback port, served from a thread of this process."""
    app = create_sandbox_app(seed=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    sandbox = RecordingSandbox(url=f"http://127.0.0.1:{server.server_port}")

    @app.before_request
    def remember() -> None:
        if not request.path.startswith("/_"):
            sandbox.calls.append((f"{request.method} {request.path}", request.headers.get("traceparent")))

    thread = threading.Thread(target=server.serve_forever, name="recording-sandbox", daemon=True)
    thread.start()
    try:
        yield sandbox
    finally:
        server.shutdown()
        thread.join(5)


def run_jobs(services) -> int:
    """Claim and run due jobs in this thread until none is due (retries wait: not run here); how many ran."""
    ran = 0
    while claimed := services.jobs.claim("test-worker", limit=10, topics=services.connectors.topics()):
        for job in claimed:
            services.jobs.run(job)
            ran += 1
    return ran
