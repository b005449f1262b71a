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

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from connectors.sandbox import carrier, customs, notify, tax
from connectors.sandbox.pdf import one_page
from connectors.sandbox.reference import TRACKING_STATUSES
from connectors.sandbox.state import CATALOG, Reply, SandboxState, error, fingerprint

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def create_sandbox_app(seed: int | None = None) -> Flask:
    """``seed`` makes the random error/decline rolls reproducible."""
    app = Flask("orderflow_sandbox")
    state = SandboxState(seed)
    app.extensions["orderflow_sandbox"] = state

    def call(system: str, operation: Callable[[dict[str, Any]], Reply]) -> tuple[Response, int, dict[str, str]]:
        with state.answering():
            status, body = answer_call(
                system, operation, request.path, request.get_json(silent=True), request.headers.get("Idempotency-Key")
            )
        return jsonify(body), status, retry_after(status)

    def answer_call(
        system: str, operation: Callable[[dict[str, Any]], Reply], path: str, payload: Any, key: str | None
    ) -> Reply:
        """A business POST (Flask's route or the shortcut): ``payload`` is the body's JSON, None when it is not."""
        state.count_request(system)
        controls = state.controls
        if controls.out(system) or state.chance(controls.errorRate):
            status, body = error(503, "UNAVAILABLE", f"{system} is temporarily unavailable")
        elif not isinstance(payload, dict):
            status, body = error(422, "INVALID_REQUEST", "the body must be a JSON object")
        else:
            status, body = state.execute(system, key, fingerprint("POST", path, payload), lambda: operation(payload))
        # Delay after the work is done: the nastiest real failure is "charged, but the answer never arrived",
        # which is exactly what a client-side read timeout then sees.
        if controls.latencyMs:
            time.sleep(controls.latencyMs / 1000)
        return status, body

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
        return jsonify(body), status, retry_after(status)

    def base_url() -> str:
        return request.url_root.rstrip("/")

    def pdf(document_id: str) -> Any:
        with state.lock:
            lines = state.pdfs.get(document_id)
        if lines is None:
            status, body = error(404, "DOCUMENT_NOT_FOUND", f"no document {document_id}")
            return body, status
        return Response(one_page(lines), mimetype="application/pdf")

    def business_post(endpoint: str, rule: str, system: str, operation: Callable[..., Reply]) -> None:
        """A business POST whose reply depends on its body and path alone: a Flask route, and answered by the
        shortcut (server.BusinessCalls) when nothing hooks into Flask's requests."""

        def view(**values: str) -> Any:
            return call(system, lambda body: operation(body, **values))

        app.add_url_rule(rule, endpoint, view, methods=["POST"])
        shortcut.add(rule, system, operation)

    shortcut = BusinessCalls(app, state, answer_call)
    business_post("authorize", "/payment/authorizations", "payment", state.authorize)
    business_post(
        "capture", "/payment/authorizations/<auth_id>/capture", "payment", lambda b, auth_id: state.capture(auth_id, b)
    )
    business_post(
        "void", "/payment/authorizations/<auth_id>/void", "payment", lambda b, auth_id: state.void(auth_id, b)
    )
    business_post(
        "refund", "/payment/captures/<capture_id>/refunds", "payment", lambda b, capture_id: state.refund(capture_id, b)
    )
    business_post("reserve", "/wms/reservations", "wms", state.reserve)
    business_post("ship", "/wms/shipments", "wms", state.ship)
    business_post(
        "release",
        "/wms/reservations/<reservation_id>/release",
        "wms",
        lambda b, reservation_id: state.release(reservation_id, b),
    )
    business_post(
        "order_status",
        "/wms/orders/<order_id>/status",
        "wms",
        lambda b, order_id: state.update_order_status(order_id, b),
    )
    business_post("availability", "/wms/availability", "wms", state.availability)
    business_post("backorder", "/wms/backorders", "wms", state.backorder)
    business_post("notify_send", "/notify/messages", "notify", lambda b: notify.send(state, b))
    business_post("tax_calculation", "/tax/calculations", "tax", lambda b: tax.calculate(state, b))
    business_post("carrier_quote", "/carrier/quotes", "carrier", lambda b: carrier.quote(state, b))

    @app.get("/payment/authorizations/<auth_id>")
    def get_authorization(auth_id: str) -> Any:
        with state.lock:
            record = state.authorizations.get(auth_id)
            if record is None:
                status, body = error(404, "AUTHORIZATION_NOT_FOUND", f"no authorization {auth_id}")
                return body, status
            return dict(record), 200

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

    app.wsgi_app = shortcut.wrap(app.wsgi_app)  # type: ignore[method-assign]
    return app


