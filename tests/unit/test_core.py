"""The engine core on its own: it runs a process with no feature at all, and a feature plugged in is called at the
hooks it overrides (and only those)."""

from __future__ import annotations

from typing import Any
from uuid import RFC_4122, UUID

from app.features import build_engine, default_features
from processes.core import Engine, Feature, Step
from processes.core.db import make_engine, make_session_factory
from processes.core.feature import HOOKS, Hooks
from processes.core.models import new_id
from processes.expressions.script_engine import SandboxedScriptEngine
from processes.instances import get_instance, instance_events, start_instance
from tests.support.diagrams import process, service_task
from tests.support.engine import deployed

SCRIPTED = """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double"/>
    <bpmn:scriptTask id="double" name="Double" scriptFormat="python"><bpmn:script>doubled = amount * 2</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="done"/>
    <bpmn:endEvent id="done"/>"""


class Watching(Feature):
    """A feature of a test: it records what the core tells it and marks every active element."""

    def __init__(self) -> None:
        self.completed: list[str] = []
        self.derived = 0

    def element_completed(self, step: Step, task: Any) -> None:
        self.completed.append(task.task_spec.bpmn_id)

    def derive(self, step: Step, active_tasks: list) -> None:
        self.derived += 1

    def describe(self, step: Step, task: Any, element: dict[str, Any]) -> None:
        element["watched"] = True


def bare_engine(engine: Engine, *features: Feature) -> Engine:
    """An engine on the same database with only the given features (the deploy already ran with all of them)."""
    return Engine(engine.session_factory, features=features, script_engine=SandboxedScriptEngine())


def test_the_core_runs_a_process_with_no_feature_at_all(engine: Engine) -> None:
    deployed(engine, process("scripted", SCRIPTED))
    core_only = bare_engine(engine)
    assert core_only.features == ()
    started = start_instance(core_only, "scripted", variables={"amount": 21})
    view = get_instance(core_only, started.instance["id"])
    assert view["status"] == "completed"
    assert view["variables"]["doubled"] == 42
    types = [e["type"] for e in instance_events(core_only, started.instance["id"])]
    assert types[-1] == "instance_completed" and types.count("element_completed") == 3


def test_a_feature_is_called_at_the_hooks_it_overrides_and_nowhere_else(engine: Engine) -> None:
    deployed(engine, process("charged", service_task()))
    watching = Watching()
    plugged = bare_engine(engine, watching, *default_features())
    started = start_instance(plugged, "charged", variables={"amount": 5})
    view = get_instance(plugged, started.instance["id"])
    assert view["status"] == "running"  # the service task waits for its job (the ServiceTasks feature made it)
    assert [e["elementId"] for e in view["activeElements"]] == ["charge"]
    assert view["activeElements"][0]["watched"] is True
    assert watching.completed == ["start"] and watching.derived == 1
    hooks = Hooks([watching])
    overridden = {name for name in HOOKS if getattr(hooks, name)}
    assert overridden == {"element_completed", "derive", "describe"}


def test_every_hook_of_the_default_features_is_a_hook_of_the_interface() -> None:
    """A misspelt hook would never be called: every public method a feature defines must be one of the interface's
    (or a helper of its own, which starts with an underscore)."""
    for feature in default_features():
        own = {name for klass in type(feature).__mro__[:-2] for name, value in vars(klass).items() if callable(value)}
        public = {name for name in own if not name.startswith("_")}
        assert public <= set(HOOKS), (type(feature).__name__, public - set(HOOKS))


def test_build_engine_wires_the_default_features_and_a_sandboxed_script_engine(db_url: str) -> None:
    built = build_engine(make_session_factory(make_engine(db_url)))
    assert [type(f).__name__ for f in built.features] == [type(f).__name__ for f in default_features()]
    assert isinstance(built.script_engine, SandboxedScriptEngine)


def test_new_ids_are_random_version_4_uuids_in_hex():
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        parsed = UUID(value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, RFC_4122)
