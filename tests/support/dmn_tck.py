"""Running the DMN TCK (dmn-tck/tck test-case format) against orderflow's decision engine, in process.

The TCK folders in ``../shared/conformance``:

    dmn-tck/                 compliance level 2, flat: NAME.dmn next to NAME-test-01.xml
    dmn-tck-more/level-2/    the rest of compliance level 2, flat
    dmn-tck-more/level-3/    compliance level 3, one folder per model (NAME/NAME.dmn, NAME/NAME-test-01.xml, ...)

Each test file names its model (``<modelName>``); every testCase's resultNodes are evaluated with its inputNodes,
as ``POST /api/v1/decisions/{key}/evaluate`` would (the decision by name, the inputs as variables), or, for a
``type="decisionService"`` case, by invoking the decision service. A case passes when every resultNode gives the
expected value (or an error / null where the TCK expects ``errorResult``).

TCK values are converted from the test XML: xsd:decimal (and the other number types), string, boolean, date,
dateTime, time, duration, ``<list><item>``, ``<component>`` (contexts) and ``xsi:nil``. Numbers compare as decimals
(``1`` = ``1.0``); lists compare in order, except the results of COLLECT tables, whose order DMN leaves open.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from processes.dmn import DmnDecisionError, DmnModel, DmnParseError, evaluate, parse
from processes.errors import NotFound
from processes.feel import YearsMonthsDuration
from processes.feel import evaluate as feel

XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _local(el) -> str:
    return etree.QName(el).localname


def children(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def child(el, name: str):
    found = children(el, name)
    return found[0] if found else None


_FEEL_PARSERS = {
    "date": "date(v)",
    "dateTime": "date and time(v)",
    "time": "time(v)",
    "duration": "duration(v)",
    "dayTimeDuration": "duration(v)",
    "yearMonthDuration": "duration(v)",
}
_NUMBERS = {"decimal", "double", "float", "int", "integer", "long", "short"}


def tck_value(el) -> Any:
    """A TCK value element (inputNode, expected, value, item, component) as a FEEL value."""
    if el.get(f"{{{XSI}}}nil") == "true":
        return None
    components = children(el, "component")
    if components:
        return {c.get("name"): tck_value(c) for c in components}
    items = child(el, "list")
    if items is not None:
        return [tck_value(item) for item in children(items, "item")]
    value = child(el, "value")
    if value is not None:
        return tck_value(value)
    if _local(el) != "value":
        return None
    text = el.text or ""
    kind = (el.get(f"{{{XSI}}}type") or "xsd:string").rsplit(":", 1)[-1]
    if kind in _NUMBERS:
        return Decimal(text.strip())
    if kind == "boolean":
        return text.strip() == "true"
    if kind in _FEEL_PARSERS:
        converted = feel(_FEEL_PARSERS[kind], {"v": text.strip()})
        assert converted is not None, f"TCK value {text!r} is not a valid {kind}"
        return converted
    if kind == "string":
        return text
    raise AssertionError(f"unknown TCK value type {kind!r}")


def same(actual: Any, expected: Any, ordered: bool = True) -> bool:
    """TCK equality: decimals by value (with a relative tolerance of 1e-10), contexts by entries, lists in order
    (or as multisets when ``ordered`` is false)."""
    if expected is None or actual is None:
        return actual is None and expected is None
    if type(expected) is Decimal:
        if type(actual) is not Decimal:
            return False
        if actual == expected:
            return True
        return abs(actual - expected) <= Decimal("1e-10") * max(Decimal(1), abs(expected))
    if type(expected) is dict:
        return (
            type(actual) is dict
            and actual.keys() == expected.keys()
            and all(same(actual[k], v) for k, v in expected.items())
        )
    if type(expected) is list:
        if type(actual) is not list or len(actual) != len(expected):
            return False
        if ordered:
            return all(same(a, e) for a, e in zip(actual, expected, strict=True))
        remaining = list(actual)
        for e in expected:
            match = next((i for i, a in enumerate(remaining) if same(a, e)), None)
            if match is None:
                return False
            remaining.pop(match)
        return True
    if isinstance(expected, dt.date | dt.time | dt.timedelta | YearsMonthsDuration | bool | str):
        return type(actual) is type(expected) and actual == expected
    return actual == expected


@dataclass
class FileResult:
    """One test file: how many cases it has and the failures, one line each (case id first)."""

    path: Path
    level: int
    cases: int = 0
    failed_cases: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.cases - len(self.failed_cases)


def tck_files(conformance: Path) -> list[tuple[int, Path]]:
    """Every TCK test file with its compliance level."""
    found = [(2, p) for p in sorted((conformance / "dmn-tck").glob("*-test-*.xml"))]
    found += [(2, p) for p in sorted((conformance / "dmn-tck-more" / "level-2").glob("*-test-*.xml"))]
    found += [(3, p) for p in sorted((conformance / "dmn-tck-more" / "level-3").glob("*/*-test-*.xml"))]
    return found


def _model_file(test_file: Path, doc) -> Path:
    name = child(doc, "modelName")
    if name is not None and name.text and test_file.with_name(name.text.strip()).exists():
        return test_file.with_name(name.text.strip())
    stem = test_file.name.rsplit("-test-", 1)[0]
    return test_file.with_name(stem + ".dmn")


def run_case(model: DmnModel, case) -> list[str]:
    """Every resultNode of one testCase; the list of failures (empty when the case passes)."""
    variables = {node.get("name"): tck_value(node) for node in children(case, "inputNode")}
    service = case.get("invocableName") if case.get("type") == "decisionService" else None
    failures = []
    service_result = None
    if service is not None:
        try:
            service_result = evaluate(model, service, variables).value
        except DmnDecisionError as exc:
            service_result = exc
    for node in children(case, "resultNode"):
        name = node.get("name")
        expects_error = node.get("errorResult") == "true"
        expected = tck_value(child(node, "expected")) if child(node, "expected") is not None else None
        ordered = True
        try:
            if service is not None:
                if isinstance(service_result, DmnDecisionError):
                    raise service_result
                value = service_result.get(name)  # a decision service gives its output decisions by name
            else:
                result = evaluate(model, name, variables)
                json.dumps(result.result)  # what callers get is JSON-friendly
                value = result.value
                ordered = model.decision(name).hit_policy != "COLLECT"
        except DmnDecisionError as exc:
            if not expects_error:
                failures.append(f"{name}: unexpected error {exc}")
            continue
        if expects_error and value is not None:
            failures.append(f"{name}: expected an error, got {value!r}")
        elif not expects_error and not same(value, expected, ordered):
            failures.append(f"{name}: expected {expected!r}, got {value!r}")
    return failures


def run_file(test_file: Path, level: int = 2) -> FileResult:
    """Every test case of one test file."""
    doc = etree.parse(str(test_file)).getroot()
    cases = children(doc, "testCase")
    outcome = FileResult(test_file, level, cases=len(cases))
    model_file = _model_file(test_file, doc)
    try:
        model = parse(model_file.read_bytes(), model_file.name)
    except DmnParseError as exc:
        outcome.failed_cases = {case.get("id") for case in cases}
        outcome.failures.append(f"{test_file.stem}: {model_file.name} does not deploy: {exc}")
        return outcome
    for case in cases:
        try:
            failed = run_case(model, case)
        except NotFound as exc:
            failed = [f"not found: {exc}"]
        if failed:
            outcome.failed_cases.add(case.get("id"))
            outcome.failures += [f"{test_file.stem} case {case.get('id')}: {f}" for f in failed]
    return outcome


def run_all(conformance: Path) -> dict[int, list[FileResult]]:
    """Every test file, by compliance level."""
    results: dict[int, list[FileResult]] = {}
    for level, path in tck_files(conformance):
        results.setdefault(level, []).append(run_file(path, level))
    return results


def main() -> None:
    """``python -m tests.support.dmn_tck [-v]``: the pass count per compliance level (and, with -v, failures)."""
    import sys

    from tests.support.paths import CONFORMANCE

    verbose = "-v" in sys.argv
    for level, files in sorted(run_all(CONFORMANCE).items()):
        cases = sum(f.cases for f in files)
        passed = sum(f.passed for f in files)
        print(f"compliance level {level}: {passed}/{cases} test cases pass ({len(files)} test files)")
        for f in files:
            if f.failures and verbose:
                print(f"  {f.path.name}: {f.passed}/{f.cases}")
                for line in f.failures[:40]:
                    print("    " + line[:400])


if __name__ == "__main__":
    main()
