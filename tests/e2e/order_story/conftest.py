"""Fixtures shared by the order-management story modules: the sandbox reset around every test, and the approvers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.rest import add_user
from tests.support.server import Server


@pytest.fixture(autouse=True)
def healthy_sandbox(sandbox_url: str) -> Iterator[None]:
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, requests.Session]:
    """The approvers of the story, each with their own token, in the groups the diagram offers tasks to."""
    return {
        "sam": add_user(server, "sam", ["approver"], ["sales"]),
        "fiona": add_user(server, "fiona", ["approver"], ["finance"]),
        "mike": add_user(server, "mike", ["approver"], ["management"]),
        "olga": add_user(server, "olga", ["operator", "approver"], ["operations"]),
    }
