"""The sandbox as one Flask app: payment gateway under /payment, warehouse under /wms.

Control endpoints (for tests and demos; never affected by the misbehaviour they set):
  GET /health, GET /_stats, GET|POST /_control, POST /_control/reset.
``POST /_control`` takes any of {latencyMs, errorRate, declineRate, amountSkew, outage}; see README-like
notes in ``connectors/sandbox/__init__.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connectors.sandbox.state import CATALOG, Reply, SandboxState, error, fingerprint


def create_sandbox_app(seed: int | None = None) -> Flask:
    """``seed`` makes the random error/decline rolls reproducible."""
    app = Flask("orderflow_sandbox")
    state = SandboxState(seed)
    app.extensions["orderflow_sandbox"] = state

    def call(system: str, operation: Callable[[dict[str, Any]], Reply]) -> tuple[Response, int, dict[str, str]]:
        controls = state.controls
        if controls.outage or state.chance(controls.errorRate):
            status, body = error(503, "UNAVAILABLE", f"{system} is temporarily unavailable")
        else:
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict):
                status, body = error(422, "INVALID_REQUEST", "the body must be a JSON object")
            else:
                key = request.headers.get("Idempotency-Key")
                status, body = state.execute(
                    system,
                    key,
                    fingerprint(request.method, request.path, payload),
                    lambda: operation(payload),
                )
        # Delay after the work is done: the nastiest real failure is "charged, but the answer
        # never arrived", which is exactly what a client-side read timeout then sees.
        if controls.latencyMs:
            time.sleep(controls.latencyMs / 1000)
        headers = {"Retry-After": "1"} if status == 503 else {}
        return jsonify(body), status, headers

    @app.post("/payment/authorizations")
    def authorize() -> Any:
        return call("payment", state.authorize)

    @app.post("/payment/authorizations/<auth_id>/capture")
    def capture(auth_id: str) -> Any:
        return call("payment", lambda body: state.capture(auth_id, body))

    @app.get("/payment/authorizations/<auth_id>")
    def get_authorization(auth_id: str) -> Any:
        with state.lock:
            record = state.authorizations.get(auth_id)
            return (jsonify(record), 200) if record else error(404, "AUTHORIZATION_NOT_FOUND", auth_id)

    @app.post("/wms/reservations")
    def reserve() -> Any:
        return call("wms", state.reserve)

    @app.post("/wms/shipments")
    def ship() -> Any:
        return call("wms", state.ship)

    @app.get("/wms/stock")
    def stock() -> Any:
        with state.lock:
            return {"items": [{"sku": s, "name": CATALOG[s], "available": q} for s, q in state.stock.items()]}

    @app.get("/health")
    def health() -> Any:
        return {"status": "ok"}

    @app.get("/_stats")
    def stats() -> Any:
        return state.snapshot_stats()

    @app.route("/_control", methods=["GET", "POST"])
    def control() -> Any:
        if request.method == "GET":
            return asdict(state.controls)
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return {"error": "the body must be a JSON object"}, 400
        try:
            return asdict(state.set_controls(changes))
        except ValueError as exc:
            return {"error": str(exc)}, 400

    @app.post("/_control/reset")
    def reset_control() -> Any:
        return asdict(state.reset_controls())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # JSON, but deliberately without "code": a wrong URL must not look like a business decision.
        return {"error": exc.name, "status": exc.code}, exc.code

    return app
