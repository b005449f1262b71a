"""What `make bench` counts per order and how it reports it (bench/measure.py, bench/report.py). The bench itself
runs behind `make bench` / `make bench-quick`; these check its counting on inputs made here."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import measure
from bench.report import markdown


def test_fsyncs_are_counted_inside_the_measured_window_only(tmp_path: Path) -> None:
    log = tmp_path / "fsyncs.log"
    log.write_text(
        "4242 1000.100000 fdatasync(5) = 0\n"  # before the window: the warm-up
        "4242 1001.500000 fdatasync(5) = 0\n"
        "4243 1001.600000 fsync(7) = 0\n"
        "4242 1001.700000 fdatasync(5 <unfinished ...>\n"
        "4242 1001.700100 <... fdatasync resumed>) = 0\n"  # one call, logged in two lines by two threads
        "4242 1003.000000 fdatasync(5) = 0\n"  # after the window
    )
    assert measure.fsyncs_between(log, 1001.0, 1002.0) == 3
    assert measure.fsyncs_between(tmp_path / "missing.log", 0, 1) is None


def test_cpu_of_this_process_grows_with_work() -> None:
    before = measure.cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = measure.cpu_seconds(os.getpid())
    assert before is not None and after is not None and after >= before
    assert measure.cpu_seconds(2**22 + 12345) is None  # no such process


def test_the_summary_names_the_command_the_machine_and_each_set_up() -> None:
    per_order = {"engineStepsPerOrder": 5.0, "commitsPerOrder": 9.5, "fsyncsPerOrder": 4.2, "cpuMsPerOrder": {}}
    run = {"ordersPerSecond": 20.0, "orders": 100, "completed": 100, "perOrder": per_order}
    figures = {
        "measuredAt": "2026-12-07T10:00:00+00:00",
        "command": "make bench-quick --only abc",
        "machine": {"cpus": 2, "cpuModel": "Some CPU", "memoryGiB": 24, "system": "Linux", "python": "3.11.7"},
        "diagram": "bpmn/order_fulfillment.bpmn",
        "plainSpiffWorkflow": [{"ordersPerSecond": 400.0}, {"ordersPerSecond": 200.0}],
        "orderflowEndToEnd": [{"ordersPerSecond": 60.0, "perOrder": per_order}, run],
        "ratio": {"median": 0.125, "min": 0.1, "max": 0.15},
        "openLoop": [
            {
                "ratePerSecond": 10.0,
                "seconds": 10,
                "orders": 100,
                "completed": 100,
                "latencyMs": {"p50": 30.0, "p90": 50.0, "p99": 90.0, "max": 120.0},
            }
        ],
        "distributed": {"runs": {"embedded": run, "2 workers": {**run, "ratioToEmbedded": 0.9}}},
    }
    text = markdown(figures)
    assert "Command: `make bench-quick --only abc`" in text and "2 CPUs (Some CPU)" in text
    assert "**0.125** (0.100–0.150)" in text  # the median ratio of the rounds, with its range
    assert "| 10.0/s for 10 s | 100/100 | 30.0 ms | 50.0 ms | 90.0 ms | 120.0 ms |" in text
    assert "| 2 workers | 20.0 | 0.90 | 100/100 |" in text
    assert "| 2 workers | 5.0 | 9.5 | 4.2 |" in text
