"""Camunda 7's typed variables to orderflow's JSON and back, and the long-poll wake-up for external workers."""

from __future__ import annotations

import threading

import pytest

from app.camunda.values import read_variables, typed_variables
from processes.errors import InvalidInput
from processes.jobs.arrivals import JobArrivals


def test_every_camunda_type_is_read_into_json() -> None:
    typed = {
        "name": {"value": "Ada", "type": "String"},
        "quantity": {"value": 3, "type": "Integer"},
        "big": {"value": "9000000000", "type": "Long"},
        "price": {"value": 24.5, "type": "Double"},
        "gift": {"value": "false", "type": "Boolean"},
        "address": {"value": '{"city": "Berlin"}', "type": "Json"},
        "items": {"value": '[{"sku": "A"}]', "type": "Object",
                  "valueInfo": {"serializationDataFormat": "application/json", "objectTypeName": "java.util.List"}},
        "due": {"value": "2027-01-31T12:00:00.000+0100", "type": "Date"},
        "note": {"value": None, "type": "Null"},
        "untyped": {"value": {"as": "sent"}},
    }  # fmt: skip
    assert read_variables(typed) == {
        "name": "Ada",
        "quantity": 3,
        "big": 9000000000,
        "price": 24.5,
        "gift": False,
        "address": {"city": "Berlin"},
        "items": [{"sku": "A"}],
        "due": "2027-01-31T12:00:00+01:00",
        "note": None,
        "untyped": {"as": "sent"},
    }


JAVA = "application/x-java-serialized-object"


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"value": "lots", "type": "Integer"}, "not a valid Integer"),
        ({"value": 2.5, "type": "Long"}, "not a valid Long"),
        ({"value": "maybe", "type": "Boolean"}, "not a valid Boolean"),
        ({"value": "{broken", "type": "Json"}, "not a valid Json"),
        ({"value": "rO0AB", "type": "Object", "valueInfo": {"serializationDataFormat": JAVA}}, "send it as Json"),
        ({"value": "aGk=", "type": "Bytes"}, "not supported"),
        ({"value": "yesterday", "type": "Date"}, "not a valid Date"),
        ("just a value", "send {"),
    ],
)  # fmt: skip
def test_a_value_that_cannot_be_read_names_the_variable(entry: object, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as raised:
        read_variables({"amount": entry})
    assert "amount" in str(raised.value)


def test_variables_are_answered_with_the_type_camunda_gives_them() -> None:
    typed = typed_variables({"s": "x", "i": 7, "l": 2**40, "d": 1.5, "b": True, "n": None, "o": {"a": [1]}})
    assert {name: entry["type"] for name, entry in typed.items()} == {
        "s": "String", "i": "Integer", "l": "Long", "d": "Double", "b": "Boolean", "n": "Null", "o": "Json",
    }  # fmt: skip
    assert typed["o"]["value"] == '{"a": [1]}' and typed["i"] == {"type": "Integer", "value": 7, "valueInfo": {}}
    assert set(typed_variables({"a": 1, "b": 2}, ["b", "missing"])) == {"b"}


def test_a_waiting_poll_looks_again_when_jobs_arrive() -> None:
    arrivals = JobArrivals(limit=2, recheck_seconds=60)  # only an announcement can wake it within the test
    jobs: list[str] = []
    answers: list[list[str]] = []
    poll = threading.Thread(target=lambda: answers.append(arrivals.poll(lambda: list(jobs), timeout_seconds=60)))
    poll.start()
    while arrivals.waiting == 0:  # until the poll found nothing and waits
        threading.Event().wait(0.01)
    jobs.append("job-1")
    arrivals.announce()
    poll.join(30)
    assert answers == [["job-1"]]


def test_polls_beyond_the_limit_are_answered_at_once() -> None:
    arrivals = JobArrivals(limit=0)
    assert arrivals.poll(lambda: [], timeout_seconds=60) == []
    assert JobArrivals(limit=1).poll(lambda: ["ready"], timeout_seconds=60) == ["ready"]
