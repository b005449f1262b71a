"""The state saved at every step (processes/core/state_encoder.py) is the text SpiffWorkflow's converters give, and it
reads back as the standard library's encoder wrote it before orjson."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import select

from app.testing.diagram import read_bpmn
from app.testing.runner import Runner
from app.testing.suite import run_paths
from inbox.tasks import complete_task
from processes.core import clock
from processes.core.engine import Engine
from processes.core.models import TASK_OPEN, HumanTask, ProcessInstance
from processes.core.spiff import SpiffWorkflowException
from processes.core.state import StateSerializer
from processes.deployment.deployments import deploy
from processes.errors import OrderflowError
from processes.identity import Caller
from processes.instances import get_instance, start_instance
from processes.jobs.service import ClaimedJob, JobService
from tests.support.diagrams import process
from tests.support.paths import ROOT

# The conformance diagrams that deploy (tests/e2e/test_conformance.py lists what each does).
CONFORMANCE_RUNS = [
    ("bpmn-miwg", "C.1.0.bpmn"),
    ("bpmn-miwg", "C.5.0.bpmn"),
    ("bpmn-miwg", "C.9.1.bpmn"),
    ("camunda7", "invoicePayment.bpmn"),
    ("camunda7", "order-handling.bpmn"),
    ("camunda7", "pizza-order.bpmn"),
    ("camunda8", "order-process.bpmn"),
    ("camunda8", "order-process-4.bpmn"),
    ("camunda8", "order-zeebe.bpmn"),
    ("camunda8", "order-kafka.bpmn"),
    ("camunda8", "send-email.bpmn"),
]
ROUNDS = 30  # jobs, tasks and timer skips per conformance diagram (order-handling starts an order every 5 s)


class Saves:
    """The states saved, and how each differed from SpiffWorkflow's converters (recorded, not raised: the job layer
    turns an error in a step into an incident)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.differences: list[str] = []


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> Saves:
    """Every save checked against SpiffWorkflow's converters."""
    seen = Saves()
    dump = StateSerializer.dump_state

    def checked(self: StateSerializer, workflow) -> str:
        text = dump(self, workflow)
        if text != self.full_state(workflow):
            seen.differences.append(f"save {len(seen.texts)}: differs from SpiffWorkflow's converters")
        elif json.loads(text) != json.loads(self.plain_state(workflow)):
            seen.differences.append(f"save {len(seen.texts)}: orjson's text reads back unlike the standard library's")
        seen.texts.append(text)
        return text

    monkeypatch.setattr(StateSerializer, "dump_state", checked)
    return seen


def test_every_save_of_the_shipped_scenarios_is_spiffworkflow_s_text(saves: Saves) -> None:
    result = run_paths([ROOT / "bpmn"])
    assert result.passed
    assert len(saves.texts) > 100
    assert saves.differences == []


def _drive(runner: Runner, jobs: JobService) -> None:
    """Run due jobs, complete open user tasks, move the clock to the next timer, until nothing is left to do."""
    admin = Caller("tester", frozenset({"admin"}), frozenset())
    for _ in range(ROUNDS):
        claimed = jobs.claim("tester", limit=50)
        for job in claimed:
            try:
                jobs.run(job)
            except (OrderflowError, SpiffWorkflowException):  # a diagram the generic answers do not suit stops there
                pass
        if claimed:
            continue
        with runner.engine.read_session() as session:
            open_tasks = session.scalars(select(HumanTask.id).where(HumanTask.status == TASK_OPEN)).all()
        for task_id in open_tasks:
            try:
                complete_task(runner.engine, task_id, {"approved": True}, "tester", caller=admin)
            except (OrderflowError, SpiffWorkflowException):  # C.1.0's tasks want data outputs the answer lacks
                pass
        if open_tasks:
            continue
        due = jobs.next_due()
        if due is None:
            return
        runner.clock.advance_to(due)


def test_every_save_of_the_conformance_diagrams_is_spiffworkflow_s_text(saves: Saves, conformance: Path) -> None:
    def answer(job: ClaimedJob) -> dict:
        return {"approved": True, "invoiceId": "INV-1", "orderId": "O-1"}

    for folder, name in CONFORMANCE_RUNS:
        data = (conformance / folder / name).read_bytes()
        runner = Runner([(name, data)])
        with clock.using(runner.clock):
            for key in read_bpmn(Path(name), data).processes:
                variables = {"orderId": "O-1", "orderValue": 99, "order": {"orderId": "O-1"}, "amount": 10}
                try:
                    start_instance(runner.engine, key, variables=variables, business_key=f"K-{key}")
                except OrderflowError:
                    continue  # a process started by a message or a timer only
            _drive(runner, JobService(runner.engine, answer))
    assert len(saves.texts) > 60
    assert saves.differences == []


