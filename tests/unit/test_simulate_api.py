"""The REST client of `orderflow simulate` and the bench (app.simulate.Api): JSON in and out over one keep-alive
connection, errors as the simulation counts them, and a connection the server closed while idle opened anew."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from app.simulate import Api, ApiError, NoAnswer
from connectors.sandbox.server import create_sandbox_app
from connectors.sandbox.serving import SandboxServer


@pytest.fixture
def sandbox() -> Iterator[str]:
    """Any JSON HTTP service does; the sandbox systems are one at hand."""
    server = SandboxServer(create_sandbox_app(seed=1), host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def test_posts_and_reads_json_over_one_connection(sandbox: str) -> None:
    api = Api(sandbox, "token")
    order = {"orderId": "O-1", "amount": 12.5, "currency": "EUR"}
    first = api.post("/payment/authorizations", order, {"Idempotency-Key": "k-1"})
    again = api.post("/payment/authorizations", order, {"Idempotency-Key": "k-1"})
    assert first["status"] == "authorized" and again == first
    stats = api.get("/_stats")
    assert stats["authorizations"] == 1 and stats["idempotentReplays"] == 1
    api.close()


def test_an_error_status_fails_a_post_but_a_read_gives_the_error_document(sandbox: str) -> None:
    api = Api(sandbox, "token")
    with pytest.raises(ApiError, match="404"):
        api.post("/payment/authorizations/NOPE/capture", {"amount": 1})
    assert api.get("/no/such/page") == {"error": "Not Found", "status": 404}
    assert api.get("/health") == {"status": "ok"}  # the connection still serves
    api.close()


def test_no_server_is_no_answer() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(NoAnswer, match="ConnectionRefusedError"):
        Api(f"http://127.0.0.1:{port}", "token").get("/health")


def test_a_connection_the_server_closed_while_idle_is_opened_anew() -> None:
    """The server answers as if keeping the connection, then closes it: the next request must not fail."""
    listener = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def answer_once_each() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            closed.set()

    threading.Thread(target=answer_once_each, daemon=True).start()
    api = Api(f"http://127.0.0.1:{listener.getsockname()[1]}", "token")
    try:
        assert api.get("/first") == {}
        assert closed.wait(10)
        assert api.get("/second") == {}
    finally:
        api.close()
        listener.close()
