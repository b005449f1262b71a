"""Input and output mappings of tasks (`zeebe:ioMapping`, `camunda:inputOutput`).

Inputs are evaluated when a job is made and go to the job's variables (what a connector or worker sees), so they do
not leak into the process, as local variables in Camunda. Outputs are evaluated when the task completes, against the
process variables plus what the task produced; when a task has outputs, only they reach the process."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from processes import expressions

# A `camunda:script` parameter, as processes.deployment.parser.io_mappings keeps it.
SCRIPT = "orderflow.script"


def _value(source: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(source, list):
        return [_value(item, variables) for item in source]
    if isinstance(source, dict):
        if SCRIPT in source:
            return script_value(source[SCRIPT], source.get("scriptFormat") or "python", variables)
        if "unsupported" in source:  # kept by versions deployed before parameter scripts ran
            raise expressions.ExpressionError("script parameters are not supported; use an expression", "python")
        return {key: _value(item, variables) for key, item in source.items()}
    text = str(source)
    if expressions.dialect_of(text) == expressions.PYTHON:
        return text  # literal text, as modelers write constants
    return expressions.evaluate(text, variables)


def script_value(source: str, language: str, variables: Mapping[str, Any]) -> Any:
    """The value of a parameter's script, as Camunda's script languages give it: for Python, the value of its last
    line when that is an expression (None otherwise), run in the sandbox on a copy of the variables, so what the
    script assigns or changes stays inside it. JUEL and FEEL scripts are expressions."""
    if language in ("juel", "feel"):
        if language == "feel" and not source.startswith("="):
            source = "=" + source
        elif language == "juel" and expressions.dialect_of(source) != expressions.JUEL:
            source = "${" + source + "}"
        return expressions.evaluate(source, variables)
    return expressions.run_script(source, copy.deepcopy(dict(variables)))


def expressions_in(extensions: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """(kind, target, expression) of every expression in a task's mappings, for lint at deploy: literal text is
    left out, as it is never evaluated."""
    found = []

    def walk(kind: str, target: str, source: Any) -> None:
        if isinstance(source, list):
            for item in source:
                walk(kind, target, item)
        elif isinstance(source, dict):
            if SCRIPT in source:  # a parameter's script: the parser checks it where it reads it
                return
            for item in source.values():
                walk(kind, target, item)
        elif source is not None and expressions.dialect_of(str(source)) != expressions.PYTHON:
            found.append((kind, target, str(source)))

    for kind in ("inputs", "outputs"):
        for mapping in (extensions or {}).get(kind) or []:
            walk(kind[:-1], mapping["target"], mapping["source"])
    return found


def _assign(target: str, value: Any, into: dict[str, Any]) -> None:
    """`a.b` targets nest, as in Zeebe."""
    *path, last = target.split(".")
    for part in path:
        into = into.setdefault(part, {}) if isinstance(into.get(part), dict) or part not in into else into[part]
    into[last] = value


def inputs(extensions: Mapping[str, Any] | None, variables: Mapping[str, Any]) -> dict[str, Any]:
    mapped: dict[str, Any] = {}
    for mapping in (extensions or {}).get("inputs", []):
        _assign(mapping["target"], _value(mapping["source"], {**variables, **mapped}), mapped)
    return mapped


def outputs(extensions: Mapping[str, Any] | None, scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variables a completed task gives the process, or None when it declares no outputs (then all of them)."""
    declared = (extensions or {}).get("outputs")
    if not declared:
        return None
    mapped: dict[str, Any] = {}
    for mapping in declared:
        _assign(mapping["target"], _value(mapping["source"], scope), mapped)
    return mapped
