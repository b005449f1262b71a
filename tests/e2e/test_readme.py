"""The README's walk-through, run as a user would paste it, against a live server."""

from __future__ import annotations

import re
import subprocess

from tests.support.paths import ROOT
from tests.support.server import TOKEN, Server


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- readme-walkthrough[^>]*-->\s*```sh\n(.*?)```", readme, re.S)
    assert block, "the README lost its walk-through block"
    return block.group(1)


def test_readme_curl_walkthrough_completes_an_order(server: Server) -> None:
    script = walkthrough().replace("http://127.0.0.1:8080", server.url).replace("orderflow-dev-token", TOKEN)
    assert "orderflow-dev-token" not in script  # the test really talks to the test server
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"status": "completed"' in result.stdout, result.stdout
    for element in ("StartEvent_OrderReceived", "Task_ReserveInventory", "Task_ShipOrder", "EndEvent_OrderShipped"):
        assert element in result.stdout
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    first_id = re.search(r'"id": "([0-9a-f]{32})"', result.stdout).group(1)
    assert first_id in again.stdout  # the same Idempotency-Key returned the same order


def story_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- readme-story[^>]*-->\s*```sh\n(.*?)```", readme, re.S)
    assert block, "the README lost its order story walk-through"
    return block.group(1)


def test_readme_order_story_walkthrough_approves_one_order_and_cancels_another(
    server: Server, sandbox_url: str
) -> None:
    script = (
        story_walkthrough()
        .replace("http://127.0.0.1:8080", server.url)
        .replace("http://127.0.0.1:8081", sandbox_url)
        .replace("orderflow-dev-token", TOKEN)
    )
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Approve order: sales, order over 5,000 ['sales']" in out, out
    assert "completed [] {'orderOutcome': 'readyToShip'" in out and "'paymentStatus': 'captured'" in out, out
    assert "decision carrier_selection ->" in out and "decision order_approval ->" in out
    assert "completed [] {'orderOutcome': 'cancelled', 'paymentStatus': 'voided'}" in out, out
    assert "payment voided" in out and "customer told: ['Your order was cancelled']" in out
