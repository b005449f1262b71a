"""Sanity check of the FEEL unary tests and output expressions against the DMN TCK decision tables.

Every FEEL text in the copied TCK tables must parse; then, for every TCK test case, the rules whose input entries
all match (as judged by ``unary_test``) must produce the expected result. This is not a DMN engine: no hit-policy
logic is applied, only "the expected output is among the outputs of the matching rules" (and, for list results
without aggregation, "the matching rules' outputs are exactly the expected ones").
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from processes.feel import check_expression, check_unary_tests, evaluate, to_python, unary_test
from tests.support.paths import CONFORMANCE

TCK = CONFORMANCE / "dmn-tck"
MODELS = sorted(TCK.glob("*.dmn"))
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

pytestmark = pytest.mark.skipif(not MODELS, reason=f"no DMN TCK models in {TCK}")


def local(el) -> str:
    return etree.QName(el).localname


def children(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def child(el, name: str):
    found = children(el, name)
    return found[0] if found else None


def text_of(el) -> str:
    if el is None:
        return ""
    t = child(el, "text")
    return (t.text or "") if t is not None else ""


def tables(path: Path) -> list[dict]:
    """Each decision table: decision name, inputs, outputs, rules, aggregation."""
    out = []
    for decision in etree.parse(str(path)).getroot().iter("{*}decision"):
        table = child(decision, "decisionTable")
        if table is None:
            continue
        out.append(
            {
                "decision": decision.get("name"),
                "aggregation": table.get("aggregation"),
                "inputs": [text_of(child(i, "inputExpression")) for i in children(table, "input")],
                "input_values": [text_of(child(i, "inputValues")) for i in children(table, "input")],
                "outputs": [o.get("name") for o in children(table, "output")],
                "output_values": [text_of(child(o, "outputValues")) for o in children(table, "output")],
                "defaults": [text_of(child(o, "defaultOutputEntry")) for o in children(table, "output")],
                "rules": [
                    ([text_of(e) for e in children(r, "inputEntry")], [text_of(e) for e in children(r, "outputEntry")])
                    for r in children(table, "rule")
                ],
            }
        )
    return out


def value_of(el):
    """A TCK <value>/<list>/<component> structure as plain Python."""
    if el.get(XSI_NIL) == "true":
        return None
    components = children(el, "component")
    if components:
        return {c.get("name"): value_of(c) for c in components}
    lst = child(el, "list")
    if lst is not None:
        return [value_of(item) for item in children(lst, "item")]
    value = child(el, "value")
    if value is not None:
        return value_of(value)
    text, kind = el.text or "", el.get(XSI_TYPE, "")
    if kind.endswith("decimal"):
        return to_python(Decimal(text))
    if kind.endswith("boolean"):
        return text == "true"
    return text


def test_all_tck_models_are_present():
    assert len(MODELS) >= 17
    assert all(path.with_name(path.stem + "-test-01.xml").exists() for path in MODELS)


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_every_feel_text_in_the_tables_parses(path):
    count = 0
    for table in tables(path):
        for text in table["inputs"]:
            check_expression(text)
        for text in table["input_values"] + table["output_values"]:
            check_unary_tests(text)
        for text in table["defaults"]:
            check_expression(text)
        for entries, outputs in table["rules"]:
            for text in entries:
                check_unary_tests(text)
                count += 1
            for text in outputs:
                check_expression(text)
    assert count > 0


def _cases():
    for path in MODELS:
        doc = etree.parse(str(path.with_name(path.stem + "-test-01.xml"))).getroot()
        for case in children(doc, "testCase"):
            yield pytest.param(path, case.get("id"), id=f"{path.stem}-{case.get('id')}")


@pytest.mark.parametrize(("path", "case_id"), list(_cases()))
def test_matching_rules_give_the_expected_result(path, case_id):
    doc = etree.parse(str(path.with_name(path.stem + "-test-01.xml"))).getroot()
    case = next(c for c in children(doc, "testCase") if c.get("id") == case_id)
    variables = {node.get("name"): value_of(node) for node in children(case, "inputNode")}
    expected = {node.get("name"): value_of(child(node, "expected")) for node in children(case, "resultNode")}
    for table in tables(path):
        if table["decision"] not in expected:
            continue
        want = expected[table["decision"]]
        inputs = [evaluate(text, variables) for text in table["inputs"]]
        produced = []
        for entries, outputs in table["rules"]:
            if all(unary_test(entry, value, variables) is True for entry, value in zip(entries, inputs, strict=True)):
                values = [to_python(evaluate(text, variables)) for text in outputs]
                produced.append(values[0] if len(values) == 1 else dict(zip(table["outputs"], values, strict=True)))
        if table["aggregation"]:
            assert produced, "an aggregated table with no matching rule"
            continue
        if isinstance(want, list):
            assert sorted(map(repr, produced)) == sorted(map(repr, want))
        elif produced:
            assert want in produced, f"{want!r} not among {produced!r}"
        else:
            defaults = [to_python(evaluate(text, variables)) if text else None for text in table["defaults"]]
            assert want == (defaults[0] if len(defaults) == 1 else dict(zip(table["outputs"], defaults, strict=True)))
