"""processes/core/spiff.py, the one adapter for SpiffWorkflow internals: its functions on small real workflows, and a
scan that keeps SpiffWorkflow's private names out of every other module."""

from __future__ import annotations

import ast
import gc
import importlib
import inspect
import json
import logging
import pkgutil
import re
import weakref
from functools import cache
from pathlib import Path

import pytest
import SpiffWorkflow
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.specs.defaults import ScriptTask
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.task import TaskState

from processes.core import spiff
from processes.core.state import StateSerializer
from processes.features.multi_instance import SequentialMultiInstance, with_multi_instance

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "processes" / "core" / "spiff.py"
SCANNED = ("processes", "inbox", "app")

DEFINITIONS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://example.com">
  <bpmn:message id="m" name="go"/>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step"/>
    {step}
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
USER_TASK = '<bpmn:userTask id="step"/>'
MESSAGE_CATCH = (
    '<bpmn:intermediateCatchEvent id="step"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>'
)
TIMER_CATCH = (
    '<bpmn:intermediateCatchEvent id="step"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
)
SCRIPT_TASK = '<bpmn:scriptTask id="step"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
MULTI_INSTANCE = (
    '<bpmn:userTask id="step"><bpmn:multiInstanceLoopCharacteristics isSequential="true" '
    'camunda:collection="items" camunda:elementVariable="item"/></bpmn:userTask>'
)


def parse(step: str, parser_class: type[BpmnParser] = BpmnParser):
    parser = parser_class()
    parser.add_bpmn_str(DEFINITIONS.format(step=step).encode())
    return parser.get_spec("p")


def started(step: str) -> BpmnWorkflow:
    workflow = BpmnWorkflow(parse(step))
    workflow.do_engine_steps()
    return workflow


def the_step(workflow: BpmnWorkflow):
    return next(t for t in workflow.tasks.values() if spiff.element_id(t) == "step")


# -- finding tasks -----------------------------------------------------------------------------------------------


def test_tasks_in_and_find_task():
    workflow = started(USER_TASK)
    task = the_step(workflow)
    assert spiff.tasks_in(workflow, TaskState.READY) == [task]
    assert spiff.tasks_in(workflow, TaskState.WAITING) == []
    assert task in spiff.tasks_in(workflow, spiff.ACTIVE_STATES)
    assert spiff.find_task(workflow, str(task.id)) is task
    assert spiff.find_task(workflow, "not-a-uuid") is None
    assert spiff.find_task(workflow, "00000000-0000-0000-0000-000000000000") is None
    assert spiff.find_task(workflow, None) is None


def test_is_completed_agrees_with_the_library_at_every_point_of_a_run():
    workflow = started(USER_TASK)
    active = spiff.tasks_in(workflow, spiff.ACTIVE_STATES)
    assert active and not spiff.is_completed(workflow, active) and not workflow.completed
    assert not spiff.is_completed(workflow, [])  # no active task named: the tree itself is looked at
    the_step(workflow).complete()
    workflow.do_engine_steps()
    # Active tasks named earlier are finished now: they prove nothing, and the library's answer counts.
    assert spiff.is_completed(workflow, active) and workflow.is_completed()
    assert spiff.is_completed(workflow, spiff.tasks_in(workflow, spiff.ACTIVE_STATES))


def test_data_changed_is_what_a_task_set():
    workflow = started(USER_TASK)
    task = the_step(workflow)
    task.parent.data.update(a=1, b=2)
    task.data.update(a=1, b=3, c=4)
    assert spiff.data_changed(task) == {"b": 3, "c": 4}


def test_set_state_forces_a_state():
    workflow = started(USER_TASK)
    task = the_step(workflow)
    spiff.set_state(task, TaskState.WAITING)
    assert task.state == TaskState.WAITING
    assert spiff.tasks_in(workflow, TaskState.READY) == []


# -- running the engine ------------------------------------------------------------------------------------------

