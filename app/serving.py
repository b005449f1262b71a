"""`orderflow serve` in several engine processes on one port.

One Python process runs one thread at a time (the interpreter lock), so a server that is one process uses one core
however many requests and jobs it has: `make bench` measured the embedded server at one full core while the second
core idled. `orderflow serve` therefore runs ORDERFLOW_PROCESSES engine processes (default: one per core, at most
four). Each is the whole server of the embedded default, REST API and job threads, and all of them accept
connections on one listening socket that this supervising process binds and hands down, so clients see one address.

Why this is safe without anything new in the engine: every process already coordinates through the database, as
gunicorn's web processes and Celery workers do. SQLite's writers take turns on one lock shared by all processes (a
flock beside the database, processes/core/db.py); a job is leased in the step that makes it to the process that made
it, so that process's job threads run it; timers, retries and jobs of a process that died are claimed by lease from
the database by whichever process's poller comes first; a process's cached workflow is used only at the revision it
was saved with; alerts are claimed in the database before they are posted, and /metrics is read from the database.

What each process keeps for itself: its circuit breakers (a failing system trips in each process after the
threshold) and its fitted predictions (they agree within one refit). External workers' long polls wait in whichever
process took the request; a process that commits a job nobody leased (a topic left to external workers) or unlocks
one tells the others with a datagram on loopback (SiblingWakeups), so their waiting polls look again at once, as
polls in its own process do.

The supervisor prepares the database (migrations, shipped workflows, demo people) once before the processes start,
starts the sandbox systems once, restarts a process that dies (its leased jobs go to the others when the lease runs
out) and stops them all on SIGTERM or Ctrl-C. ORDERFLOW_PROCESSES=1 runs the server in this process, as before."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_AUTO_PROCESSES = 4  # beyond four, SQLite's one writer at a time is what waits, not the cores
READY_SECONDS = 120.0  # how long a process may take to build the app and start listening
RESTARTS_PER_MINUTE = 5  # a process that dies more often than this is failing on start: stop instead of looping


class ProcessesSettingError(ValueError):
    """ORDERFLOW_PROCESSES is neither "auto" nor a whole number from 1 up."""


def process_count(setting: str | int | None) -> int:
    """How many engine processes `orderflow serve` runs: "auto" (or empty) means one per core this process may use,
    at most MAX_AUTO_PROCESSES; a number is taken as it is."""
    text = str(setting if setting is not None else "").strip().lower()
    if text in ("", "auto"):
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            cores = os.cpu_count() or 1
        return max(1, min(cores, MAX_AUTO_PROCESSES))
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ProcessesSettingError(f'ORDERFLOW_PROCESSES must be "auto" or a whole number from 1 up, not {setting!r}')
    return count


def listening_socket(host: str, port: int) -> socket.socket:
    """The one socket every engine process accepts on (port 0 picks a free port: read it from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=1024)
    sock.setblocking(False)
    return sock


class EngineProcesses:
    """Runs `count` engine processes (`orderflow serve-process`) on one listening socket and keeps them running."""

    def __init__(self, count: int, sock: socket.socket, command: list[str] | None = None) -> None:
        self.count = count
        self.sock = sock
        self.command = command or [sys.executable, "-m", "app.cli", "serve-process"]
        self.children: dict[int, subprocess.Popen] = {}
        self._restarts: list[float] = []
        self._stopping = False
        # One wake-up socket per process, kept here so that a process started again gets the same address.
        self.wakeups = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
        for wakeup in self.wakeups:
            wakeup.bind(("127.0.0.1", 0))

    def _spawn(self, index: int) -> tuple[subprocess.Popen, int]:
        read_end, write_end = os.pipe()
        fd, wakeup = self.sock.fileno(), self.wakeups[index].fileno()
        others = ",".join(str(w.getsockname()[1]) for n, w in enumerate(self.wakeups) if n != index)
        args = [*self.command, "--socket-fd", str(fd), "--ready-fd", str(write_end), "--index", str(index)]
        args += ["--wakeup-fd", str(wakeup), "--siblings", others]
        try:
            child = subprocess.Popen(args, pass_fds=(fd, write_end, wakeup))
        finally:
            os.close(write_end)
        return child, read_end

    def start(self) -> None:
        """Start every process and return once all of them listen; raise RuntimeError if one fails to start."""
        pending = {}
        for index in range(self.count):
            child, ready = self._spawn(index)
            self.children[index] = child
            pending[ready] = index
        deadline = time.monotonic() + READY_SECONDS
        try:
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"engine processes {sorted(pending.values())} did not start listening in time")
                readable, _, _ = select.select(list(pending), [], [], min(remaining, 0.5))
                for fd in readable:
                    index = pending[fd]
                    if os.read(fd, 1) != b"1":
                        code = self.children[index].wait(10)
                        raise RuntimeError(f"engine process {index} stopped while starting (exit code {code})")
                    os.close(fd)
                    del pending[fd]
        except BaseException:
            for fd in pending:
                os.close(fd)
            self.stop()
            raise

    def watch(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Until stopped: restart any process that ended. Raises RuntimeError when processes die on start over and
        over (a broken configuration), rather than restarting them for ever."""
        while not self._stopping:
            sleep(0.5)
            for index, child in list(self.children.items()):
                code = child.poll()
                if code is None or self._stopping:
                    continue
                now = time.monotonic()
                self._restarts = [t for t in self._restarts if now - t < 60] + [now]
                if len(self._restarts) > RESTARTS_PER_MINUTE:
                    raise RuntimeError(f"engine processes keep stopping (process {index} last, exit code {code})")
                log.warning(
                    "engine process %s (pid %s) stopped with exit code %s: starting it again", index, child.pid, code
                )
                replacement, ready = self._spawn(index)
                self.children[index] = replacement
                os.close(ready)  # its readiness does not hold up the others: they serve meanwhile

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every process, wait for them, then kill what is left."""
        self._stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        for wakeup in self.wakeups:
            wakeup.close()


class SiblingWakeups:
    """How one engine process tells the others that jobs are there to fetch, and hears when they tell it: one byte
    per announcement on loopback UDP. A lost datagram costs only latency: a waiting poll still looks again every
    ORDERFLOW_LONG_POLL_RECHECK_SECONDS."""

    def __init__(self, sock: socket.socket, sibling_ports: list[int]) -> None:
        self.sock = sock
        self.siblings = [("127.0.0.1", port) for port in sibling_ports]

    def tell(self) -> None:
        for address in self.siblings:
            try:
                self.sock.sendto(b"!", address)
            except OSError:  # a sibling being restarted: it looks for jobs itself when it starts
                pass

    def listen(self, announce: Callable[[], None]) -> None:
        """Call `announce` for every announcement of another process, on a thread of its own."""

        def receive() -> None:
            while True:
                try:
                    self.sock.recv(64)
                except OSError:
                    return
                announce()

        threading.Thread(target=receive, name="orderflow-sibling-wakeups", daemon=True).start()


def serve_in_this_process(app, *, sock: socket.socket | None = None, host: str = "", port: int = 0, threads: int = 8):
    """The waitress server of one engine process: on the supervisor's socket, or binding host:port itself."""
    from waitress import create_server

    if sock is not None:
        return create_server(app, sockets=[sock], threads=threads, ident="orderflow")
    return create_server(app, host=host, port=port, threads=threads, ident="orderflow")
