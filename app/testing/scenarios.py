"""The scenario file format (`*.test.yaml` next to the diagram), read into plain typed objects.

A file tests one process. `defaults` (a start and connector answers) apply to every scenario of the file; a
scenario's own `start.variables` are merged over them (objects merged key by key), its `connectors` replace the
defaults' answer for the same topic or element. The README ("Testing a process before it goes live") shows the format
with an example; every field is checked here, and a wrong one is a ScenarioInvalid naming the file, the scenario and
the field."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from processes.errors import ScenarioInvalid

ANSWER_KINDS = ("result", "error", "fail", "discrepancy")
STEP_KINDS = ("complete", "message", "signal", "wait", "review")


@dataclass(frozen=True)
class Answer:
    """What a connector answers to one call: variables (`result`), a BPMN error code (`error`), a transient failure
    (`fail`, retried as the diagram or the connector's policy says) or a discrepancy held for review."""

    kind: str
    variables: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    asked: dict[str, Any] = field(default_factory=dict)
    got: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One thing a person or the outside world does, in order, once the order has reached the point it waits for.

    - `complete`: a user task (element id) is completed by `by` (a user in `groups`) with `variables`;
    - `review`: the discrepancy review of a service task (element id) is accepted or rejected (`accept`);
    - `message` / `signal`: sent by name with `variables` (a message by the scenario's business key unless
      `businessKey` or `correlationKey` says otherwise), once `when` (an element id) is active, else at once;
    - `wait`: the virtual clock moves on by an ISO duration (timers and retries due meanwhile fire)."""

    kind: str
    target: str
    by: str = "tester"
    groups: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    business_key: str | None = None
    correlation_key: str | None = None
    accept: bool = True


@dataclass(frozen=True)
class Expectation:
    path: tuple[str, ...] = ()  # passed in this order (others may come between)
    passes: tuple[str, ...] = ()  # passed, in any order
    avoids: tuple[str, ...] = ()  # never passed
    end: str | None = None  # the end event the order ended at
    status: str | None = None  # completed, waiting, incident, ...
    variables: dict[str, Any] = field(default_factory=dict)  # these values (objects: these keys)
    decisions: dict[str, Any] = field(default_factory=dict)  # decision key -> result (objects: these keys)
    incidents: tuple[dict[str, str], ...] | None = None  # None: none may open; else each {element, message}


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path
    process: str
    business_key: str
    variables: dict[str, Any]
    message: str | None  # start by this message instead of a plain start
    answers: dict[str, tuple[Answer, ...]]  # topic or element id -> answers in call order (the last repeats)
    steps: tuple[Step, ...]
    expect: Expectation

    @property
    def title(self) -> str:
        return f"{self.file.name}: {self.name}"


def _fail(where: str, why: str) -> ScenarioInvalid:
    return ScenarioInvalid(f"{where}: {why}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"must be a mapping, not {type(value).__name__}")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, "must be a list of element ids")
    return tuple(value)


def merged(base: Any, over: Any) -> Any:
    """`over` on top of `base`: objects key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        result = copy.deepcopy(base)
        for key, value in over.items():
            result[key] = merged(result.get(key), value)
        return result
    return copy.deepcopy(over)


def _answer(raw: Any, where: str) -> Answer:
    if raw is None:
        return Answer("result")
    raw = _mapping(raw, where)
    kinds = [k for k in ANSWER_KINDS if k in raw]
    unknown = set(raw) - set(ANSWER_KINDS) - {"message", "variables"}
    if unknown or len(kinds) != 1:
        raise _fail(where, f"an answer is one of {', '.join(ANSWER_KINDS)} (got {', '.join(sorted(raw)) or 'nothing'})")
    kind = kinds[0]
    value = raw[kind]
    if kind == "result":
        return Answer("result", variables=_mapping(value, f"{where}.result"))
    if kind == "error":
        return Answer(
            "error",
            code=str(value),
            message=str(raw.get("message", "")),
            variables=_mapping(raw.get("variables"), where),
        )
    if kind == "fail":
        return Answer("fail", message=str(value or "the system did not answer"))
    value = _mapping(value, f"{where}.discrepancy")
    return Answer(
        "discrepancy",
        code=str(value.get("code", "DISCREPANCY")),
        message=str(value.get("message", "the answer differs from what was asked")),
        asked=_mapping(value.get("asked"), where),
        got=_mapping(value.get("got"), where),
        variables=_mapping(value.get("variables"), where),
    )


def _answers(raw: Any, where: str) -> dict[str, tuple[Answer, ...]]:
    answers = {}
    for key, value in _mapping(raw, where).items():
        listed = value if isinstance(value, list) else [value]
        if not listed:
            raise _fail(f"{where}.{key}", "needs at least one answer")
        answers[str(key)] = tuple(_answer(v, f"{where}.{key}") for v in listed)
    return answers


def _step(raw: Any, where: str) -> Step:
    raw = _mapping(raw, where)
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise _fail(where, f"a step is one of {', '.join(STEP_KINDS)} (got {', '.join(sorted(raw)) or 'nothing'})")
    kind = kinds[0]
    allowed = {kind, "by", "groups", "variables", "when", "businessKey", "correlationKey", "accept"}
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    target = raw[kind]
    if not isinstance(target, str) or not target:
        raise _fail(f"{where}.{kind}", "must name an element, a message, a signal or a duration")
    if kind == "wait":
        try:
            TimerEventDefinition.parse_iso_duration(target)
        except Exception as exc:  # the library raises plain errors for text that is no ISO 8601 duration
            raise _fail(f"{where}.wait", f"{target!r} is not an ISO 8601 duration such as PT2H or P3D") from exc
    groups = raw.get("groups") or ()
    if isinstance(groups, str):
        groups = (groups,)
    return Step(
        kind=kind,
        target=target,
        by=str(raw.get("by", "tester")),
        groups=tuple(str(g) for g in groups),
        variables=_mapping(raw.get("variables"), f"{where}.variables"),
        when=raw.get("when"),
        business_key=raw.get("businessKey"),
        correlation_key=raw.get("correlationKey"),
        accept=bool(raw.get("accept", True)),
    )


def _expectation(raw: Any, where: str) -> Expectation:
    raw = _mapping(raw, where)
    known = {"path", "passes", "avoids", "end", "status", "variables", "decisions", "incidents"}
    unknown = set(raw) - known
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    incidents = raw.get("incidents")
    if incidents is not None:
        if not isinstance(incidents, list):
            raise _fail(f"{where}.incidents", "must be a list of {element, message}")
        incidents = tuple({str(k): str(v) for k, v in _mapping(i, f"{where}.incidents").items()} for i in incidents)
    return Expectation(
        path=_names(raw.get("path"), f"{where}.path"),
        passes=_names(raw.get("passes"), f"{where}.passes"),
        avoids=_names(raw.get("avoids"), f"{where}.avoids"),
        end=raw.get("end"),
        status=raw.get("status"),
        variables=_mapping(raw.get("variables"), f"{where}.variables"),
        decisions=_mapping(raw.get("decisions"), f"{where}.decisions"),
        incidents=incidents,
    )


class _Loader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice (plain YAML keeps the last one silently: a second
    `scenarios:` would drop the first list)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse(text: str, file: Path) -> list[Scenario]:
    """The scenarios of one file's text."""
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _fail(str(file), f"not YAML: {exc}") from exc
    document = _mapping(document, str(file))
    unknown = set(document) - {"process", "defaults", "scenarios"}
    if unknown:
        raise _fail(str(file), f"unknown field(s) {', '.join(sorted(unknown))}")
    process = document.get("process")
    if not isinstance(process, str) or not process:
        raise _fail(str(file), "`process` must name the process key the scenarios test")
    defaults = _mapping(document.get("defaults"), f"{file}: defaults")
    default_start = _mapping(defaults.get("start"), f"{file}: defaults.start")
    default_answers = _answers(defaults.get("connectors"), f"{file}: defaults.connectors")
    raw_scenarios = document.get("scenarios")
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        raise _fail(str(file), "`scenarios` must list at least one scenario")
    scenarios, names = [], set()
    for index, raw in enumerate(raw_scenarios, start=1):
        raw = _mapping(raw, f"{file}: scenario {index}")
        name = str(raw.get("name") or f"scenario {index}")
        where = f"{file}: {name}"
        if name in names:
            raise _fail(where, "two scenarios have this name")
        names.add(name)
        unknown = set(raw) - {"name", "start", "connectors", "steps", "expect"}
        if unknown:
            raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
        start = merged(default_start, _mapping(raw.get("start"), f"{where}.start"))
        steps = raw.get("steps") or []
        if not isinstance(steps, list):
            raise _fail(f"{where}.steps", "must be a list")
        scenarios.append(
            Scenario(
                name=name,
                file=file,
                process=process,
                business_key=str(start.get("businessKey") or f"TEST-{index}"),
                variables=_mapping(start.get("variables"), f"{where}.start.variables"),
                message=start.get("message"),
                answers={**default_answers, **_answers(raw.get("connectors"), f"{where}.connectors")},
                steps=tuple(_step(s, f"{where}.steps[{i}]") for i, s in enumerate(steps)),
                expect=_expectation(raw.get("expect"), f"{where}.expect"),
            )
        )
    return scenarios


def load(file: Path) -> list[Scenario]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(str(file), f"cannot be read: {exc}") from exc
    return parse(text, file)
