"""How many engine processes `orderflow serve` runs (app/serving.py)."""

from __future__ import annotations

import os

import pytest

from app.serving import MAX_AUTO_PROCESSES, ProcessesSettingError, process_count


def test_auto_is_one_process_per_usable_core_up_to_the_cap() -> None:
    expected = max(1, min(len(os.sched_getaffinity(0)), MAX_AUTO_PROCESSES))
    assert process_count("auto") == process_count("") == process_count(None) == process_count(" AUTO ") == expected


def test_a_number_is_taken_as_it_is() -> None:
    assert process_count("1") == 1
    assert process_count(6) == 6


@pytest.mark.parametrize("setting", ["0", "-2", "two", "1.5"])
def test_anything_else_is_refused(setting: str) -> None:
    with pytest.raises(ProcessesSettingError, match="whole number from 1 up"):
        process_count(setting)
