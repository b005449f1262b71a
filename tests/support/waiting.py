"""Polling helpers: wait until something the engine does in the background has happened."""

from __future__ import annotations

import time

from tests.support.server import Server


def wait_until_ended(server: Server, instance_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = server.get(f"/process-instances/{instance_id}").json()
        if view["endedAt"] or view["status"] == "incident":
            return view
        time.sleep(0.05)
    raise AssertionError(f"instance {instance_id} did not end: {view}")
