"""Fixtures of the browser tests (the session's `browser` and `page` come from tests/conftest.py)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator

import pytest

from tests.support.browser import QuietHandler, Site
from tests.support.paths import ROOT


# The local site that serves the committed browser bundles (test_browser_assets, test_order_story_diagrams). Modules
# that test a running orderflow server's pages define their own `site` fixture, which overrides this one there.
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    (root / "static").symlink_to(ROOT / "app" / "static", target_is_directory=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
