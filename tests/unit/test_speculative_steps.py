"""Write transactions that read before they take SQLite's writer lock (processes/core/db.py, Speculation), and the
engine steps that use them (a start, a job's result): what they read is checked at their first write, and a step
whose reads changed meanwhile runs again. On a real SQLite file with group commit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from SpiffWorkflow.task import TaskState
from sqlalchemy import text

from processes.core import db
from processes.core.engine import Engine
from processes.core.spiff import tasks_in
from processes.core.step import Step
from processes.errors import Conflict
from processes.instances import get_instance, start_instance
from processes.jobs.service import JobService
from tests.support.engine import deployed
from tests.support.orders import ORDER
from tests.support.paths import SHIPPED


@pytest.fixture
def sql(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'orderflow.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT)"))
        connection.execute(text("INSERT INTO orders (id, status) VALUES (1, 'new'), (2, 'new')"))
    yield engine
    engine.dispose()


def _write_elsewhere(sql, statement: str) -> None:
    """Another writer commits, on a thread of its own; it must get the writer lock while the speculating
    transaction is open (that transaction does not hold it while it reads)."""

    def write() -> None:
        with db.writer_lock(sql), sql.connect() as connection:
            with connection.execution_options(orderflow_write=True).begin():
                connection.execute(text(statement))

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(30)
    assert not writer.is_alive(), "the other writer waited for the lock: the speculating transaction held it"


def _statuses(sql) -> dict[int, str]:
    with sql.connect() as connection:
        return dict(connection.execute(text("SELECT id, status FROM orders")).all())


def test_sqlite_with_group_commit_speculates_and_other_databases_do_not(sql, tmp_path: Path) -> None:
    assert db.speculative(sql) is not None
    assert db.speculative(db.make_engine(f"sqlite:///{tmp_path / 'full.db'}", synchronous="FULL")) is None
    assert db.speculative(db.make_engine("sqlite://")) is None  # in memory


def test_a_write_goes_through_when_another_writer_changed_something_it_did_not_read(sql) -> None:
    with db.speculative_transaction(db.speculative(sql)) as connection:
        status = connection.execute(text("SELECT status FROM orders WHERE id = 1")).scalar()
        _write_elsewhere(sql, "UPDATE orders SET status = 'paid' WHERE id = 2")
        connection.execute(text("UPDATE orders SET status = :s WHERE id = 1"), {"s": f"{status}, checked"})

    assert _statuses(sql) == {1: "new, checked", 2: "paid"}


def test_a_write_based_on_a_row_another_writer_changed_is_refused_and_nothing_is_written(sql) -> None:
    with pytest.raises(db.StaleReads):
        with db.speculative_transaction(db.speculative(sql)) as connection:
            status = connection.execute(text("SELECT status FROM orders WHERE id = 1")).scalar()
            _write_elsewhere(sql, "UPDATE orders SET status = 'cancelled' WHERE id = 1")
            connection.execute(text("UPDATE orders SET status = :s WHERE id = 2"), {"s": f"after {status}"})

    assert _statuses(sql) == {1: "cancelled", 2: "new"}  # the other writer's change stands, no lost update


def test_a_row_that_a_query_would_now_also_find_refuses_the_write(sql) -> None:
    with pytest.raises(db.StaleReads):
        with db.speculative_transaction(db.speculative(sql)) as connection:
            count = connection.execute(text("SELECT count(*) FROM orders WHERE status = 'new'")).scalar()
            _write_elsewhere(sql, "INSERT INTO orders (id, status) VALUES (3, 'new')")
            connection.execute(text("UPDATE orders SET status = :s WHERE id = 1"), {"s": f"one of {count}"})

    assert _statuses(sql) == {1: "new", 2: "new", 3: "new"}


def test_a_refusal_made_from_reads_that_changed_is_no_refusal(sql) -> None:
    """The body raises before it writes, on what it read; the reads changed meanwhile, so its caller hears
    StaleReads (and runs it again) instead of the refusal."""

    class AlreadyPaid(Exception):
        pass

    with pytest.raises(db.StaleReads):
        with db.speculative_transaction(db.speculative(sql)) as connection:
            status = connection.execute(text("SELECT status FROM orders WHERE id = 1")).scalar()
            _write_elsewhere(sql, "UPDATE orders SET status = 'new again' WHERE id = 1")
            if status == "new":
                raise AlreadyPaid("refused on what was read")

    with pytest.raises(AlreadyPaid):  # reads unchanged: the refusal stands
        with db.speculative_transaction(db.speculative(sql)) as connection:
            connection.execute(text("SELECT status FROM orders WHERE id = 2")).scalar()
            raise AlreadyPaid("refused on what was read")


def test_a_body_that_swallows_stale_reads_still_writes_nothing(sql) -> None:
    with pytest.raises(db.StaleReads):
        with db.speculative_transaction(db.speculative(sql)) as connection:
            connection.execute(text("SELECT status FROM orders WHERE id = 1")).scalar()
            _write_elsewhere(sql, "UPDATE orders SET status = 'shipped' WHERE id = 1")
            try:
                connection.execute(text("UPDATE orders SET status = 'mine' WHERE id = 2"))
            except db.StaleReads:
                pass  # a careless caller goes on
            connection.execute(text("UPDATE orders SET status = 'mine too' WHERE id = 2"))

    assert _statuses(sql) == {1: "shipped", 2: "new"}


def test_committed_runs_while_the_writer_lock_is_held_and_the_lock_is_released_after(sql) -> None:
    lock = db.writer_lock(sql)
    seen = []
    with db.speculative_transaction(db.speculative(sql), lambda: seen.append(lock.defer(0))) as connection:
        connection.execute(text("SELECT status FROM orders WHERE id = 1")).scalar()
        connection.execute(text("UPDATE orders SET status = 'paid' WHERE id = 1"))
    assert seen == [True]  # `defer` answers True only to the thread holding the lock
    assert lock.defer(0) is False
    _write_elsewhere(sql, "UPDATE orders SET status = 'shipped' WHERE id = 1")  # the lock is free again


# -- engine steps --------------------------------------------------------------------------------------------------


def _started(engine: Engine) -> str:
    deployed(engine, ("order_fulfillment.bpmn", SHIPPED.read_bytes()))
    return start_instance(engine, "order_fulfillment", variables=ORDER, business_key="B-1").instance["id"]


def _set(name: str, value: object):
    def command(step: Step) -> None:
        for task in tasks_in(step.workflow, TaskState.STARTED):
            task.data[name] = value

    return command


def test_a_step_whose_order_another_step_changed_meanwhile_runs_again_and_both_changes_count(engine: Engine) -> None:
    instance_id = _started(engine)
    runs = []

    def note_and_let_another_step_in(step: Step) -> None:
        runs.append(step.instance.revision)
        if len(runs) == 1:  # the first run reads, and another step of the same order commits before it writes
            other = threading.Thread(target=engine.step, args=(instance_id, _set("noted_by", "operator")))
            other.start()
            other.join(30)
            assert not other.is_alive(), "the other step waited: the first held the writer lock while it read"
        _set("noted_by_worker", True)(step)

    engine.step(instance_id, note_and_let_another_step_in, rerunnable=True)

    assert runs == [runs[0], runs[0] + 1]  # run again, on the order as the other step left it
    variables = get_instance(engine, instance_id)["variables"]
    assert variables["noted_by"] == "operator" and variables["noted_by_worker"] is True


def test_a_step_that_nobody_disturbed_runs_once(engine: Engine) -> None:
    instance_id = _started(engine)
    runs = []

    def note(step: Step) -> None:
        runs.append(step.instance.revision)
        _set("noted", True)(step)

    engine.step(instance_id, note, rerunnable=True)

    assert len(runs) == 1
    assert get_instance(engine, instance_id)["variables"]["noted"] is True


def test_a_job_result_rejected_on_a_stale_lease_is_rejected_after_its_reads_are_checked(engine: Engine) -> None:
    """A worker's result is refused when its lease is gone; the refusal is decided on what the step read before
    the writer lock, so it is only given once those reads are checked (here they still hold)."""
    jobs = JobService(engine, lambda job: {})
    instance_id = _started(engine)
    claimed = jobs.claim("w", limit=10)
    jobs.unlock(claimed[0].id)  # the lease is taken back

    with pytest.raises(Conflict):
        jobs.complete(claimed[0].id, claimed[0].lease_token, {}, instance_id=instance_id)
    statuses = {j["id"]: j["status"] for j in get_instance(engine, instance_id)["jobs"]}
    assert statuses[claimed[0].id] == "ready"
