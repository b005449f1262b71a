"""Tests for processes.expressions.python: the evaluator for expressions and scripts from BPMN diagrams."""

import pickle

import pytest

from processes import limits
from processes.expressions import python as sandbox
from processes.expressions.python import SandboxError, check, evaluate, execute

# --------------------------------------------------------------------------- normal behaviour


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("amount > 100", True),
        ("amount <= 100", False),
        ("amount * 2 + fee", 310),
        ("amount ** 2", 22500),
        ("-amount // 7 % 5", 3),
        ("1 < amount < 200 and country == 'DE'", True),
        ("country in ('DE', 'AT') and not vip", True),
        ("customer is None", True),
        ("'big' if amount > 100 else 'small'", "big"),
        ("f'{country}-{amount:05d}'", "DE-00150"),
        ("country.lower() + '!'", "de!"),
        ("tags[1:] + ['x']", ["b", "c", "x"]),
        ("order.get('id', 0)", 7),
        ("sorted({*tags, 'a'}, reverse=True)[0]", "c"),
        ("{k: v * 2 for k, v in order.items()}", {"id": 14}),
        ("sum(n for n in range(5)) + len(tags) * max(1, 2)", 16),
        ("round(abs(-2.567), 2)", 2.57),
        ("dict(zip(tags, map(str, range(3))))", {"a": "0", "b": "1", "c": "2"}),
        ("list(enumerate(reversed(tags)))[0]", (0, "c")),
        ("[*tags, *{'z': 1}]", ["a", "b", "c", "z"]),
    ],
)
def test_evaluate_expressions(expression, expected):
    variables = {
        "amount": 150,
        "fee": 10,
        "country": "DE",
        "vip": False,
        "customer": None,
        "tags": ["a", "b", "c"],
        "order": {"id": 7},
    }
    assert evaluate(expression, variables) == expected


def test_comprehension_sees_variables():
    # Comprehensions are their own scope; they must still see the process variables.
    variables = {"items": [1, 5, 10], "threshold": 4}
    assert evaluate("[i for i in items if i > threshold]", variables) == [5, 10]
    assert evaluate("any(i > threshold * 2 for i in items)", variables) is True


def test_evaluate_accepts_read_only_mapping_and_does_not_change_it():
    from types import MappingProxyType

    variables = {"a": 2, "items": [1, 2]}
    assert evaluate("a + 1", MappingProxyType(variables)) == 3
    assert evaluate("[a for a in items]", MappingProxyType(variables)) == [1, 2]
    assert variables == {"a": 2, "items": [1, 2]}


def test_expression_whitespace_from_xml_is_ignored():
    assert evaluate("\n    amount > 1\n  ", {"amount": 2}) is True


def test_script_computes_order_total_and_writes_it_back():
    variables = {
        "items": [
            {"quantity": 2, "unitPrice": 9.5},
            {"quantity": 3, "unitPrice": 1.0},
        ]
    }
    script = "total = 0\nfor item in items:\n    total += item['quantity'] * item['unitPrice']"
    execute(script, variables)
    assert variables["total"] == 22.0


def test_script_control_flow_and_assignments():
    variables = {"items": [3, -1, 8, 0, 12], "limits": {"max": 10}}
    script = """
    positives = []
    big = 0
    for n in items:
        if n < 0:
            continue
        elif n == 0:
            pass
        elif n > limits['max']:
            big += 1
            break
        else:
            positives.append(n)
    first, *rest = positives
    limits['seen'] = len(positives)
    label = 'many' if len(positives) > 1 else 'few'
    """
    execute(script, variables)
    assert variables["positives"] == [3, 8]
    assert (variables["first"], variables["rest"]) == (3, [8])
    assert variables["big"] == 1
    assert variables["limits"] == {"max": 10, "seen": 2}
    assert variables["label"] == "many"


def test_script_del_removes_variables():
    variables = {"temp": 1, "keep": 2, "d": {"a": 1, "b": 2}}
    execute("del temp\ndel d['a']\nnew = keep + 1\ndel new", variables)
    assert variables == {"keep": 2, "d": {"b": 2}}


def test_script_names_only_read_are_left_alone_and_comprehension_names_do_not_leak():
    variables = {"items": [1, 2]}
    execute("doubled = [x * 2 for x in items]", variables)
    assert variables == {"items": [1, 2], "doubled": [2, 4]}


def test_failed_script_writes_nothing_back():
    variables = {"a": 1}
    with pytest.raises(SandboxError, match="division by zero"):
        execute("a = 2\nb = 3\nc = 1 / 0", variables)
    assert variables == {"a": 1}


