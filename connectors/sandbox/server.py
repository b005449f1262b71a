"""The sandbox as one Flask app: payment gateway under /payment, warehouse under /wms, customs broker
under /customs, tax engine under /tax, parcel carriers under /carrier, customer messaging under /notify.

Control endpoints (for tests and demos; never affected by the misbehaviour they set):
  GET /health, GET /_stats, GET /_in_flight, POST /_in_flight/reset (business calls answered at once), GET /_ledger,
  GET|POST /_control, POST /_control/reset,
  POST /_control/tracking/{trackingNumber} {status, location?} (a carrier scan event),
  POST /_control/stock {sku: quantity on hand, ...} (a shortage, or a delivery that arrived).
``POST /_control`` takes any field of ``Controls``; see the notes in ``connectors/sandbox/__init__.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connectors.sandbox import carrier, customs, notify, tax
from connectors.sandbox.pdf import one_page
from connectors.sandbox.reference import TRACKING_STATUSES
from connectors.sandbox.state import CATALOG, Reply, SandboxState, error, fingerprint


def create_sandbox_app(seed: int | None = None) -> Flask:
    """``seed`` makes the random error/decline rolls reproducible."""
    app = Flask("orderflow_sandbox")
    state = SandboxState(seed)
    app.extensions["orderflow_sandbox"] = state

    def call(system: str, operation: Callable[[dict[str, Any]], Reply]) -> tuple[Response, int, dict[str, str]]:
        with state.answering():
            return answer_call(system, operation)

    def answer_call(system: str, operation: Callable[[dict[str, Any]], Reply]) -> tuple[Response, int, dict[str, str]]:
        state.count_request(system)
        controls = state.controls
        if controls.out(system) or state.chance(controls.errorRate):
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
        # Delay after the work is done (in respond): the nastiest real failure is "charged, but the
        # answer never arrived", which is exactly what a client-side read timeout then sees.
        return respond(status, body, controls.latencyMs)

    def read(system: str, operation: Callable[[], Reply]) -> tuple[Response, int, dict[str, str]]:
        """Business GETs: misbehave like ``call``, but nothing to remember for idempotency."""
        with state.answering():
            return answer_read(system, operation)

    def answer_read(system: str, operation: Callable[[], Reply]) -> tuple[Response, int, dict[str, str]]:
        state.count_request(system)
        controls = state.controls
        if controls.out(system) or state.chance(controls.errorRate):
            status, body = error(503, "UNAVAILABLE", f"{system} is temporarily unavailable")
        else:
            with state.lock:
                status, body = operation()
        return respond(status, body, controls.latencyMs)

    def respond(status: int, body: dict[str, Any], latency_ms: int) -> tuple[Response, int, dict[str, str]]:
        if latency_ms:
            time.sleep(latency_ms / 1000)
        headers = {"Retry-After": "1"} if status == 503 else {}
        return jsonify(body), status, headers

    def base_url() -> str:
        return request.url_root.rstrip("/")

    def pdf(document_id: str) -> Any:
        with state.lock:
            lines = state.pdfs.get(document_id)
        if lines is None:
            status, body = error(404, "DOCUMENT_NOT_FOUND", f"no document {document_id}")
            return body, status
        return Response(one_page(lines), mimetype="application/pdf")

    @app.post("/payment/authorizations")
    def authorize() -> Any:
        return call("payment", state.authorize)

    @app.post("/payment/authorizations/<auth_id>/capture")
    def capture(auth_id: str) -> Any:
        return call("payment", lambda body: state.capture(auth_id, body))

    @app.post("/payment/authorizations/<auth_id>/void")
    def void(auth_id: str) -> Any:
        return call("payment", lambda body: state.void(auth_id, body))

    @app.post("/payment/captures/<capture_id>/refunds")
    def refund(capture_id: str) -> Any:
        return call("payment", lambda body: state.refund(capture_id, body))

    @app.get("/payment/authorizations/<auth_id>")
    def get_authorization(auth_id: str) -> Any:
        with state.lock:
            record = state.authorizations.get(auth_id)
            if record is None:
                status, body = error(404, "AUTHORIZATION_NOT_FOUND", f"no authorization {auth_id}")
                return body, status
            return dict(record), 200

    @app.post("/wms/reservations")
    def reserve() -> Any:
        return call("wms", state.reserve)

    @app.post("/wms/shipments")
    def ship() -> Any:
        return call("wms", state.ship)

    @app.post("/wms/reservations/<reservation_id>/release")
    def release(reservation_id: str) -> Any:
        return call("wms", lambda body: state.release(reservation_id, body))

    @app.post("/wms/orders/<order_id>/status")
    def order_status(order_id: str) -> Any:
        return call("wms", lambda body: state.update_order_status(order_id, body))

    @app.post("/wms/availability")
    def availability() -> Any:
        return call("wms", state.availability)

    @app.post("/wms/backorders")
    def backorder() -> Any:
        return call("wms", state.backorder)

    @app.post("/notify/messages")
    def notify_send() -> Any:
        return call("notify", lambda body: notify.send(state, body))

    @app.get("/notify/messages")
    def notify_sent() -> Any:
        order_id = request.args.get("orderId")
        return read("notify", lambda: notify.sent(state, order_id))

    @app.post("/customs/documents")
    def customs_documents() -> Any:
        base = base_url()
        return call("customs", lambda body: customs.documents(state, body, base))

    @app.get("/customs/documents/<document_id>.pdf")
    def customs_document(document_id: str) -> Any:
        return pdf(document_id)

    @app.post("/tax/calculations")
    def tax_calculation() -> Any:
        return call("tax", lambda body: tax.calculate(state, body))

    @app.post("/carrier/quotes")
    def carrier_quote() -> Any:
        return call("carrier", lambda body: carrier.quote(state, body))

    @app.post("/carrier/shipments")
    def carrier_book() -> Any:
        base = base_url()
        return call("carrier", lambda body: carrier.book(state, body, base))

    @app.get("/carrier/shipments/<tracking_number>")
    def carrier_track(tracking_number: str) -> Any:
        return read("carrier", lambda: carrier.track(state, tracking_number))

    @app.get("/carrier/labels/<booking_id>.pdf")
    def carrier_label(booking_id: str) -> Any:
        return pdf(booking_id)

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

    @app.get("/_in_flight")
    def in_flight() -> Any:
        """Business calls being answered now, and the most at once since the last reset."""
        return state.concurrency()

    @app.post("/_in_flight/reset")
    def reset_in_flight() -> Any:
        return state.concurrency(reset=True)

    @app.get("/_ledger")
    def ledger() -> Any:
        return state.ledger()

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

    @app.post("/_control/stock")
    def stock_control() -> Any:
        levels = request.get_json(silent=True)
        if not isinstance(levels, dict):
            return {"error": "the body must be a JSON object of SKU to quantity on hand"}, 400
        try:
            return state.set_stock(levels)
        except ValueError as exc:
            return {"error": str(exc)}, 400

    @app.post("/_control/tracking/<tracking_number>")
    def tracking_event(tracking_number: str) -> Any:
        event = request.get_json(silent=True)
        if not isinstance(event, dict) or event.get("status") not in TRACKING_STATUSES:
            return {"error": f"need {{status, location?}} with status one of {list(TRACKING_STATUSES)}"}, 400
        with state.lock:
            status, body = carrier.add_tracking_event(state, tracking_number, event["status"], event.get("location"))
        return body, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # JSON, but deliberately without "code": a wrong URL must not look like a business decision.
        return {"error": exc.name, "status": exc.code}, exc.code

    return app
