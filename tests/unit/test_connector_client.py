"""The connectors' HTTP client against a real local HTTP server: what the external system receives (the base URL's
path, the query, the body, the idempotency key) and how its answers map to connector errors, on both transports
(connectors/transports.py: libcurl and urllib3)."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.errors import BusinessError, ConfigurationError, TransientError
from connectors.http import JsonClient
from connectors.transports import CurlTransport, Urllib3Transport


class _System(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        _System.seen.append(
            {"method": self.command, "path": self.path, "body": body, "key": self.headers.get("Idempotency-Key")}
        )
        if self.path.endswith("/slow"):
            time.sleep(1.0)
        if self.path.endswith("/busy"):
            status, answer, extra = 503, {}, {"Retry-After": "7"}
        elif self.path.endswith("/refuse"):
            status, answer, extra = 422, {"code": "CARD_DECLINED", "message": "declined"}, {}
        elif self.path.endswith("/echo"):
            status, answer, extra = 200, {"received": body}, {}
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


@pytest.fixture(params=["curl", "urllib3"], autouse=True)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both transports: the clients below are built with it (JsonClient's `transport`)."""
    real = JsonClient.__init__
    monkeypatch.setattr(JsonClient, "__init__", lambda self, *a, **kw: real(self, *a, transport=request.param, **kw))
    return request.param


def test_the_transport_is_the_one_asked_for(system: str, transport: str) -> None:
    kind = {"curl": CurlTransport, "urllib3": Urllib3Transport}[transport]
    assert isinstance(JsonClient(system, system="payment").transport, kind)


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


def test_a_large_body_arrives_whole(system: str) -> None:
    items = [{"sku": f"SKU-{n}", "quantity": n, "note": "é" * 20} for n in range(200)]  # about 12 kB
    assert JsonClient(system, system="wms").post("/echo", {"items": items}) == {"received": {"items": items}}


def test_an_answer_later_than_the_timeout_is_transient(system: str) -> None:
    client = JsonClient(system, system="wms", timeout=(0.2, 0.2))
    with pytest.raises(TransientError, match="timed out"):
        client.post("/slow", {})
    assert client.post("/fine", {}) == {"ok": True}  # and the next call goes through


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as blocker:  # bound, not listening: it refuses, and no other process takes the port
        blocker.bind(("127.0.0.1", 0))
        client = JsonClient(f"http://127.0.0.1:{blocker.getsockname()[1]}", system="payment")
        with pytest.raises(TransientError, match="connection failed"):
            client.post("/charges", {})


def test_a_url_without_a_host_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        JsonClient("http://", system="payment").post("/charges", {})


@pytest.fixture(scope="module")
def tls_system(tmp_path_factory: pytest.TempPathFactory):
    """The same system over HTTPS, with a certificate of its own (made by the openssl command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no certificate to serve HTTPS with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), _System)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_https_reaches_a_system_whose_certificate_is_trusted(tls_system, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = tls_system
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the machine's trust store, as the ssl module reads it
    assert JsonClient(url, system="payment").post("/charges", {"amount": "1.00"}) == {"ok": True}


def test_https_to_a_certificate_nobody_trusts_fails_without_a_call(
    tls_system, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    url, _ = tls_system
    other = tmp_path / "other.pem"
    other.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    _System.seen.clear()
    with pytest.raises(TransientError, match="connection failed"):
        JsonClient(url, system="payment").post("/charges", {"amount": "1.00"})
    assert _System.seen == []
