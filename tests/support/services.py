"""What a test needs from the machine (services, browsers, files): skip with the reason, or fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Something a test needs is not on this machine: skip with the reason; in CI (CI=true) fail: it must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
    pytest.skip(reason)
