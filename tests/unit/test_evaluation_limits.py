"""Every evaluation runs under a deadline, a step budget that counts work inside builtins, size limits, and FEEL
regular expressions on RE2 (issue #15, item 1): the hostile expressions of the issue, in each dialect and in DMN
cells, end with an error naming the expression and the budget; RE2 cannot run is refused at deploy."""

from __future__ import annotations

import time

import pytest

from app.config import from_environment
from app.features import default_features
from processes import expressions, feel, limits
from processes.core.engine import EngineSettings
from processes.deployment.deployments import lint_files
from processes.dmn import DmnDecisionError, DmnParseError, evaluate, parse
from processes.expressions import python as sandbox
from processes.feel import FeelError
from processes.feel.lib_text import translate
from tests.support.diagrams import process

SPACES = " " * 150


@pytest.fixture
def limits_in_force():
    """Restore the process-wide limits a test changes."""
    before = limits.Limits(**vars(limits.LIMITS))
    yield limits.LIMITS
    limits.configure(**vars(before))


# -- Python ---------------------------------------------------------------------------------------------------

PYTHON_HOSTILE = {
    "sum(map(sum, [range(100000)] * 4000))": "step budget",
    "max(max(range(100000)) for i in range(1000))": "step budget",
    "sorted(sorted(range(100000)) for i in range(1000))": "step budget",
    "len(list(map(list, [range(100000)] * 4000)))": "step budget",
    "'a'.ljust(2*10**8)": "ljust",
    "str.rjust('a', 2*10**8)": "rjust",
    "list(map(str.center, ['a'], [10**9]))": "center",
    "f'{1:>1000000000}'": "formatted value",
    "f'{1:>{10**9}}'": "formatted value",
    "'%1000000000d' % 1": "result of %",
    "' '.join(['a'*1000]*200000)": "too much data",
    "['a'*1000000]*50": "too much data",
    "('a'*1000).replace('a', 'a'*100000)": "replace",
    "('\\t'*1000).expandtabs(1000000)": "expandtabs",
}


@pytest.mark.parametrize("source", sorted(PYTHON_HOSTILE))
def test_python_hostile_expressions_end_naming_the_expression(source: str, limits_in_force) -> None:
    limits.configure(steps=200_000)  # the default's behaviour, sooner (the e2e tests run the defaults)
    with pytest.raises(expressions.ExpressionError) as info:
        expressions.evaluate(source, {})
    message = str(info.value)
    assert PYTHON_HOSTILE[source] in message
    if "budget" in PYTHON_HOSTILE[source]:
        assert source in message and "ORDERFLOW_EXPRESSION_STEPS" in message


def test_python_scripts_count_work_in_loops_of_methods() -> None:
    for script in (
        "s = 'a' * 1000\nfor i in range(10):\n    s = s.replace('a', s)",
        "items = [1]\nfor i in range(40):\n    items.extend(items)",
        "parts = []\nfor i in range(20000):\n    parts.append('a' * 100)\ntext = ''.join(parts)",
    ):
        with pytest.raises(sandbox.SandboxError, match="too long"):
            sandbox.execute(script, {})


def test_python_over_its_time_budget_is_stopped(limits_in_force) -> None:
    limits.configure(seconds=0.01, steps=10**12)
    with pytest.raises(expressions.ExpressionError, match="time budget of 0.01 s") as info:
        expressions.evaluate("sum(map(sum, [range(100000)] * 4000))", {})
    assert "ORDERFLOW_EXPRESSION_SECONDS" in str(info.value)