def test_augmented_assignment_keeps_python_semantics():
    keys = ["x", "y"]
    items = [1]
    variables = {"d": {"x": "a", "y": 1}, "keys": keys, "items": items, "alias": items, "n": 2}
    script = """
    d[keys.pop()] += 10
    d['x'] *= 3
    items *= 2
    items += [5]
    n **= 3
    n <<= 1
    s = [1, 2, 3, 4]
    s[1:3] += [9]
    s[::2] *= 1
    """
    execute(script, variables)
    assert variables["d"] == {"x": "aaa", "y": 11}
    assert keys == ["x"]  # the subscript expression was evaluated once
    assert variables["items"] is items and items == [1, 1, 5]  # in place, aliases see it
    assert variables["n"] == 16
    assert variables["s"] == [1, 2, 3, 9, 4]


def test_indented_script_from_xml_is_dedented():
    variables = {}
    execute("\n        a = 1\n        b = a + 1\n", variables)
    assert variables == {"a": 1, "b": 2}


# --------------------------------------------------------------------------- errors


def test_unknown_variable_is_reported_by_name():
    with pytest.raises(SandboxError, match="name 'amount' is not defined") as info:
        evaluate("amount > 100", {"total": 1})
    assert isinstance(info.value.__cause__, NameError)
    assert info.value.expression == "amount > 100"


def test_unknown_variable_in_script_reports_line():
    with pytest.raises(SandboxError, match="name 'missing' is not defined at line 3") as info:
        execute("a = 1\nb = 2\nc = missing + 1", {})
    assert info.value.lineno == 3


@pytest.mark.parametrize(
    ("expression", "variables", "message", "cause"),
    [
        ("1 / x", {"x": 0}, "division by zero", ZeroDivisionError),
        ("d['missing']", {"d": {}}, "key 'missing' not found", KeyError),
        ("items[5]", {"items": []}, "IndexError: list index out of range", IndexError),
        ("x + 1", {"x": "a"}, "TypeError: can only concatenate str", TypeError),
        ("int(x)", {"x": "abc"}, "ValueError: invalid literal for int()", ValueError),
        ("x.nothing", {"x": 1}, "AttributeError: 'int' object has no attribute 'nothing'", AttributeError),
    ],
)
def test_runtime_errors_become_expression_errors(expression, variables, message, cause):
    with pytest.raises(SandboxError, match=message) as info:
        evaluate(expression, variables)
    assert type(info.value.__cause__) is cause
    assert "\n" not in str(info.value)


def test_syntax_error_mentions_line():
    with pytest.raises(SandboxError, match=r"^syntax error at line 2: ") as info:
        check("a = 1\nb = (\nc = 3", mode="exec")
    assert info.value.lineno == 2
    with pytest.raises(SandboxError, match=r"^syntax error at line 1: "):
        evaluate("amount >", {"amount": 1})
    with pytest.raises(SandboxError, match=r"^syntax error at line 1: 'break' outside loop"):
        execute("break", {})


def test_syntax_error_line_counts_leading_blank_lines_of_expression():
    with pytest.raises(SandboxError, match=r"^syntax error at line 3: "):
        check("\n\n  amount >>> 1")


def test_forbidden_construct_in_script_reports_line():
    with pytest.raises(SandboxError, match=r"^import statements are not allowed at line 3$"):
        check("a = 1\nb = 2\nimport os", mode="exec")


def test_empty_expression_is_rejected():
    with pytest.raises(SandboxError, match="empty expression"):
        check("   ")


def test_check_accepts_valid_sources():
    check("amount > 100 and country in ('DE', 'AT')")
    check("total = 0\nfor item in items:\n    total += item['quantity']", mode="exec")


def test_check_rejects_unknown_mode():
    with pytest.raises(ValueError):
        check("1", mode="single")


def test_expression_error_pickles():
    error = SandboxError("forbidden name 'x'", "x", 1)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.expression, copy.lineno) == ("forbidden name 'x'", "x", 1)


def test_compiled_code_is_cached():
    first = sandbox._compile("amount > 12345", "eval")
    assert sandbox._compile("amount > 12345", "eval") is first
    assert sandbox._compile("amount > 12345", "exec") is not first


