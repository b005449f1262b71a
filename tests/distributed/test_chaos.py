"""The short chaos run (`python -m chaos --short`, the quick version of `make chaos`): the distributed set-up on a
PostgreSQL cluster and a Redis server of its own under a steady load of orders, a worker killed twice and the API
killed once. Nothing may be lost and nothing done twice; the recovery seconds are reported, not asserted (they
depend on how busy the machine is; `make chaos` holds them to its target)."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT
from tests.support.services import missing

SUMMARY = re.compile(r"^chaos: (\d+) scenarios, lost (\d+), duplicates (\d+), worst recovery (\S+) s$")
SCENARIO = re.compile(
    r"^(\S+): orders (\d+), completed (\d+), lost (\d+), duplicate charges (\d+), "
    r"duplicate shipments (\d+), recovery "
)


@pytest.fixture
def chaos_services() -> None:
    if not (glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")):
        missing("PostgreSQL's initdb is not installed (the chaos run starts a PostgreSQL cluster of its own)")
    if not shutil.which("redis-server"):
        missing("redis-server is not installed (the chaos run starts a broker of its own)")


def test_the_short_chaos_run_loses_nothing_and_does_nothing_twice(chaos_services: None) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "chaos", "--short", "--port-base", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = run.stdout.strip().splitlines()
    shown = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-3000:]}"
    assert lines, shown
    summary = SUMMARY.match(lines[-1])
    assert summary is not None, shown
    scenarios, lost, duplicates = (int(summary.group(n)) for n in (1, 2, 3))
    assert (scenarios, lost, duplicates) == (2, 0, 0), shown
    per_scenario = [m for line in lines if (m := SCENARIO.match(line))]
    assert [m.group(1) for m in per_scenario] == ["worker-kill", "api-kill"], shown
    for m in per_scenario:
        orders, completed = int(m.group(2)), int(m.group(3))
        assert orders > 0 and completed == orders, shown