def test_an_evaluation_looks_at_the_clock_only_once_it_has_worked_a_while(monkeypatch, limits_in_force) -> None:
    """Reading a thread's CPU time is a system call: an evaluation fixes its deadline at its first check (after
    limits.CHECK_EVERY steps), so the short ones, almost all, never read the clock; the long ones are still
    stopped by it."""
    reads = []

    def clock() -> float:
        reads.append(1)
        return time.thread_time()

    monkeypatch.setattr(limits, "clock", clock)
    for source in ("total > 100", "=total > 100", "${total > 100}"):  # Python, FEEL, JUEL
        assert expressions.evaluate(source, {"total": 150}) is True
    assert reads == []
    limits.configure(seconds=0.01, steps=10**12)
    for source in ("sum(map(sum, [range(100000)] * 4000))", "=count(for a in 1..1000000, b in 1..1000000 return 1)"):
        with pytest.raises(expressions.ExpressionError, match="ORDERFLOW_EXPRESSION_SECONDS"):
            expressions.evaluate(source, {})
    assert reads


def test_ordinary_python_still_works() -> None:
    variables = {"items": [{"qty": 2, "price": 2.5}, {"qty": 1, "price": 10}], "name": "Ada"}
    assert expressions.evaluate("sum(i['qty'] * i['price'] for i in items)", variables) == 15
    assert expressions.evaluate("', '.join(sorted(str(i['qty']) for i in items))", variables) == "1, 2"
    assert expressions.evaluate("f'{name!r:>6} {3.14159:.2f}'", variables) == " 'Ada' 3.14"
    assert expressions.evaluate("'%05.1f|%s' % (2.25, name)", variables) == "002.2|Ada"
    assert expressions.evaluate("dict.fromkeys(['a'], 0) | dict(b=1)", {}) == {"a": 0, "b": 1}
    assert expressions.evaluate("max(items, key=len) == items[0]", variables) is True


# -- FEEL -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Each backtracked for 10 s to minutes on Python's re; RE2 answers in linear time.
        (f'matches("{SPACES}", "\\s*\\s*\\s*\\s*x")', False),
        ('matches("' + "a" * 26 + '", "(a?){26}a{26}")', True),
        ('replace("' + "a" * 400 + '", "a*a*a*b", "")', "a" * 400),
        ('matches("' + "a" * 36 + '!", "(a+)+$")', False),
        ('split("a1b22c", "[0-9]+")', ["a", "b", "c"]),
        ('replace("abc", "(b)", "[$1]")', "a[b]c"),
        ('matches("A B", "a b", "ix")', False),
        ('matches("A B", "a\\sb", "i")', True),
        ('matches("a.b", ".", "q")', True),
        ('matches("x", "[a-z]")', True),
    ],
)
def test_feel_regular_expressions_run_on_re2(source: str, expected) -> None:
    assert expressions.evaluate("=" + source, {}) == expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a)\\1", "back-references"),
        ("a(?=b)", "lookahead"),
        ("a(?!b)", "lookahead"),
        ("(?<=a)b", "lookahead"),
        ("[a-z-[aeiou]]", "subtraction"),
        ("\\i\\c*", "XML name escape"),
    ],
)
def test_what_re2_cannot_run_is_refused_when_compiled(pattern: str, problem: str) -> None:
    with pytest.raises(FeelError, match=problem):
        translate(pattern)
    with pytest.raises(expressions.ExpressionError, match=problem):
        expressions.check(f'=matches(x, "{pattern.replace(chr(92), chr(92) * 2)}")')


def test_a_dynamic_pattern_re2_cannot_run_fails_when_evaluated() -> None:
    with pytest.raises(expressions.ExpressionError, match="back-references"):
        expressions.evaluate("=matches(x, p)", {"x": "aa", "p": "(a)\\1"})


def test_feel_over_its_budgets_names_the_expression(limits_in_force) -> None:
    source = "=count(for a in 1..1000000, b in 1..1000000 return 1)"
    limits.configure(seconds=0.01)
    with pytest.raises(expressions.ExpressionError) as info:
        expressions.evaluate(source, {})
    assert source in str(info.value) and "ORDERFLOW_EXPRESSION_SECONDS" in str(info.value)


# -- JUEL -----------------------------------------------------------------------------------------------------