def test_only_the_safe_builtins_exist():
    assert set(sandbox._SAFE_BUILTINS) == {
        "abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "len", "list",
        "map", "max", "min", "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["print", "pow", "isinstance", "chr", "iter", "next", "repr", "format", "slice"])
@pytest.mark.parametrize("template", ["{name}", "[{name} for v in [1]]", "v = {name}"])
def test_other_builtins_are_not_defined(name, template):
    # plain expression, expression with its own scope, and script all see the same builtins
    source = template.format(name=name)
    with pytest.raises(SandboxError, match=f"name '{name}' is not defined"):
        if "=" in source:
            execute(source, {})
        else:
            evaluate(source, {})


def test_variables_shadow_builtins():
    assert evaluate("len + 1", {"len": 1}) == 2


def test_step_budget_counts_all_loops_and_calls(monkeypatch):
    monkeypatch.setattr(limits.LIMITS, "steps", 100)
    execute("n = 0\nfor a in range(5):\n    for b in range(5):\n        n += 1", {})  # 36 steps
    with pytest.raises(SandboxError, match="budget"):
        execute("for a in range(12):\n    for b in range(12):\n        pass", {})
    with pytest.raises(SandboxError, match="budget"):
        evaluate("[1 for a in range(12) for b in range(12)]", {})
    with pytest.raises(SandboxError, match="budget"):
        evaluate("sum(1 for a in range(60))", {})  # the items sum() walks count too
    assert evaluate("sum(1 for a in range(40))", {}) == 40  # the budget is per evaluation


# --------------------------------------------------------------------------- escapes


class Sentinel:
    """A variable whose attributes/methods record any access, to prove nothing ran."""

    touched = False

    def poke(self):
        Sentinel.touched = True
        return 1


# (source, mode, message fragment, rejected before running)
ESCAPES = [
    ("__import__('os').system('x')", "eval", "forbidden name '__import__'", True),
    ("().__class__.__mro__[1].__subclasses__()", "eval", "forbidden attribute '__class__'", True),
    ("open('/etc/passwd')", "eval", "forbidden name 'open'", True),
    ("exec('1')", "eval", "forbidden name 'exec'", True),
    ("eval('1')", "eval", "forbidden name 'eval'", True),
    ("getattr(x, '__class__')", "eval", "forbidden name 'getattr'", True),
    ("lambda: 1", "eval", "lambda expressions are not allowed", True),
    ("import os", "exec", "import statements are not allowed", True),
    ("from os import system", "exec", "import statements are not allowed", True),
    ("[x for x in ().__class__.__bases__]", "eval", "forbidden attribute '__class__'", True),
    ("'{0.__class__}'.format(1)", "eval", "forbidden attribute 'format'", True),
    ("'{x.__class__}'.format_map({'x': 1})", "eval", "forbidden attribute 'format_map'", True),
    ("f = str.format\nf('{0.__class__}', 1)", "exec", "forbidden attribute 'format'", True),
    ("while True:\n    pass", "exec", "while loops are not allowed", True),
    ("def f():\n    pass", "exec", "function definitions (def) are not allowed", True),
    ("async def f():\n    pass", "exec", "function definitions (async def) are not allowed", True),
    ("globals()", "eval", "forbidden name 'globals'", True),
    ("locals()", "eval", "forbidden name 'locals'", True),
    ("type(1)", "eval", "forbidden name 'type'", True),
    ("object()", "eval", "forbidden name 'object'", True),
    ("x._secret", "eval", "forbidden attribute '_secret'", True),
    ("_of_pow", "eval", "forbidden name '_of_pow'", True),
    ("[y := 1]", "eval", "walrus operator", True),
    ("__builtins__", "eval", "forbidden name '__builtins__'", True),
    ("compile('1', '', 'eval')", "eval", "forbidden name 'compile'", True),
    ("vars()", "eval", "forbidden name 'vars'", True),
    ("breakpoint()", "eval", "forbidden name 'breakpoint'", True),
    ("try:\n    x = 1\nexcept Exception:\n    pass", "exec", "try/except is not allowed", True),
    ("with open('f') as fh:\n    pass", "exec", "with statements are not allowed", True),
    ("class X:\n    pass", "exec", "class definitions are not allowed", True),
    ("x = yield 1", "exec", "yield is not allowed", True),
    ("raise SystemExit", "exec", "raise is not allowed", True),
    ("global x", "exec", "global declarations are not allowed", True),
    ("assert x", "exec", "assert is not allowed", True),
    ("x: int = 1", "exec", "annotated assignments are not allowed", True),
    ("match x:\n    case 1:\n        pass", "exec", "match statements are not allowed", True),
    ("x.poke = 1", "exec", "assigning to or deleting attributes is not allowed", True),
    ("b'bytes'", "eval", "bytes literals are not allowed", True),
    ("(g for g in [1]).gi_frame.f_back.f_globals", "eval", "forbidden attribute 'gi_frame'", True),
    ("x.poke.f_globals", "eval", "forbidden attribute 'f_globals'", True),
    ("{}.setdefault('a', __import__)", "eval", "forbidden name '__import__'", True),
    ("x.poke() + __loader__", "eval", "forbidden name '__loader__'", True),
    ("x.poke() + setattr(x, 'a', 1)", "eval", "forbidden name 'setattr'", True),
    ("x = 1\n" * 4000, "exec", "expression is too long", True),
    ("(" * 500 + "1" + ")" * 500, "eval", "too many nested parentheses", True),
    ("[" * 150 + "]" * 150, "eval", "nested too deeply", True),
    ("-" * 5000 + "1", "eval", "nested too deeply", True),
    # resource bombs are stopped while running
    ("9**9**9", "eval", "exponent of ** is too large", False),
    ("10**4001", "eval", "more than 4000 digits", False),
    ("'a'*10**9", "eval", "result of * would be too long", False),
    ("[0]*10**8", "eval", "result of * would be too long", False),
    ("1 << 10**10", "eval", "result of << would have more than", False),
    ("range(10**9)", "eval", "range() is too long", False),
    ("sum([[0] * 1000] * 1000, [])", "eval", "sum() can only add numbers", False),
    ("n = 10**3000\nfor i in range(10):\n    n *= n", "exec", "more than 4000 digits at line 3", False),
    ("s = 'a' * 1000000\nfor i in range(50):\n    s += s", "exec", "result of + would be too long", False),
    (
        "s = ['a'] * 1000000\nfor i in range(50):\n    s = s + s",
        "exec",
        "result of + would be too long",
        False,
    ),
    ("for a in range(100000):\n    for b in range(100000):\n        pass", "exec", "budget", False),
    ("[1 for a in range(100000) for b in range(100000)]", "eval", "budget", False),
    ("l = [1]\nfor i in l:\n    l.append(i)", "exec", "budget", False),
]


@pytest.mark.parametrize(("source", "mode", "message", "static"), ESCAPES, ids=[repr(e[0][:40]) for e in ESCAPES])
def test_escape_corpus_is_rejected(source, mode, message, static):
    Sentinel.touched = False
    variables = {"x": Sentinel()}
    if static:
        with pytest.raises(SandboxError) as info:
            check(source, mode)
        assert message in str(info.value)
    else:
        check(source, mode)  # valid code; the guards stop it at run time
    with pytest.raises(SandboxError) as info:
        if mode == "eval":
            evaluate(source, variables)
        else:
            execute(source, variables)
    assert message in str(info.value)
    assert info.value.expression == source
    assert not Sentinel.touched, "rejected code must not run at all"
    if mode == "exec":
        assert set(variables) == {"x"}


def test_escape_corpus_is_large_and_distinct():
    assert len({source for source, *_ in ESCAPES}) == len(ESCAPES) >= 30


@pytest.mark.parametrize(
    ("allowed", "rejected"),
    [
        ("2 ** 10000", "2 ** 10001"),  # exponent limit
        ("10 ** 4000", "10 ** 4001"),  # result size limit
        ("len('ab' * 500000)", "len('ab' * 500001)"),
        ("len([0] * 1000000)", "len([0] * 1000001)"),
        ("len(range(100000))", "len(range(100001))"),
        ("(10 ** 3999) * 10", "(10 ** 4000) * 10"),
        ("len('a' * 600000 + 'b' * 400000)", "len('a' * 600000 + 'b' * 400001)"),
        ("1 << 13000", "1 << 13300"),
    ],
)
def test_limits_are_exact(allowed, rejected):
    evaluate(allowed, {})
    with pytest.raises(SandboxError):
        evaluate(rejected, {})


PAYLOADS = [
    "open(p, 'w').write('x')",
    "__import__('pathlib').Path(p).write_text('x')",
    "exec(\"open(p, 'w').write('x')\")",
    "exec(compile(\"open(p, 'w').write('x')\", 'f', 'exec'))",
    "getattr(__import__('io'), 'open')(p, 'w').write('x')",
    "(g for g in [1]).gi_frame.f_builtins['open'](p, 'w').write('x')",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
    ".__init__.__globals__['open'](p, 65)",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_script_creates_no_file(tmp_path, payload):
    # Control: the payload really does create a file when run by plain Python ...
    control = tmp_path / "control.txt"
    exec(payload, {"p": str(control)})
    assert control.exists()
    # ... but not in the sandbox.
    target = tmp_path / "target.txt"
    with pytest.raises(SandboxError):
        execute(payload, {"p": str(target)})
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [control]
