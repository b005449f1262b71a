"""(d) of `make bench`: one 20-rule decision table evaluated by orderflow's DMN engine and by SpiffWorkflow 3.2's,
in the same run. The table: discount by customer tier (5) and amount band (4), hit policy UNIQUE."""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

from lxml import etree

TIERS = ["bronze", "silver", "gold", "platinum", "diamond"]
BANDS = [(None, 100), (100, 500), (500, 1000), (1000, None)]
CASES = {
    "first rule matches": {"tier": "bronze", "amount": 50},
    "last rule matches": {"tier": "diamond", "amount": 5000},
    "no rule matches": {"tier": "copper", "amount": 5},
}


def table() -> bytes:
    rules = []
    for n, (tier, (low, high)) in enumerate(((t, b) for t in TIERS for b in BANDS), start=1):
        low_test = f"&gt;= {low}" if low is not None else "-"
        high_test = f"&lt; {high}" if high is not None else "-"
        rules.append(  # entry ids: SpiffWorkflow's parser requires them
            f'<rule id="r{n}"><inputEntry id="r{n}a"><text>"{tier}"</text></inputEntry>'
            f'<inputEntry id="r{n}b"><text>{low_test}</text></inputEntry>'
            f'<inputEntry id="r{n}c"><text>{high_test}</text></inputEntry>'
            f'<outputEntry id="r{n}o"><text>{n}</text></outputEntry></rule>'
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="bench" name="bench" namespace="orderflow">
  <decision id="discount" name="Discount"><decisionTable id="dt" hitPolicy="UNIQUE">
    <input id="i1"><inputExpression id="e1" typeRef="string"><text>tier</text></inputExpression></input>
    <input id="i2"><inputExpression id="e2" typeRef="number"><text>amount</text></inputExpression></input>
    <input id="i3"><inputExpression id="e3" typeRef="number"><text>amount</text></inputExpression></input>
    <output id="o1" name="discount" typeRef="number"/>
    {"".join(rules)}
  </decisionTable></decision>
</definitions>""".encode()


def _microseconds(fn, number: int) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(runs)


def decision_speed() -> dict:
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

    from processes.dmn import evaluate, parse

    xml = table()
    model = parse(xml, "bench.dmn")
    spiff_parser = BpmnDmnParser()
    spiff_parser.add_dmn_xml(etree.fromstring(xml), filename="bench.dmn")
    spiff = spiff_parser.get_engine("discount", None)
    script_engine = PythonScriptEngine()
    cases = {}
    for name, variables in CASES.items():
        task = SimpleNamespace(data=dict(variables), workflow=SimpleNamespace(script_engine=script_engine))
        ours = _microseconds(lambda v=variables: evaluate(model, "discount", v), 3000)
        theirs = _microseconds(lambda t=task: spiff.result(t), 200)
        cases[name] = {"orderflowMicroseconds": round(ours, 1), "spiffWorkflowMicroseconds": round(theirs, 1),
                       "ratio": round(theirs / ours, 1)}  # fmt: skip
    return {"table": "20 rules, 3 inputs, UNIQUE", "cases": cases}