def test_juel_has_a_budget_too(limits_in_force) -> None:
    limits.configure(steps=3)
    assert expressions.evaluate("${a.size() + b.size()}", {"a": [1], "b": [1, 2]}) == 3
    with pytest.raises(expressions.ExpressionError, match="step budget") as info:
        expressions.evaluate("${a.size() + a.size() + a.size() + a.size()}", {"a": [1]})
    assert "a.size()" in str(info.value)


# -- DMN cells ------------------------------------------------------------------------------------------------


def _dmn(input_entry: str, output: str = '"ok"') -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs" name="t" namespace="t">
  <decision id="d" name="d"><decisionTable id="table" hitPolicy="FIRST">
    <input id="in"><inputExpression typeRef="string"><text>note</text></inputExpression></input>
    <output id="out" name="result" typeRef="string"/>
    <rule id="rule1"><inputEntry id="cell1"><text>{input_entry}</text></inputEntry>
      <outputEntry id="cell2"><text>{output}</text></outputEntry></rule>
  </decisionTable></decision>
</definitions>""".encode()


def test_hostile_regex_in_a_dmn_cell_runs_in_linear_time() -> None:
    model = parse(_dmn('matches(?, "\\s*\\s*\\s*\\s*x")'))
    assert evaluate(model, "d", {"note": SPACES}).result is None
    model = parse(_dmn('"x"', 'replace(note, "a*a*a*b", "")'))
    assert evaluate(model, "d", {"note": "x"}).result == "x"


def test_a_dmn_cell_re2_cannot_run_is_refused_at_parse_naming_the_cell() -> None:
    with pytest.raises(DmnParseError) as info:
        parse(_dmn('matches(?, "(a)\\1")'))
    assert "cell1" in str(info.value.problems) and "back-references" in str(info.value.problems)


def test_a_dmn_cell_over_its_budget_names_the_cell(limits_in_force) -> None:
    limits.configure(seconds=0.01)
    model = parse(_dmn("count(for a in 1..1000000, b in 1..1000000 return 1) &gt; 0"))
    with pytest.raises(DmnDecisionError, match="count\\(for a in 1..1000000") as info:
        evaluate(model, "d", {"note": "x"})
    assert "time budget" in str(info.value)


# -- deploy ---------------------------------------------------------------------------------------------------


def test_deploy_refuses_a_condition_re2_cannot_run_naming_the_element() -> None:
    diagram = process(
        "p",
        """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="g"/>
  <bpmn:exclusiveGateway id="g" default="c"/>
  <bpmn:sequenceFlow id="b" sourceRef="g" targetRef="e1">
    <bpmn:conditionExpression>=matches(note, "(x)\\1")</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="c" sourceRef="g" targetRef="e2"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>""",
    )
    problems, _, _ = lint_files([diagram], features=default_features(EngineSettings()))
    assert [(p.element_id, "back-references" in p.message) for p in problems] == [("g", True)]  # the gateway


# -- configuration --------------------------------------------------------------------------------------------


def test_the_limits_come_from_the_environment(limits_in_force) -> None:
    config = from_environment(
        {
            "ORDERFLOW_EXPRESSION_SECONDS": "2.5",
            "ORDERFLOW_EXPRESSION_STEPS": "5000",
            "ORDERFLOW_MAX_VARIABLES_BYTES": "1000",
        }
    )
    assert (
        config["ORDERFLOW_EXPRESSION_SECONDS"],
        config["ORDERFLOW_EXPRESSION_STEPS"],
        config["ORDERFLOW_MAX_VARIABLES_BYTES"],
    ) == (2.5, 5000, 1000)
    defaults = from_environment({})
    assert (defaults["ORDERFLOW_EXPRESSION_SECONDS"], defaults["ORDERFLOW_MAX_VARIABLES_BYTES"]) == (1.0, 4 << 20)
    limits.configure(steps=5000)
    with pytest.raises(expressions.ExpressionError, match="5,000 steps"):
        expressions.evaluate("sum(range(10000))", {})
    assert feel.evaluate("1 + 1") == 2