class BusinessCalls:
    """Business POSTs answered straight from WSGI, without Flask's request context, routing, hooks and Response
    objects: the sandbox shares the cores with the engine it stands in for, and Flask's machinery was about 85% of
    the sandbox's CPU per call (the HTTP server's share is cut in serving.py). The reply is the one Flask's route
    gives, byte for byte: the same ``answer_call``, the same JSON (Flask's provider, compact) and headers. Anything
    else goes to Flask: another route or method, a body that is not ``application/json`` with a length, debug mode,
    or an app with request hooks (a test that records calls)."""

    def __init__(
        self,
        app: Flask,
        state: SandboxState,
        answer: Callable[[str, Callable[..., Reply], str, Any, str | None], Reply],
    ) -> None:
        self.app = app
        self.state = state
        self.answer = answer
        self.fixed: dict[str, tuple[str, Callable[..., Reply]]] = {}
        self.patterns: list[tuple[re.Pattern[str], str, Callable[..., Reply]]] = []

    def add(self, rule: str, system: str, operation: Callable[..., Reply]) -> None:
        if "<" not in rule:
            self.fixed[rule] = (system, operation)
            return
        # Flask's default converter: one non-empty path segment.
        pattern = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("<") else re.escape(part)
            for part in re.split(r"(<\w+>)", rule)
        )
        self.patterns.append((re.compile(pattern), system, operation))

    def wrap(self, flask_app: WSGIApplication) -> WSGIApplication:
        def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            answered = self.answer_directly(environ, start_response)
            return flask_app(environ, start_response) if answered is None else answered

        return wsgi

    def answer_directly(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes] | None:
        app = self.app
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("CONTENT_TYPE") != "application/json"
            or app.debug
            or app.before_request_funcs
            or app.after_request_funcs
            or app.teardown_request_funcs
            or app.url_value_preprocessors
        ):
            return None
        # Werkzeug's reading of the path: WSGI's latin-1 string as UTF-8, one leading slash.
        path = "/" + environ.get("PATH_INFO", "").encode("latin1").decode(errors="replace").lstrip("/")
        found = self.fixed.get(path)
        values: dict[str, str] = {}
        if found is None:
            for pattern, system, operation in self.patterns:
                matched = pattern.fullmatch(path)
                if matched is not None:
                    found, values = (system, operation), matched.groupdict()
                    break
            else:
                return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if length < 0:
            return None
        system, operation = found
        try:
            payload = json.loads(environ["wsgi.input"].read(length))
        except ValueError:  # Flask's get_json(silent=True): not JSON (or not UTF-8) is None
            payload = None
        try:
            with self.state.answering():
                status, body = self.answer(
                    system,
                    (lambda b: operation(b, **values)) if values else operation,
                    path,
                    payload,
                    environ.get("HTTP_IDEMPOTENCY_KEY"),
                )
        except Exception:
            # What Flask does with a bug in a route: log it, answer 500 through the error handler's shape.
            app.logger.exception("Exception on %s [POST]", path)
            status, body = 500, {"error": "Internal Server Error", "status": 500}
        data = f"{app.json.dumps(body, separators=(',', ':'))}\n".encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *retry_after(status).items(),
        ]
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}", headers)
        return [data]


def retry_after(status: int) -> dict[str, str]:
    return {"Retry-After": "1"} if status == 503 else {}