# Parallel branches, one an embedded subprocess with parallel branches of its own and a script before them, so
# that READY tasks lie at several depths, in two workflows, in an order the task dictionaries do not keep.
BRANCHES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f1" sourceRef="fork" targetRef="a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="sub"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
    <bpmn:userTask id="a"/>
    <bpmn:subProcess id="sub">
      <bpmn:startEvent id="s_start"/>
      <bpmn:sequenceFlow id="s0" sourceRef="s_start" targetRef="s_script"/>
      <bpmn:scriptTask id="s_script"><bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="s1" sourceRef="s_script" targetRef="s_fork"/>
      <bpmn:parallelGateway id="s_fork"/>
      <bpmn:sequenceFlow id="s2" sourceRef="s_fork" targetRef="s_a"/>
      <bpmn:sequenceFlow id="s3" sourceRef="s_fork" targetRef="s_b"/>
      <bpmn:userTask id="s_a"/>
      <bpmn:userTask id="s_b"/>
      <bpmn:sequenceFlow id="s4" sourceRef="s_a" targetRef="s_join"/>
      <bpmn:sequenceFlow id="s5" sourceRef="s_b" targetRef="s_join"/>
      <bpmn:parallelGateway id="s_join"/>
      <bpmn:sequenceFlow id="s6" sourceRef="s_join" targetRef="s_end"/>
      <bpmn:endEvent id="s_end"/>
    </bpmn:subProcess>
    <bpmn:scriptTask id="b"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="b" targetRef="c"/>
    <bpmn:userTask id="c"/>
    <bpmn:sequenceFlow id="f5" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="sub" targetRef="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="c" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f8" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def _branches() -> BpmnWorkflow:
    parser = BpmnParser()
    parser.add_bpmn_str(BRANCHES.encode())
    return BpmnWorkflow(parser.get_spec("p"), parser.get_subprocess_specs("p"))


def _states(workflow: BpmnWorkflow) -> list[tuple[str, str]]:
    tasks = [*workflow.tasks.values(), *(t for sp in workflow.subprocesses.values() for t in sp.tasks.values())]
    return sorted((t.task_spec.name, TaskState.get_name(t.state)) for t in tasks)


def _element_ids(tasks) -> list[str | None]:
    return [spiff.element_id(t) for t in tasks]


def test_ready_tasks_are_the_librarys_in_its_order():
    workflow = _branches()
    spiff.do_engine_steps(workflow, lambda task: None)
    expected = workflow.get_tasks(state=TaskState.READY)
    assert sorted(_element_ids(expected)) == ["a", "c", "s_a", "s_b"]
    assert spiff.ready_tasks(workflow) == expected
    (subprocess,) = workflow.subprocesses.values()
    assert spiff.ready_tasks(subprocess) == subprocess.get_tasks(state=TaskState.READY)
    assert _element_ids(spiff.ready_tasks(subprocess)) == ["s_a", "s_b"]


def test_do_engine_steps_runs_what_the_library_runs_in_its_order():
    def run_to_the_end(workflow: BpmnWorkflow, engine_steps) -> list[str]:
        ran: list[str] = []
        engine_steps(workflow, lambda task: ran.append(task.task_spec.name))
        while not workflow.is_completed():  # work the user tasks, then run on
            for task in workflow.get_tasks(state=TaskState.READY, manual=True):
                task.run()
            engine_steps(workflow, lambda task: ran.append(task.task_spec.name))
        return ran

    ours, theirs = _branches(), _branches()
    ran_ours = run_to_the_end(ours, spiff.do_engine_steps)
    ran_theirs = run_to_the_end(theirs, lambda wf, done: wf.do_engine_steps(did_complete_task=done))
    assert ran_ours == ran_theirs
    assert "end" in ran_ours
    assert _states(ours) == _states(theirs)


