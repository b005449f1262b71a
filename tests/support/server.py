"""Starting and stopping `orderflow serve` as a real process, and a client that talks to its REST API."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import requests

TOKEN = "test-token"


def read_line(stream, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    def __init__(self, url: str, data_dir: Path, proc: subprocess.Popen):
        self.url = url
        self.api = f"{url}/api/v1"
        self.data_dir = data_dir
        self.proc = proc
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.api + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.api + path, timeout=30, **kwargs)


def start_server(data_dir: Path, sandbox_url: str, **env: str) -> Server:
    environment = {
        **os.environ,
        "ORDERFLOW_DATA_DIR": str(data_dir),
        "ORDERFLOW_PORT": "0",
        "ORDERFLOW_API_TOKEN": TOKEN,
        "ORDERFLOW_SANDBOX": "false",
        "ORDERFLOW_SANDBOX_URL": sandbox_url,
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = read_line(proc.stdout, 60)
    if not line.startswith("orderflow listening on "):
        stop(proc)
        raise RuntimeError(f"server did not start: {line!r}")
    return Server(line.split()[3], data_dir, proc)
