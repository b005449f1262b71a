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

What the processes tell each other (Siblings): an order's jobs run in its home process, whichever process's step
made them, so the work is spread by orders rather than by connections; and a process that commits a job nobody
leased (a topic left to external workers) or unlocks one tells the others, so long polls waiting there look again
at once. What each process keeps for itself: its circuit breakers (a failing system trips in each process after the
threshold) and its fitted predictions (they agree within one refit).

The supervisor prepares the database (migrations, shipped workflows, demo people) once before the processes start,
starts the sandbox systems once, restarts a process that dies (its leased jobs go to the others when the lease runs
out) and stops them all on SIGTERM or Ctrl-C. ORDERFLOW_PROCESSES=1 runs the server in this process, as before."""

from __future__ import annotations

import dataclasses
import logging
import mmap
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable

from processes.core import json_columns
from processes.core.transport import ClaimedJob, JobDispatcher, WrappingDispatcher

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
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does: restart while connections close
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
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
        # One datagram socket per process for the others' messages (Siblings), kept here so that a process started
        # again gets the same address.
        self._directory = tempfile.mkdtemp(prefix="orderflow-engines-")
        self.paths = [os.path.join(self._directory, f"{n}.sock") for n in range(count)]
        self.inboxes = []
        for path in self.paths:
            inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            inbox.bind(path)
            self.inboxes.append(inbox)
        self.board_path = LoadBoard.create(os.path.join(self._directory, "load"), count)

    def _spawn(self, index: int) -> tuple[subprocess.Popen, int]:
        read_end, write_end = os.pipe()
        fd, inbox = self.sock.fileno(), self.inboxes[index].fileno()
        args = [*self.command, "--socket-fd", str(fd), "--ready-fd", str(write_end), "--index", str(index)]
        args += ["--inbox-fd", str(inbox), "--siblings", os.pathsep.join(self.paths), "--load-board", self.board_path]
        try:
            child = subprocess.Popen(args, pass_fds=(fd, write_end, inbox))
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
        for inbox in self.inboxes:
            inbox.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class Siblings:
    """What the engine processes of one server tell each other, one datagram per message on a Unix socket each:

    - b"!": jobs nobody leased were committed (or a job was unlocked): waiting long polls look again;
    - b"J" and a job as JSON: run this job, which the sender's step leased at creation;
    - other kinds that features register (`on`), sent with `broadcast`: the carrier connector's bookings and
      deliveries (connectors/carrier_performance.py), so each process's figures cover every order's.

    Why jobs travel: a client's connection stays with the process that accepted it, and with a few keep-alive clients
    one process got three quarters of the orders in `make bench` while the other idled. So every order has a home
    process (a hash of its id) and its jobs run there, wherever the step that made them ran: an order's later steps
    find its workflow in their process's cache. The id is chosen when the order starts (HomeDispatcher.order_id): at
    home where it starts, so that its first job finds the workflow the start left in the cache, unless that process
    has more jobs on hand than another (LoadBoard); then the work is spread by orders, not connections. The job keeps
    the lease its step wrote (a report is checked by lease token, whoever runs it). A job that cannot be sent (too
    big for one datagram, a sibling being restarted) runs where it was made; one lost with a process that died is
    taken over by another process once its lease runs out, as any job of a dead worker."""

    MAX_DATAGRAM = 60_000  # bytes: larger jobs (huge variables) run in the process that made them

    def __init__(self, sock: socket.socket, index: int, paths: list[str]) -> None:
        self.sock = sock
        self.index = index
        self.paths = paths
        self._handlers: dict[bytes, Callable[[bytes], None]] = {}

    def on(self, kind: bytes, handler: Callable[[bytes], None]) -> None:
        """Call `handler(payload)` for each message of `kind` (one byte, not b"!" or b"J") another process sends."""
        if len(kind) != 1 or kind in (b"!", b"J"):
            raise ValueError(f"message kind must be one byte other than ! and J, not {kind!r}")
        self._handlers[kind] = handler

    def broadcast(self, kind: bytes, payload: bytes) -> None:
        """Send one message to every other process (dropped when too big for one datagram)."""
        message = kind + payload
        if len(message) <= self.MAX_DATAGRAM:
            for n, path in enumerate(self.paths):
                if n != self.index:
                    self._send(path, message)

    def home(self, instance_id: str) -> int:
        """The process an order's jobs run in (the same in every process: crc32, not Python's salted hash)."""
        return zlib.crc32(instance_id.encode()) % len(self.paths)

    def tell(self) -> None:
        """Jobs are there to fetch: every other process's waiting long polls look again."""
        for n, path in enumerate(self.paths):
            if n != self.index:
                self._send(path, b"!")

    def send_job(self, job: ClaimedJob, to: int) -> bool:
        """Hand a leased job to process `to`; False when it must run here instead."""
        message = b"J" + json_columns.dumps(dataclasses.asdict(job)).encode()
        return len(message) <= self.MAX_DATAGRAM and self._send(self.paths[to], message)

    def _send(self, path: str, message: bytes) -> bool:
        try:
            self.sock.sendto(message, path)
            return True
        except OSError:  # a sibling being restarted: it looks for jobs itself when it starts
            return False

    def listen(self, announce: Callable[[], None], run: Callable[[list[ClaimedJob]], None]) -> None:
        """Act on the other processes' messages, on a thread of its own."""

        def receive() -> None:
            while True:
                try:
                    message = self.sock.recv(self.MAX_DATAGRAM + 1)
                except OSError:
                    return
                try:
                    kind = message[:1]
                    if kind == b"J":
                        run([ClaimedJob(**json_columns.loads(message[1:]))])
                    elif kind == b"!":
                        announce()
                    elif (handler := self._handlers.get(kind)) is not None:
                        handler(message[1:])
                except Exception:  # a message this version cannot read: its job's lease runs out and it is retried
                    log.exception("engine process %s could not read a message of another process", self.index)

        threading.Thread(target=receive, name="orderflow-siblings", daemon=True).start()


