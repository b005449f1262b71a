"""What `make bench` counts per order besides the throughput: CPU per process (from /proc), fsyncs (strace on the
SQLite server, PostgreSQL's WAL syncs), commits, engine steps and HTTP calls.

Every counter is read as a difference between two snapshots taken around the measured orders only (the warm-up and
start-up are outside), then divided by the completed orders."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU of one process so far, or None when it is gone (or not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def children(pid: int) -> list[int]:
    """All live descendants of a process (the server's sandbox, a Celery worker's pool processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class CpuSnapshot:
    """CPU seconds per named process at one moment. Processes that start between two snapshots count from zero
    (a PostgreSQL backend opened during the run); those that end between them are lost (none do in a run)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def minus(self, before: CpuSnapshot) -> dict[str, float]:
        return {name: value - before.seconds.get(name, 0.0) for name, value in self.seconds.items()}


def snapshot(processes: dict[str, int], postgres_pids: list[int] | None = None) -> CpuSnapshot:
    """`processes`: role -> pid of the processes the bench started. Their descendants are named by what they
    run: the sandbox the server started, a Celery worker's pool processes (counted with the worker)."""
    seen: dict[str, float] = {}
    for role, pid in processes.items():
        own = cpu_seconds(pid) or 0.0
        for child in children(pid):
            spent = cpu_seconds(child) or 0.0
            if "connectors.sandbox" in command_line(child):
                seen["sandbox"] = seen.get("sandbox", 0.0) + spent
            else:
                own += spent
        seen[role] = seen.get(role, 0.0) + own
    if postgres_pids is not None:
        seen["postgresql"] = sum(cpu_seconds(pid) or 0.0 for pid in postgres_pids)
    seen["bench client"] = time.process_time()
    return CpuSnapshot(seen)


# -- fsyncs of the SQLite server: strace with a seccomp filter stops the process only at fsync/fdatasync ----------


def strace_prefix(log: Path) -> list[str] | None:
    """A command prefix that logs every fsync and fdatasync of the process and its children with a timestamp, or
    None when strace is missing or cannot trace here. Only those two system calls stop the process (seccomp-bpf), a
    few microseconds each, about five times per order."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    prefix = [strace, "-f", "--seccomp-bpf", "-qq", "-ttt", "-e", "trace=fsync,fdatasync", "-o", str(log)]
    try:
        probe = subprocess.run([*prefix[:-2], "-o", os.devnull, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None


def fsyncs_between(log: Path, start: float, end: float) -> int | None:
    """fsync/fdatasync calls logged between two wall-clock times."""
    if not log.exists():
        return None
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split()
        # "<pid> <epoch seconds> fdatasync(5) = 0", or without the pid when only one process was traced
        stamp = next((p for p in parts[:2] if "." in p and p.replace(".", "").isdigit()), None)
        if stamp is not None and start <= float(stamp) <= end and "sync(" in line and "resumed" not in line:
            count += 1
    return count


# -- PostgreSQL: commits of the run's database, WAL syncs of the cluster, backends of the database -------------------


def postgres_counters(admin, database: str) -> dict[str, int]:
    """Commits of one database (every transaction, read-only ones too: PostgreSQL counts them alike) and the
    cluster's WAL syncs (every fsync of the WAL, whoever caused it: other databases on the server add noise)."""
    commits = admin.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()[0]
    try:
        syncs = admin.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]
    except Exception:  # PostgreSQL before 14 has no pg_stat_wal
        syncs = None
    return {"commits": int(commits), "walSyncs": None if syncs is None else int(syncs)}


def postgres_backends(admin, database: str) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
    ).fetchall()
    return [row[0] for row in rows]


def redis_cpu(client) -> float | None:
    """CPU seconds the Redis server spent so far (its own figure; shared with whatever else uses that server)."""
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except Exception:
        return None