def test_state_changes_are_logged_as_the_library_logs_them(caplog):
    caplog.set_level(logging.INFO, logger="spiff.task")
    ours, theirs = started(USER_TASK), started(USER_TASK)
    caplog.clear()
    spiff._set_state_quietly(the_step(ours), TaskState.WAITING)
    spiff._LIBRARY_SET_STATE(the_step(theirs), TaskState.WAITING)
    mine, library = (r for r in caplog.records if r.name == "spiff.task")
    assert mine.getMessage() == library.getMessage() == "State changed to WAITING"
    assert (mine.task_spec, mine.state, mine.task_type) == (library.task_spec, library.state, library.task_type)
    assert the_step(ours).state == the_step(theirs).state == TaskState.WAITING


def test_state_changes_build_no_log_record_while_the_logger_is_off(monkeypatch):
    workflow = started(USER_TASK)

    def no_extras(*args, **kwargs):
        raise AssertionError("a log record was built for a logger that is off")

    monkeypatch.setattr(type(the_step(workflow)), "collect_log_extras", no_extras)
    logger = logging.getLogger("spiff.task")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        the_step(workflow).run()
    finally:
        logger.setLevel(level)
    assert the_step(workflow).state == TaskState.COMPLETED


def test_waiting_tasks_are_looked_for_only_while_a_task_waits(monkeypatch):
    walks: list[BpmnWorkflow] = []

    def library_walk(workflow) -> None:
        walks.append(workflow)

    monkeypatch.setattr(spiff, "_LIBRARY_UPDATE_WAITING_TASKS", library_walk)
    plain = started(USER_TASK)
    the_step(plain).run()  # nothing waits: the end event follows at once
    assert walks == []
    branches = _branches()
    spiff.do_engine_steps(branches, lambda task: None)
    assert walks == []  # the branches run up to their user tasks: nothing waits yet
    user_task = next(t for t in branches.get_tasks(state=TaskState.READY) if spiff.element_id(t) == "a")
    user_task.run()  # its branch reaches the join, which waits for the others
    assert branches in walks


# -- internal data and events ------------------------------------------------------------------------------------


def test_event_fired_then_update_makes_a_catch_event_ready():
    workflow = started(MESSAGE_CATCH)
    task = the_step(workflow)
    assert task.state == TaskState.WAITING
    assert spiff.event_fired(task) is False
    spiff.set_event_fired(task)
    assert spiff.event_fired(task) is True
    assert task.internal_data["event_fired"] is True
    spiff.update(task)
    assert task.state == TaskState.READY


def test_event_value_is_the_timer_moment():
    workflow = started(TIMER_CATCH)
    task = the_step(workflow)
    assert task.state == TaskState.WAITING
    value = spiff.event_value(task)
    assert isinstance(value, str)
    assert spiff.timer_due(workflow) is not None
    assert spiff.event_value(the_step(started(USER_TASK))) is None


def test_add_child_predict_and_update_grow_the_tree():
    workflow = started(USER_TASK)
    task = the_step(workflow)
    end_spec = workflow.spec.task_specs["end"]
    child = spiff.add_child(task, end_spec, TaskState.FUTURE)
    assert child.parent is task and child in task.children and child.state == TaskState.FUTURE
    before = len(workflow.tasks)
    spiff.predict(child, TaskState.FUTURE | TaskState.PREDICTED_MASK)
    assert len(workflow.tasks) > before  # the end event's outgoing path was predicted
    spiff.update(child)
    assert child.state == TaskState.READY  # its parent is not completed, yet the end event needs no more


def test_add_input_adds_once_and_leaves_outputs():
    spec = parse(USER_TASK)
    task_spec, start = spec.task_specs["end"], spec.task_specs["start"]
    outputs = list(start.outputs)
    spiff.add_input(task_spec, "start")
    spiff.add_input(task_spec, "start")
    assert [s.name for s in task_spec.inputs].count("start") == 1
    assert start.outputs == outputs


