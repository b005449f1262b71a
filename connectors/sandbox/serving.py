"""The sandbox's HTTP/1.1 server: one thread per keep-alive connection reads, answers and writes that connection's
requests, with waitress's own request parser and WSGI task, so what goes over the wire is what waitress's server
sends (the same status line, headers, ``Server: waitress``, ``Date``, keep-alive and close rules, 400/413/500 pages).

Why not waitress's server itself: it reads in one thread (an asyncore loop) and answers in another, so every request
is a hand-over between threads and a wake-up of the loop through a pipe, and that was about 80% of the sandbox's CPU
per business call; the sandbox shares the cores with the engine it stands in for. The connectors keep their
connections open, so a thread per connection is few threads. ``threads`` still bounds the requests answered at once,
as waitress's pool did, and ``connection_limit`` the connections open (waitress's 100)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from waitress.adjustments import Adjustments
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import InternalServerError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger("waitress")


class SandboxServer:
    """Listens on ``host:port`` once made (0 picks a free port: read ``effective_port``); ``run()`` serves until
    interrupted, ``close()`` stops listening."""

    def __init__(self, application: WSGIApplication, host: str, port: int, threads: int = 8) -> None:
        self.application = application
        self.adj = Adjustments(host=host, port=port, threads=threads)
        self.server_name = self.adj.server_name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, port), family=family, backlog=self.adj.backlog)
        for level, option, value in self.adj.socket_options:  # TCP_NODELAY among them, inherited by each connection
            self.listener.setsockopt(level, option, value)
        self.effective_port: int = self.listener.getsockname()[1]
        self.answering = threading.BoundedSemaphore(threads)
        self.connections = threading.BoundedSemaphore(self.adj.connection_limit)

    def run(self) -> None:
        while True:
            self.connections.acquire()
            try:
                sock, addr = self.listener.accept()
            except OSError:
                self.connections.release()
                if self.listener.fileno() == -1:  # closed
                    return
                continue
            threading.Thread(target=self._serve, args=(sock, addr), name="sandbox-connection", daemon=True).start()

    def _serve(self, sock: socket.socket, addr: Any) -> None:
        try:
            Connection(self, sock, addr).serve()
        finally:
            self.connections.release()

    def close(self) -> None:
        self.listener.close()


class Connection:
    """One client connection; to waitress's tasks it is their channel (``adj``, ``server``, ``addr``,
    ``write_soon``, ``check_client_disconnected``)."""

    def __init__(self, server: SandboxServer, sock: socket.socket, addr: Any) -> None:
        self.server = server
        self.adj = server.adj
        self.sock = sock
        self.addr = addr if isinstance(addr, tuple) else (addr, None)
        self.out: list[bytes] = []

    def write_soon(self, data: bytes | Iterable[bytes]) -> int:
        """The task's bytes, sent in one piece when its reply is complete."""
        if isinstance(data, bytes):
            self.out.append(data)
            return len(data)
        try:  # a wsgi.file_wrapper: its blocks
            blocks = list(data)
        finally:
            data.close()  # type: ignore[attr-defined]
        self.out.extend(blocks)
        return sum(map(len, blocks))

    def check_client_disconnected(self) -> bool:
        return False

    def serve(self) -> None:
        """Requests in the order they arrive (pipelined ones too), until the client or a reply closes."""
        sock = self.sock
        sock.settimeout(self.adj.channel_timeout)  # an idle connection ends, as waitress's does
        parser: HTTPRequestParser | None = None
        sent_continue = False
        try:
            while data := sock.recv(self.adj.recv_bytes):
                while data:
                    if parser is None:
                        parser = HTTPRequestParser(self.adj)
                    used = parser.received(data)
                    if parser.expect_continue and parser.headers_finished and not sent_continue:
                        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                        sent_continue = True
                        parser.completed = False  # as waitress's channel: the body is still to come
                    if parser.completed:
                        request, parser, sent_continue = parser, None, False
                        if not request.empty and not self.answer(request):
                            return
                    if used >= len(data):
                        break
                    data = data[used:]
        except OSError:  # the client went away, or stayed idle too long
            pass
        finally:
            if parser is not None:
                parser.close()
            sock.close()

    def answer(self, request: HTTPRequestParser) -> bool:
        """Answer one request; False when the connection is to close after it."""
        task = (ErrorTask if request.error else WSGITask)(self, request)
        try:
            with self.server.answering:
                task.service()
        except Exception:
            # What waitress's channel does with an application that raises: log, and a 500 if nothing was sent.
            logger.exception("Exception while serving %s", request.path)
            if task.wrote_header:
                task.close_on_finish = True
            else:
                self.out.clear()
                failed = HTTPRequestParser(self.adj)
                failed.error = InternalServerError("The server encountered an unexpected internal server error")
                failed.version = request.version
                if "CONNECTION" in request.headers:
                    failed.headers["CONNECTION"] = request.headers["CONNECTION"]
                task = ErrorTask(self, failed)
                task.service()
        finally:
            request.close()
        self.sock.sendall(b"".join(self.out))
        self.out.clear()
        return not task.close_on_finish
