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


def _siblings(tmp_path, count: int = 2) -> list:
    import socket

    from app.serving import Siblings

    paths = [str(tmp_path / f"{n}.sock") for n in range(count)]
    inboxes = []
    for path in paths:
        inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.bind(path)
        inboxes.append(inbox)
    return [Siblings(inbox, n, paths) for n, inbox in enumerate(inboxes)]


def test_a_job_handed_to_its_home_process_arrives_as_it_was_leased(tmp_path) -> None:
    import queue

    from processes.core.transport import ClaimedJob

    here, there = _siblings(tmp_path)
    job = ClaimedJob(
        id="j1",
        instance_id="i1",
        kind="service",
        topic="payment.authorize",
        element_id="Task_Pay",
        attempt=2,
        max_attempts=3,
        lease_token="t1",
        variables={"customer": "Zoë", "items": [{"sku": "A", "quantity": 2, "price": 9.5}], "note": None},
        business_key="ORDER-1",
    )
    received: queue.Queue = queue.Queue()
    announced: queue.Queue = queue.Queue()
    there.listen(lambda: announced.put(True), received.put)
    assert here.send_job(job, 1)
    assert received.get(timeout=10) == [job]
    here.tell()
    assert announced.get(timeout=10)


def test_a_job_too_big_for_one_message_stays_where_it_was_made(tmp_path) -> None:
    from processes.core.transport import ClaimedJob

    here, _ = _siblings(tmp_path)
    job = ClaimedJob("j", "i", "service", "t", None, 1, 3, "l", {"blob": "x" * 100_000})
    assert not here.send_job(job, 1)


def test_every_process_agrees_on_an_orders_home(tmp_path) -> None:
    first, second = _siblings(tmp_path)
    homes = {first.home(f"instance-{n}") for n in range(50)}
    assert homes == {0, 1}  # orders are spread over both
    assert all(first.home(f"instance-{n}") == second.home(f"instance-{n}") for n in range(50))


def test_carrier_figures_recorded_in_one_process_reach_the_other_once() -> None:
    from connectors.carrier_performance import CarrierPerformance

    clock = [1000.0]
    here, there = CarrierPerformance(clock=lambda: clock[0]), CarrierPerformance(clock=lambda: clock[0])
    sent_here, sent_there = [], []
    here.share, there.share = sent_here.append, sent_there.append
    here.booking("DPD", ok=False)
    here.delivery("DHL", "T-1", on_time=True)
    here.delivery("DHL", "T-1", on_time=True)  # tracked again: counted (and told) once
    for record in sent_here:
        there.absorb(record)
    assert sent_there == []  # what was absorbed is not told again
    assert there.snapshot() == here.snapshot()
    assert there.snapshot()["DPD"]["recentFailures"] == 1 and there.snapshot()["DHL"]["onTimeRate"] == 1.0


def test_a_new_order_is_homed_where_it_starts_until_that_process_has_more_to_do(tmp_path) -> None:
    """HomeDispatcher.order_id: the new order's jobs run in the process that started it (its workflow is in that
    process's cache), unless that process has more jobs on hand than the least busy one by more than a quarter
    (and KEEP_MARGIN); then in the least busy one. Each process reads the others' numbers from the load board."""
    from app.serving import KEEP_MARGIN, HomeDispatcher, LoadBoard
    from processes.core.transport import JobDispatcher

    first, second = _siblings(tmp_path, 3)[:2]
    path = LoadBoard.create(str(tmp_path / "load"), 3)
    backlog = {0: 0, 1: 0}
    here = HomeDispatcher(JobDispatcher(), first, LoadBoard(path, 3), lambda: backlog[0])
    there = HomeDispatcher(JobDispatcher(), second, LoadBoard(path, 3), lambda: backlog[1])
    board = LoadBoard(path, 3)

    assert {first.home(here.order_id()) for _ in range(20)} == {0}  # nobody is busy: every order stays
    assert board.read() == (0, 0, 0)

    backlog[0] = 5
    board.publish(0, 5)  # as the first process does when it starts an order or hands out jobs
    backlog[1] = 40  # the second process has work queued; it tells the board when it starts an order
    assert second.home(there.order_id()) == 2  # the third process has nothing on hand
    assert board.read() == (5, 40, 0)
    backlog[0] = 40 * 5 // 4 + KEEP_MARGIN  # busier than the second, within the margin: keeps its orders
    board.publish(2, 60)  # (the third got busy meanwhile: the second is now the least busy)
    assert first.home(here.order_id()) == 0
    backlog[0] += 1
    assert first.home(here.order_id()) == 1
    assert board.read() == (backlog[0], 40, 60)