def test_step_facts_and_decide_live_on_the_top_workflow():
    workflow = started(USER_TASK)
    task = the_step(workflow)
    assert spiff.step_facts(task) == {}
    assert spiff.decide_of(task) is None
    spiff.set_step_facts(workflow, {"businessKey": "A-1"})
    spiff.set_decide(workflow, len)
    assert spiff.step_facts(task) == {"businessKey": "A-1"}
    assert spiff.decide_of(task) is len


# -- facts cached per spec ---------------------------------------------------------------------------------------


def test_spec_fact_is_computed_once_per_spec():
    spec, other = parse(USER_TASK), parse(USER_TASK)
    calls = []

    def compute():
        calls.append(1)
        return False  # a falsy fact is cached too

    assert spiff.spec_fact(spec, "fact", compute) is False
    assert spiff.spec_fact(spec, "fact", compute) is False
    assert len(calls) == 1
    assert spiff.spec_fact(other, "fact", compute) is False
    assert spiff.spec_fact(spec, "another", lambda: 7) == 7
    assert len(calls) == 2
    assert not any(name.startswith("_orderflow") or name == "fact" for name in vars(spec))


def test_spec_fact_goes_with_its_spec():
    spec = parse(USER_TASK)
    spiff.spec_fact(spec, "fact", lambda: True)
    gone = weakref.ref(spec)
    del spec
    gc.collect()
    assert gone() is None  # the cache does not keep a spec alive


# -- subclasses of SpiffWorkflow's specs and parsers -------------------------------------------------------------


def test_run_hook_of_runs_the_parent_classes_hook():
    workflow = BpmnWorkflow(parse(SCRIPT_TASK))
    task = the_step(workflow)
    assert isinstance(task.task_spec, ScriptTask)
    assert spiff.run_hook_of(ScriptTask, task.task_spec, task) is True  # the script mixin's hook runs the script
    assert task.data["x"] == 1


def test_copy_task_attrs_and_instances_in_orderflows_multi_instance():
    classes = with_multi_instance(dict(CamundaParser.OVERRIDE_PARSER_CLASSES), CamundaParser.PARSER_CLASSES)
    parser_class = type("Parser", (CamundaParser,), {"OVERRIDE_PARSER_CLASSES": classes})
    spec = parse(MULTI_INSTANCE, parser_class)
    activity = spec.task_specs["step"]
    assert isinstance(activity, SequentialMultiInstance)
    assert activity.task_spec == "step [child]"  # copy_task_attrs moved the original aside as the instances' spec
    assert [s.name for s in activity.inputs] == ["start"]
    assert spec.task_specs["step [child]"].inputs == [activity]
    workflow = BpmnWorkflow(spec)
    workflow.task_tree.data["items"] = ["a", "b"]
    workflow.do_engine_steps()
    task = next(t for t in workflow.tasks.values() if t.task_spec is activity)
    instances = list(spiff.instances(activity, task))
    assert len(instances) == 1  # sequential: one at a time
    assert instances[0].data["item"] == "a"


# -- serialization -----------------------------------------------------------------------------------------------


def test_encoder_mode_is_on_only_inside():
    serializer = StateSerializer()
    registry = serializer.registry
    assert registry._encoder_mode is False
    with spiff.encoder_mode(registry):
        assert registry._encoder_mode is True
    assert registry._encoder_mode is False
    with pytest.raises(RuntimeError), spiff.encoder_mode(registry):
        raise RuntimeError("converting failed")
    assert registry._encoder_mode is False


def test_encoder_class_and_dump_state():
    serializer = StateSerializer()
    assert spiff.encoder_class(serializer.serializer) is serializer.serializer._encoder_cls
    assert issubclass(spiff.encoder_class(serializer.serializer), json.JSONEncoder)
    workflow = started(USER_TASK)
    state = serializer.dump_state(workflow)
    assert serializer.registry._encoder_mode is False  # switched back after the dump
    loaded = serializer.load_state(state, workflow.spec, workflow.subprocess_specs)
    assert [spiff.element_id(t) for t in spiff.tasks_in(loaded, TaskState.READY)] == ["step"]


