"""Browser-test helpers: a local static site for the vendor bundles, and logging in to a running server's pages."""

from __future__ import annotations

import http.server
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import Server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest's output for failures
        pass


@dataclass
class Site:
    """A directory served over HTTP: /static is the app's static folder, test pages are written beside it."""

    root: Path
    url: str

    def open(self, page, name: str, head: str, body: str) -> list[str]:
        """Write a page, open it, and return the list that collects every browser-side problem while it runs."""
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        page.on(
            "response",
            lambda response: response.status >= 400 and problems.append(f"HTTP {response.status}: {response.url}"),
        )
        (self.root / f"{name}.html").write_text(
            '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"{head}</head><body>{body}</body></html>"
        )
        page.goto(f"{self.url}/{name}.html")
        return problems


def scripts(*names: str) -> str:
    return "".join(f'<script src="/static/vendor/{name}"></script>' for name in names)


def styles(*names: str) -> str:
    return "".join(f'<link rel="stylesheet" href="/static/vendor/{name}">' for name in names)


DEMO_PASSWORD = "orderflow-demo"


def start_order(server: Server, key: str, business_key: str, **variables) -> str:
    response = server.post(f"/process-definitions/{key}/instances",
                           json={"businessKey": business_key, "variables": variables})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def log_in(page, server: Server, username: str, password: str = DEMO_PASSWORD, start: str = "/inbox") -> None:
    page.goto(f"{server.url}{start}")
    assert "/login" in page.url  # not logged in: pages send people to the login page
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=who]")


def watch(page) -> list[str]:
    """Collect what goes wrong in the browser while a test runs: script errors, console errors, failed requests.
    A missing /favicon.ico is the browser asking on its own, not a page's problem."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")  # named by the response handler below
            and problems.append(f"console: {message.text}")
        ),
    )
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and not response.url.endswith("/favicon.ico")
            and problems.append(f"HTTP {response.status}: {response.url}")
        ),
    )
    return problems


def fits_the_width(page) -> tuple[int, int]:
    """(the page's scroll width, the viewport's width): equal when nothing makes the page scroll sideways."""
    return tuple(page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"))


def buttons_out_of_view(page, width: int) -> list[str]:
    """The visible buttons of a page that are cut off at the right edge of a `width` wide viewport."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll('main button, main input[type=submit]')]
             .filter((b) => b.offsetParent !== null && !b.closest('[hidden]'))
             .filter((b) => { const r = b.getBoundingClientRect(); return r.left < 0 || r.right > width; })
             .map((b) => b.textContent.trim() || b.value)""",
        width,
    )