class LoadBoard:
    """How many jobs each engine process has on hand (waiting for a thread or running), in a small file the
    supervisor makes and every process maps into memory: each writes its own slot and reads the others', with no
    message and no lock (one aligned 8-byte number per slot)."""

    def __init__(self, path: str, count: int) -> None:
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), 8 * count)
        self.count = count

    @staticmethod
    def create(path: str, count: int) -> str:
        with open(path, "wb") as file:
            file.write(bytes(8 * count))
        return path

    def publish(self, index: int, jobs: int) -> None:
        struct.pack_into("<q", self._map, 8 * index, jobs)

    def read(self) -> tuple[int, ...]:
        return struct.unpack_from(f"<{self.count}q", self._map, 0)


# A process keeps the orders it starts while it has at most a quarter more jobs on hand than the least busy process,
# plus this many. Under a burst every process has hundreds of jobs queued (make bench: 300 to 1,000), so a fixed
# margin made about half the orders move while the processes were equally busy.
KEEP_MARGIN = 2


class HomeDispatcher(WrappingDispatcher):
    """The job transport of one engine process: the installation's, unchanged, except that jobs leased at creation
    run in their order's home process (Siblings), and that a new order's id makes it at home where it starts, unless
    this process has more jobs on hand (`backlog`) than the least busy one by more than a quarter (and KEEP_MARGIN):
    then the order is made at home there.

    Why: a job that runs in another process than its order's last step finds no workflow in that process's cache
    and reads the order's state from the database (in `make bench`, about every other order, 5% of the server's CPU
    in loading alone). Homing by a hash of a random id spread the orders evenly, also when a few keep-alive clients
    stay with one process; the backlog spreads them only when one process has more than it keeps up with."""

    def __init__(
        self,
        inner: JobDispatcher,
        siblings: Siblings,
        board: LoadBoard | None = None,
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        super().__init__(inner)
        self.siblings = siblings
        self.board = board
        self.backlog = backlog

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:
        here = []
        for job in jobs:
            home = self.siblings.home(job.instance_id)
            if home == self.siblings.index or not self.siblings.send_job(job, home):
                here.append(job)
        if here:
            self.inner.run_claimed(here)
        if self.board is not None:
            self.board.publish(self.siblings.index, self.backlog())

    def order_id(self) -> str:
        home = self.siblings.index
        if self.board is not None:
            mine = self.backlog()
            self.board.publish(home, mine)
            loads = self.board.read()
            least = min(range(len(loads)), key=loads.__getitem__)
            if mine > loads[least] * 5 // 4 + KEEP_MARGIN:
                home = least
        while True:  # a random id of that home: one try in `count` on average
            order_id = self.inner.order_id()
            if self.siblings.home(order_id) == home:
                return order_id


def serve_in_this_process(app, sock: socket.socket, *, threads: int = 8):
    """The waitress server of one engine process, on the socket `orderflow serve` bound (listening_socket)."""
    from waitress import create_server

    return create_server(app, sockets=[sock], threads=threads, ident="orderflow")