# -- nothing else touches SpiffWorkflow's internals --------------------------------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and not name.endswith("_")  # not enum's _sunder_


@cache
def spiff_private_names() -> frozenset[str]:
    """Every private name SpiffWorkflow defines: what its classes hold (dir() of each class, from SpiffWorkflow's
    own classes in its MRO), and the instance attributes its code assigns (`self._inputs`, `_encoder_mode`), which
    no class's dir() shows."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(SpiffWorkflow.__path__, "SpiffWorkflow."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # optional dependencies (graphviz output)
            continue
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__.startswith("SpiffWorkflow"):
                for klass in obj.__mro__:
                    if klass.__module__.startswith("SpiffWorkflow"):
                        names.update(n for n in dir(klass) if _private(n) and n in vars(klass))
    for path in Path(SpiffWorkflow.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
                names.add(node.attr)
    return frozenset(names)


def listed_overrides() -> set[str]:
    """The overrides of SpiffWorkflow's private hooks the adapter's docstring lists (`module.Class._method`)."""
    return set(re.findall(r"`([\w.]+\.\w+\._\w+)`", spiff.__doc__ or ""))


def _spiff_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("SpiffWorkflow"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _base_name(base: ast.expr) -> str:
    return base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")


def check_sources(sources: dict[str, str], private: frozenset[str]) -> tuple[list[str], set[str]]:
    """(violations, overrides found) in `sources` ({module name: source}).

    A violation is `<expr>._name` with `_name` private to SpiffWorkflow; a private attribute set on anything but
    `self`, or any `orderflow…` attribute, and a `getattr`/`setattr`/`hasattr`/`delattr` of such a name (what
    orderflow would patch onto SpiffWorkflow's objects); and an
    override of a SpiffWorkflow private method that the adapter's docstring does not list. Allowed, since it is
    orderflow's own: `self._name` in a class that does not derive from SpiffWorkflow's and defines `_name` itself
    (or in an orderflow base), e.g. a worker's `self._run`, and the few names in ALLOWED. Such a method is an
    override when nothing in its module calls it on `self` (a mixin hook that SpiffWorkflow calls, like a parser's
    `_add_multiinstance_task`)."""
    trees = {name: ast.parse(source) for name, source in sources.items()}
    classes: dict[str, list[tuple[str, ast.ClassDef]]] = {}
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append((module, node))

    def defined(node: ast.ClassDef) -> set[str]:
        names = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for sub in node.body:
            if isinstance(sub, (ast.Assign, ast.AnnAssign)):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            if isinstance(sub, ast.Assign) and any(getattr(t, "id", None) == "__slots__" for t in sub.targets):
                names.update(e.value for e in getattr(sub.value, "elts", []) if isinstance(e, ast.Constant))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store) and _self(sub.value):
                names.add(sub.attr)
        return names

    spiff_names = {module: _spiff_imports(tree) for module, tree in trees.items()}

    @cache
    def hierarchy(module: str, name: str) -> tuple[bool, frozenset[str]]:
        """(derives from a SpiffWorkflow class, names defined by it and its orderflow bases)."""
        derived, names = False, set()
        candidates = [(o, n) for o, n in classes.get(name, []) if o == module] or classes.get(name, [])
        for owner, node in candidates:
            names |= defined(node)
            for base in node.bases:
                base_name = _base_name(base)
                if base_name in spiff_names[owner]:
                    derived = True
                elif base_name in classes and base_name != name:
                    base_derived, base_names = hierarchy(owner, base_name)
                    derived, names = derived or base_derived, names | base_names
        return derived, frozenset(names)

    violations, overrides = [], set()
    for module, tree in trees.items():
        for node, cls in _walk(tree, None):
            where = f"{module}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Attribute) and _patched(node):
                violations.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Attribute) and node.attr in private:
                own = False
                if cls is not None and _self(node.value):
                    derived, names = hierarchy(module, cls.name)
                    own = not derived and node.attr in names
                own = own or (module, node.attr) in ALLOWED
                if not own:
                    violations.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ATTR_FUNCTIONS and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    if _private(name.value) or name.value.startswith("orderflow"):
                        violations.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and cls is not None and node.name in private:
                if node not in cls.body:
                    continue
                derived, _names = hierarchy(module, cls.name)
                called = any(
                    isinstance(sub, ast.Attribute) and sub.attr == node.name and _self(sub.value)
                    for sub in ast.walk(tree)
                )
                if derived or not called:
                    overrides.add(f"{module}.{cls.name}.{node.name}")
    return violations, overrides


ATTR_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}

# Private names that orderflow's own objects have too, used on something other than `self`: (module, name) -> why.
ALLOWED = {
    ("processes.core.records", "_values"): "Record's own slot, read by `save` (SpiffWorkflow's TaskState has one too)",
}


def _patched(node: ast.Attribute) -> bool:
    """An attribute orderflow would patch onto someone else's object: a private one set on anything but `self`, or
    one named `orderflow…`/`_orderflow…` anywhere."""
    if node.attr.lstrip("_").startswith("orderflow"):
        return True
    return isinstance(node.ctx, ast.Store) and _private(node.attr) and not _self(node.value)


def _self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _walk(node: ast.AST, cls: ast.ClassDef | None):
    """Every node with the class it is written in."""
    for child in ast.iter_child_nodes(node):
        inner = child if isinstance(child, ast.ClassDef) else cls
        yield child, cls
        yield from _walk(child, inner)


def orderflow_sources() -> dict[str, str]:
    sources = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == ADAPTER:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            sources[module] = path.read_text(encoding="utf-8")
    return sources


def test_spiff_private_names_are_found():
    names = spiff_private_names()
    # methods, and instance attributes that only SpiffWorkflow's source shows
    assert {"_update", "_predict", "_add_child", "_run_hook", "_inputs", "_encoder_mode", "_encoder_cls"} <= names
    assert "_member_map_" not in names and "__init__" not in names


def test_only_the_adapter_touches_spiffworkflow_internals():
    violations, overrides = check_sources(orderflow_sources(), spiff_private_names())
    assert violations == [], "use processes.core.spiff instead:\n" + "\n".join(violations)
    listed = listed_overrides()
    assert overrides - listed == set(), "list these overrides in processes/core/spiff.py's docstring"
    assert listed - overrides == set(), "the adapter's docstring lists overrides that no longer exist"


def test_the_scan_catches_what_it_should():
    source = """
from SpiffWorkflow.bpmn.specs.defaults import UserTask

class Mine(UserTask):
    def _run_hook(self, my_task):
        my_task._set_internal_data(event_fired=True)
        return super()._run_hook(my_task)

class Parsing:
    def _add_multiinstance_task(self, loop):
        self._copy_task_attrs(None, loop)

class Worker:
    def __init__(self):
        self._ready = True
    def _run(self):
        return self._ready
    def go(self):
        self._run()

def patch(spec, registry):
    spec._orderflow_cache = 1
    setattr(spec, "_orderflow_cache", 1)
    getattr(spec, "orderflow_cache", None)
    registry._encoder_mode = True
"""
    violations, overrides = check_sources({"x": source}, spiff_private_names())
    found = [v.split(": ", 1)[1] for v in violations]
    assert found == [
        "my_task._set_internal_data",
        "super()._run_hook",
        "self._copy_task_attrs",
        "spec._orderflow_cache",
        "setattr(spec, '_orderflow_cache', 1)",
        "getattr(spec, 'orderflow_cache', None)",
        "registry._encoder_mode",
    ]
    assert overrides == {"x.Mine._run_hook", "x.Parsing._add_multiinstance_task"}