# A script changes, in place, a list that SpiffWorkflow shares between the data of the finished task that made it and
# the running tasks after it: the finished task's saved JSON must show the change.
SHARED = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="make"/>
  <bpmn:scriptTask id="make"><bpmn:script>order = {"lines": [{"qty": 1}]}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="b" sourceRef="make" targetRef="wait"/>
  <bpmn:serviceTask id="wait" camunda:type="external" camunda:topic="wait"/>
  <bpmn:sequenceFlow id="c" sourceRef="wait" targetRef="change"/>
  <bpmn:scriptTask id="change"><bpmn:script>order["lines"][0]["qty"] = 2</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="d" sourceRef="change" targetRef="again"/>
  <bpmn:serviceTask id="again" camunda:type="external" camunda:topic="wait"/>
  <bpmn:sequenceFlow id="e" sourceRef="again" targetRef="end"/><bpmn:endEvent id="end"/>"""


def _state(engine: Engine, instance_id: str) -> str:
    with engine.read_session() as session:
        return session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))


def _made_lines(state: str) -> list:
    """The lines as the state keeps them for the task `make` (its changes to the data)."""
    task = next(t for t in json.loads(state)["tasks"].values() if t["task_spec"] == "make")
    return task["delta"]["updates"]["order"]["lines"]


def test_a_change_made_in_place_to_a_finished_task_s_data_is_saved(engine: Engine, saves: Saves) -> None:
    deploy(engine, [process("shared", SHARED)])
    started = start_instance(engine, "shared", variables={}, business_key="SHARED-1")
    instance_id = started.instance["id"]
    assert _made_lines(_state(engine, instance_id)) == [{"qty": 1}]
    jobs = JobService(engine, lambda job: {})
    for job in jobs.claim("worker", topics=["wait"]):
        jobs.run(job)  # `change` runs, and the order waits at `again`
    assert get_instance(engine, instance_id)["status"] != "completed"
    assert _made_lines(_state(engine, instance_id)) == [{"qty": 2}]
    assert saves.differences == []


def test_a_script_making_nan_fails_its_element_instead_of_saving_null(engine: Engine) -> None:
    script = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="divide"/>
      <bpmn:scriptTask id="divide"><bpmn:script>ratio = float("nan")</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="b" sourceRef="divide" targetRef="end"/><bpmn:endEvent id="end"/>"""
    deploy(engine, [process("nan", script)])
    started = start_instance(engine, "nan", variables={}, business_key="NAN-1")
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "incident"
    assert "ratio" in view["incidents"][0]["message"] and "not data" in view["incidents"][0]["message"]


def _reload(engine: Engine, instance_id: str, state: str):
    """The workflow read back from a state text, as a step that misses the cache reads it."""
    with engine.read_session() as session:
        definition_id = session.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id))
        spec, subprocess_specs = engine.spec_for(session, definition_id)
    return engine.serializer.load_state(state, spec, subprocess_specs)


def test_a_state_saved_with_nan_before_orjson_keeps_it(engine: Engine) -> None:
    deploy(engine, [process("shared", SHARED)])
    instance_id = start_instance(engine, "shared", variables={}, business_key="OLD-1").instance["id"]
    dct = json.loads(_state(engine, instance_id))
    dct["data"] = {"ratio": math.nan}  # as the standard library wrote it: NaN
    workflow = _reload(engine, instance_id, json.dumps(dct))
    assert math.isnan(workflow.data["ratio"])
    assert '"ratio":NaN' in engine.serializer.dump_state(workflow)


def test_an_integer_over_64_bits_keeps_every_digit(engine: Engine) -> None:
    big = 123456789012345678901234567890  # orjson would read it as a float
    deploy(engine, [process("shared", SHARED)])
    instance_id = start_instance(engine, "shared", variables={"big": big}, business_key="BIG-1").instance["id"]
    assert get_instance(engine, instance_id)["variables"]["big"] == big
    workflow = _reload(engine, instance_id, _state(engine, instance_id))
    kept = [task.data["big"] for task in workflow.tasks.values() if "big" in task.data]
    assert kept and all(type(value) is int and value == big for value in kept)
