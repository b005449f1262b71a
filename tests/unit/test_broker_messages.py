"""What the Celery transport (processes/jobs/broker.py) puts in the broker for one step's jobs: the jobs of an order
that are due now in one message, so that one worker runs them side by side and applies their results in one step;
a job due later in a message of its own, with its countdown. Read back from Kombu's in-memory broker."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from celery import Celery

from processes.core.models import SERVICE, utcnow
from processes.core.transport import MAX_SIDE_BY_SIDE
from processes.jobs.broker import CeleryDispatcher


def _job(job_id: str, instance_id: str = "order-1", due_in: float = 0.0, topic: str = "payment.authorize"):
    return SimpleNamespace(
        id=job_id, instance_id=instance_id, kind=SERVICE, topic=topic, due_at=utcnow() + timedelta(seconds=due_in)
    )


def _messages(app: Celery, count: int) -> list:
    found = []
    with app.connection_for_read() as connection:
        box = connection.SimpleQueue(app.conf.task_default_queue)
        for _ in range(count):
            message = box.get(timeout=5)
            message.ack()
            found.append(message)
        assert box.qsize() == 0
    return found


def test_an_orders_jobs_due_now_go_in_one_message_and_a_later_one_alone() -> None:
    app = Celery("broker-messages-test", broker="memory://")
    dispatcher = CeleryDispatcher(topics=["payment.authorize", "wms.reserve"], app=app)
    dispatcher.dispatch(
        [
            _job("authorize"),
            _job("reserve", topic="wms.reserve"),
            _job("retry", due_in=30),
            _job("elsewhere", topic="external.only"),  # for external workers over REST: not sent
        ],
        new_order=True,
    )
    messages = sorted(_messages(app, 2), key=lambda m: len(m.payload[0]), reverse=True)
    assert [m.payload[0] for m in messages] == [["authorize", "reserve"], ["retry"]]
    assert all(m.headers["task"] == "orderflow.run_job" for m in messages)
    assert messages[0].headers["eta"] is None and messages[1].headers["eta"] is not None


def test_a_wide_split_goes_in_messages_of_at_most_eight_jobs() -> None:
    """A parallel multi-instance over a long list makes many jobs due at once: a worker runs a message's jobs one
    thread each, so one diagram must not put them all in one message."""
    app = Celery("broker-messages-test", broker="memory://")
    dispatcher = CeleryDispatcher(topics=["payment.authorize"], app=app)
    dispatcher.dispatch([_job(f"item-{n}") for n in range(19)] + [_job("other", instance_id="order-2")])
    messages = sorted((m.payload[0] for m in _messages(app, 4)), key=len, reverse=True)
    assert [len(ids) for ids in messages] == [MAX_SIDE_BY_SIDE, MAX_SIDE_BY_SIDE, 3, 1]
    assert sorted(sum(messages, [])) == sorted([f"item-{n}" for n in range(19)] + ["other"])
    assert MAX_SIDE_BY_SIDE == 8
