"""Take the README's screenshots (docs/screenshots/*.png) of the demo in headless Chromium: `make screenshots`.

Starts its own demo server (demo people, sandbox systems, the shipped workflows) in a temporary directory on free
ports, runs a short realistic simulation so the dashboards have something to show, leaves two orders waiting for
sales' approval, then logs in as the demo people and photographs their pages. Needs Playwright and a Chromium
(`ORDERFLOW_CHROMIUM`, default /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
TOKEN = "screenshots-token"
PASSWORD = "orderflow-demo"
CHROMIUM = os.environ.get("ORDERFLOW_CHROMIUM", "/usr/bin/chromium")
SLA = {"order_management": {"target": "PT2M", "minShare": 0.9}}

WAITING_ORDERS = [
    {"businessKey": "ORDER-2001", "customer": {"id": "C-7", "name": "Grace Hopper", "email": "grace@example.com",
                                               "tier": "standard", "accountType": "regular"},
     "items": [{"sku": "SKU-1008", "quantity": 40, "unitPrice": 150.0}, {"sku": "SKU-1001", "quantity": 4,
                                                                          "unitPrice": 24.5}],
     "shippingAddress": {"name": "Grace Hopper", "street": "Rue de l’Église 5", "city": "Zürich",
                         "postalCode": "8001", "country": "CH"}},
    {"businessKey": "ORDER-2002", "customer": {"id": "C-9", "name": "Émilie du Châtelet", "email": "emilie@example.com",
                                               "tier": "silver", "accountType": "regular"},
     "items": [{"sku": "SKU-1004", "quantity": 60, "unitPrice": 99.0}],
     "shippingAddress": {"street": "Marienplatz 8", "city": "München", "postalCode": "80331", "country": "DE"}},
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(data_dir: Path) -> tuple[subprocess.Popen, str, str]:
    port, sandbox_port = free_port(), free_port()
    env = {**os.environ, "ORDERFLOW_DATA_DIR": str(data_dir), "ORDERFLOW_PORT": str(port),
           "ORDERFLOW_SANDBOX_PORT": str(sandbox_port), "ORDERFLOW_API_TOKEN": TOKEN, "ORDERFLOW_DEMO_USERS": "true",
           "ORDERFLOW_SLA": json.dumps(SLA)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # the server says where it listens once it is ready
        if line.startswith("orderflow listening on "):
            return proc, line.split()[3], f"http://127.0.0.1:{sandbox_port}"
    raise RuntimeError("the demo server did not start")


def fill(url: str, sandbox_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "app.cli", "simulate", "--orders", "30", "--profile", "realistic", "--url", url,
         "--token", TOKEN, "--sandbox-url", sandbox_url],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {TOKEN}"
    for order in WAITING_ORDERS:
        variables = {k: v for k, v in order.items() if k != "businessKey"} | {"channel": "web", "currency": "EUR"}
        started = api.post(f"{url}/api/v1/process-definitions/order_management/instances",
                           json={"businessKey": order["businessKey"], "variables": variables}, timeout=30)  # fmt: skip
        started.raise_for_status()
    for _ in range(100):  # both reach the approval in well under a second
        tasks = api.get(f"{url}/api/v1/tasks", params={"processKey": "order_management"}, timeout=30).json()
        if tasks["total"] >= len(WAITING_ORDERS):
            return
        time.sleep(0.1)
    raise RuntimeError("the orders did not reach the approval")


def log_in(page: Page, url: str, user: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=who]")


def shoot(page: Page, name: str, ready: str | None = None, full_page: bool = False) -> None:
    if ready:
        page.wait_for_selector(ready)
    page.wait_for_timeout(300)  # let the last paint of the diagram settle before the photograph
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
    print(f"docs/screenshots/{name}.png")


def photograph(url: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 420})
        log_in(page, url, "sam")
        shoot(page, "inbox", "[data-testid=task-row]")
        page.click("[data-testid=task-row] a >> text=Approve order")
        page.set_viewport_size({"width": 1280, "height": 1500})
        shoot(page, "task", "#diagram[data-ready=true]")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        log_in(phone, url, "sam")
        shoot(phone, "inbox-phone", "[data-testid=task-row]")
        page.set_viewport_size({"width": 1280, "height": 1100})
        log_in(page, url, "olga")
        page.goto(f"{url}/monitoring")
        shoot(page, "dashboard", "#throughput[data-ready=true]")
        page.goto(f"{url}/monitoring/processes/order_management")
        page.set_viewport_size({"width": 1280, "height": 860})
        shoot(page, "heatmap", "#heatmap[data-ready=true]")
        log_in(page, url, "anna")
        page.goto(f"{url}/modeler/processes/order_management")
        shoot(page, "modeler", "[data-ready=true]")
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="orderflow-screenshots-") as data_dir:
        proc, url, sandbox_url = start_demo(Path(data_dir))
        try:
            fill(url, sandbox_url)
            photograph(url)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
