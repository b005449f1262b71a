"""The sandbox's own HTTP server (connectors/sandbox/serving.py) sends what waitress's server sends, byte for byte
(but the Date), for the requests the connectors make and for the odd ones: keep-alive, pipelining, HTTP/1.0,
Connection: close, chunked bodies, Expect: 100-continue, and the 400/413/431 replies of bad requests."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest
from waitress import create_server

from connectors.sandbox.server import create_sandbox_app
from connectors.sandbox.serving import SandboxServer

ORDER = b'{"orderId":"O-1","amount":12.5,"currency":"EUR"}'
ITEMS = b'{"orderId":"O-1","items":[{"sku":"SKU-1001","quantity":2}]}'


def _post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: sandbox", "Content-Type: application/json", *headers]
    return ("\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""])).encode() + body


# Each: what the client sends, in pieces sent one after the other on one connection.
CONVERSATIONS = {
    "business calls kept alive": [
        _post("/payment/authorizations", ORDER, "Idempotency-Key: a-1"),
        _post("/payment/authorizations", ORDER, "Idempotency-Key: a-1"),
        _post("/payment/authorizations/AUTH-00000001/capture", b'{"amount":12.5}'),
        _post("/wms/reservations", ITEMS, "Connection: close"),
    ],
    "pipelined": [
        b"GET /health HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\nGET /_stats HTTP/1.1\r\n\r\n"
    ],
    "HTTP/1.0": [b"GET /health HTTP/1.0\r\n\r\n"],
    "HTTP/1.0 keep-alive": [
        b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /_control HTTP/1.0\r\n\r\n",
    ],
    "HEAD": [b"HEAD /health HTTP/1.1\r\nHost: h\r\n\r\n"],
    "chunked body": [
        b"POST /wms/reservations HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(ITEMS):x}\r\n".encode() + ITEMS + b"\r\n0\r\n\r\n"
    ],
    "expect 100-continue": [
        b"POST /tax/calculations HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: 16\r\n\r\n",
        b'{"country":"XX"}',
    ],
    "not JSON": [_post("/wms/availability", b"abc").replace(b"application/json", b"text/plain")],
    "a PDF": [b"GET /customs/documents/NOPE.pdf HTTP/1.1\r\nHost: h\r\n\r\n"],
    "garbage": [b"GARBAGE\r\n\r\n"],
    "bad header": [b"GET /health HTTP/1.1\r\nHost h\r\n\r\n"],
    "body too large": [_post("/wms/availability", b"").replace(b"Content-Length: 0", b"Content-Length: 99999999999")],
    "header too large": [b"GET /health HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 300_000 + b"\r\n\r\n"],
}


def _converse(port: int, pieces: list[bytes]) -> bytes:
    """Everything the server sent until it closed or went quiet, Date and timestamps masked."""
    received = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.5)
        for piece in pieces:
            sock.sendall(piece)
            try:
                while chunk := sock.recv(65536):
                    received += chunk
                else:
                    received += b"<closed>"
            except TimeoutError:  # quiet: the reply to this piece is complete
                pass
            except ConnectionResetError:
                received += b"<reset>"
                break
    received = re.sub(rb"Date: [^\r]+", b"Date: -", received)
    return re.sub(rb'"createdAt":"[^"]+"', b'"createdAt":"-"', received)


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    """Waitress's server and the sandbox's, each with a sandbox of its own."""
    waitress = create_server(create_sandbox_app(seed=1), host="127.0.0.1", port=0, threads=2)
    ours = SandboxServer(create_sandbox_app(seed=1), host="127.0.0.1", port=0, threads=2)
    for server in (waitress, ours):
        threading.Thread(target=server.run, daemon=True).start()
    yield waitress.effective_port, ours.effective_port
    ours.close()
    waitress.close()


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_the_sandbox_answers_what_waitress_answers(ports: tuple[int, int], conversation: str) -> None:
    waitress, ours = (_converse(port, CONVERSATIONS[conversation]) for port in ports)
    assert ours == waitress
    assert ours.startswith(b"HTTP/1.")


def test_a_connection_is_kept_alive_and_its_replies_come_in_order() -> None:
    server = SandboxServer(create_sandbox_app(seed=1), host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        received = _converse(server.effective_port, CONVERSATIONS["business calls kept alive"])
    finally:
        server.close()
    statuses = re.findall(rb"HTTP/1.1 (\d+)", received)
    assert statuses == [b"201", b"201", b"201", b"201"]
    assert received.count(b'"authorizationId":"AUTH-00000001"') == 3  # the replay, and the capture of it
    assert received.endswith(b"<closed>")  # only after the request that asked for it
