"""The connectors' HTTP client against a real local HTTP server: what the external system receives (the base URL's
path, the query, the body, the idempotency key) and how its answers map to connector errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.errors import BusinessError, TransientError
from connectors.http import JsonClient


class _System(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        _System.seen.append(
            {"method": self.command, "path": self.path, "body": body, "key": self.headers.get("Idempotency-Key")}
        )
        if self.path.endswith("/busy"):
            status, answer, extra = 503, {}, {"Retry-After": "7"}
        elif self.path.endswith("/refuse"):
            status, answer, extra = 422, {"code": "CARD_DECLINED", "message": "declined"}, {}
        else:
            status, answer, extra = 200, {"ok": True}, {}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def system():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _System)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_calls_reach_the_system_under_the_base_urls_path(system: str) -> None:
    client = JsonClient(f"{system}/payment/", system="payment")
    _System.seen.clear()
    assert client.post("/charges", {"amount": "10.00"}, idempotency_key="order-1") == {"ok": True}
    assert client.get("status", params={"order": "A 1", "skip": None}) == {"ok": True}
    assert _System.seen == [
        {"method": "POST", "path": "/payment/charges", "body": {"amount": "10.00"}, "key": "order-1"},
        {"method": "GET", "path": "/payment/status?order=A+1", "body": None, "key": None},
    ]


def test_answers_map_to_connector_errors(system: str) -> None:
    client = JsonClient(f"{system}/wms", system="wms")
    with pytest.raises(TransientError) as busy:
        client.post("/busy", {})
    assert busy.value.retry_after == 7.0
    with pytest.raises(BusinessError) as refused:
        client.post("/refuse", {})
    assert refused.value.code == "CARD_DECLINED"
