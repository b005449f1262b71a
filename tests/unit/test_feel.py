"""FEEL: parsing, evaluation semantics, unary tests, built-ins, errors and limits (processes.feel)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest

from processes.feel import (
    FeelError,
    FeelSyntaxError,
    Range,
    YearsMonthsDuration,
    check_expression,
    check_unary_tests,
    evaluate,
    to_feel,
    to_json,
    to_python,
    unary_test,
)
from processes.feel import functions as feel_functions
from processes.feel.api import compile_feel
from tests.support.paths import CONFORMANCE

VARS = {
    "amount": 1500,
    "price": 9.99,
    "name": "Ada",
    "flag": True,
    "nothing": None,
    "items": [1, 2, 3, 4, 5],
    "order": {"id": "A-1", "total": 120.5, "lines": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 5}]},
    "Customer Status": "gold",
    "Terms and Conditions": True,
    "Approved/Declined": "Approved",
    "day": dt.date(2024, 1, 31),
}


def ev(source: str, variables: dict | None = None):
    return to_python(evaluate(source, VARS if variables is None else variables))


def cases(*pairs):
    return pytest.mark.parametrize(("source", "expected"), pairs, ids=[p[0][:60] for p in pairs])


# ---------------------------------------------------------------- literals and arithmetic


@cases(
    ("1", 1),
    ("-3", -3),
    (".5", 0.5),
    ("1.50", 1.5),
    ('"a\\"b\\\\c\\n"', 'a"b\\c\n'),
    ('"\\u00e9t\\u00e9"', "été"),
    ('"\\ud83d\\ude00"', "\U0001f600"),
    ("true", True),
    ("false", False),
    ("null", None),
    ("0.1 + 0.2", 0.3),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("2 * 3 / 4", 1.5),
    ("7 / 2", 3.5),
    ("2 ** 10", 1024),
    ("3 ** 4 ** 5", 3486784401),  # left associative (DMN TCK 0075)
    ("-3 ** 2", 9),  # (-3) ** 2 (DMN TCK 0075)
    ("2 ** -1", 0.5),
    ("2 ** 0.5", 1.4142135623730951),
    ("- - 10", 10),
    ("-(1 + 2)", -3),
    ("1 / 0", None),
    ("0 / 0", None),
    ("1 + null", None),
    ("null * 2", None),
    ("-null", None),
    ('1 + "a"', None),
    ('"a" - "b"', None),
    ('"con" + "cat"', "concat"),
    ('"a" * 2', None),
    ("true + 1", None),
    ("amount * 2", 3000),
    ("price * 3", 29.97),
    ("10 ** 99999999999", None),
    ("1 // comment\n + 2 /* block */", 3),
)
def test_arithmetic(source, expected):
    assert ev(source) == expected


def test_decimal_precision_is_34_digits_not_binary_floats():
    assert evaluate("0.1 + 0.2") == Decimal("0.3")
    assert evaluate("1 / 3") == Decimal("0.3333333333333333333333333333333333")
    assert evaluate("2 / 3") == Decimal("0.6666666666666666666666666666666667")
    assert evaluate("x * 3", {"x": 0.1}) == Decimal("0.3")
    assert evaluate("123456789012345678901234567890 + 1") == Decimal("123456789012345678901234567891")


# ---------------------------------------------------------------- comparison and logic


@cases(
    ("1 = 1", True),
    ("1 = 1.0", True),
    ("1 != 2", True),
    ('"a" = "a"', True),
    ('"a" < "b"', True),
    ("2 <= 2", True),
    ("3 > 4", False),
    ("null = null", True),
    ("1 = null", False),
    ("null != 1", True),
    ("null < 1", None),
    ('1 = "1"', None),
    ('1 < "2"', None),
    ("true = 1", None),
    ("true < false", None),
    ('date("2024-01-01") < date("2024-02-01")', True),
    ('date("2024-01-01") = date and time("2024-01-01T00:00:00")', None),
    ('time("10:00:00") > time("09:00:00")', True),
    ('duration("P1D") > duration("PT23H")', True),
    ('duration("P1Y") = duration("P12M")', True),
    ('duration("P1Y") = duration("P365D")', None),
    ("[1, 2] = [1, 2]", True),
    ("[1, 2] = [1, 2, 3]", False),
    ("{a: 1} = {a: 1}", True),
    ("{a: 1} = {b: 1}", False),
    ("5 between 1 and 10", True),
    ("10 between 1 and 10", True),
    ("11 between 1 and 10", False),
    ('"b" between "a" and "c"', True),
    ("null between 1 and 2", None),
    ("amount > 1000 and flag", True),
    ("amount > 1000 and amount between 1000 and 2000 and true", True),
    ("not(true)", False),
    ("not(null)", None),
    ("not(1)", None),
)
def test_comparison(source, expected):
    assert ev(source) == expected


AND_TABLE = [
    ("true", "true", True, True),
    ("true", "false", False, True),
    ("true", "null", None, True),
    ("false", "false", False, False),
    ("false", "null", False, None),
    ("null", "null", None, None),
    ('"x"', "true", None, True),
    ("1", "false", False, None),
]


@pytest.mark.parametrize(("a", "b", "conj", "disj"), AND_TABLE)
def test_three_valued_logic(a, b, conj, disj):
    assert ev(f"{a} and {b}") == conj
    assert ev(f"{b} and {a}") == conj
    assert ev(f"{a} or {b}") == disj
    assert ev(f"{b} or {a}") == disj


# ---------------------------------------------------------------- names, paths, contexts


@cases(
    ("amount", 1500),
    ("unknown", None),
    ("nothing", None),
    ("Customer Status", "gold"),
    ('Customer Status = "gold"', True),
    ("Customer  Status", "gold"),  # names with spaces are compared word by word
    ("Terms and Conditions", True),  # a name containing a keyword, known from the variables
    ('Approved/Declined = "Approved"', True),  # a name containing punctuation
    ("order.id", "A-1"),
    ("order.total", 120.5),
    ("order.missing", None),
    ("order.lines.sku", ["x", "y"]),
    ("order.lines[qty > 3].sku", ["y"]),
    ("nothing.x", None),
    ("amount.x", None),
    ("{a: 1, b: a + 1}", {"a": 1, "b": 2}),
    ('{"b c": 2, d: b c * 2}.d', 4),
    ("{a: {b: {c: 7}}}.a.b.c", 7),
    ('{a: 1}.a + {"a": 2}.a', 3),
    ("{}", {}),
    ('date("2024-03-15").year', 2024),
    ('date("2024-03-15").month', 3),
    ('date("2024-03-15").weekday', 5),
    ('date and time("2024-03-15T10:20:30").hour', 10),
    ('time("10:20:30.5").second', 30.5),
    ('duration("P2DT3H").days', 2),
    ('duration("P2DT3H").hours', 3),
    ('duration("P1Y5M").years', 1),
    ('duration("P1Y5M").months', 5),
    ("[1..5].start", 1),
    ("[1..5[.end included", False),
)
def test_names_paths_contexts(source, expected):
    assert ev(source) == expected


def test_variables_are_converted_lazily_and_only_when_used():
    class Exploding:
        pass

    assert ev("a + 1", {"a": 1, "b": Exploding()}) == 2
    assert ev("b", {"b": Exploding()}) is None  # objects FEEL has no type for are null


def test_known_name_with_keyword_needs_the_variable():
    with pytest.raises(FeelSyntaxError):
        check_expression("Terms and Conditions and")
    assert ev("Terms and Conditions", {"Terms": True, "Conditions": False}) is False  # plain conjunction


# ---------------------------------------------------------------- if, for, some, every, filters, lists


@cases(
    ('if amount > 1000 then "big" else "small"', "big"),
    ('if null then "yes" else "no"', "no"),
    ('if "true" then 1 else 2', 2),
    ("if amount > 1 then if amount > 2000 then 1 else 2 else 3", 2),
    ("for x in [1, 2, 3] return x * x", [1, 4, 9]),
    ("for x in 1..3 return x", [1, 2, 3]),
    ("for x in 3..1 return x", [3, 2, 1]),
    ("for x in [1..3] return x", [1, 2, 3]),
    ("for x in ]1..3] return x", [2, 3]),
    ("for x in [1, 2], y in [10, 20] return x + y", [11, 21, 12, 22]),
    ("for i in 1..3, j in 1..i return j", [1, 1, 2, 1, 2, 3]),
    ("for i in 0..4 return if i = 0 then 1 else i * partial[-1]", [1, 1, 2, 6, 24]),
    ("for x in [] return x", []),
    ("for x in null return x", None),
    ("for x in 5 return x", [5]),
    ("some x in [1, 2, 3] satisfies x > 2", True),
    ("some x in [1, 2, 3] satisfies x > 3", False),
    ("some x in [1, null] satisfies x > 3", None),
    ("every x in [1, 2, 3] satisfies x > 0", True),
    ("every x in [1, 2, 3] satisfies x > 1", False),
    ("every x in [] satisfies x > 1", True),
    ("some x in [1, 2], y in [2, 3] satisfies x = y", True),
    ("[]", []),
    ("[1, [2, 3]]", [1, [2, 3]]),
    ("[[]]", [[]]),
    ("items[1]", 1),
    ("items[-1]", 5),
    ("items[0]", None),
    ("items[9]", None),
    ("items[item > 3]", [4, 5]),
    ("items[item > 9]", []),
    ("items[item > 2][1]", 3),
    ("[{a: 1}, {a: 5}][a > 2]", [{"a": 5}]),
    ("[{a: 1}, {a: 5}][item.a > 2].a", [5]),
    ("[1, null, 3][item > 1]", [3]),
    ("5[item > 3]", [5]),
    ("5[1]", 5),
    ("[][1]", None),
    ("null[1]", None),
)
def test_control_flow_and_lists(source, expected):
    assert ev(source) == expected


# ---------------------------------------------------------------- in, instance of, ranges


@cases(
    ("5 in [1..10]", True),
    ("10 in [1..10[", False),
    ("1 in ]1..10]", False),
    ("1 in (1..10]", False),
    ("5 in [1, 5, 9]", True),
    ("4 in [1, 5, 9]", False),
    ("5 in 5", True),
    ("5 in < 10", True),
    ("5 in >= 10", False),
    ('"b" in ("a", "b")', True),
    ("5 in (< 3, > 4)", True),
    ("5 in (< 3, > 6)", False),
    ("null in [1..10]", None),
    ("[1, 2] in [[1, 2], [3]]", True),
    ('date("2024-06-01") in [date("2024-01-01")..date("2024-12-31")]', True),
    ("amount in [1000..2000] and flag", True),
    ("1 instance of number", True),
    ('"a" instance of string', True),
    ("true instance of boolean", True),
    ('date("2024-01-01") instance of date', True),
    ('date and time("2024-01-01T00:00:00") instance of date', False),
    ('date and time("2024-01-01T00:00:00") instance of date and time', True),
    ('time("10:00:00") instance of time', True),
    ('duration("P1D") instance of days and time duration', True),
    ('duration("P1Y") instance of years and months duration', True),
    ("[1, 2] instance of list", True),
    ("[1, 2] instance of list<number>", True),
    ('[1, "a"] instance of list<number>', False),
    ("{a: 1} instance of context", True),
    ("(function(x) x) instance of function", True),
    ("[1..2] instance of range", True),
    ("null instance of number", False),
    ("null instance of Null", True),
    ("1 instance of Any", True),
)
def test_in_and_instance_of(source, expected):
    assert ev(source) == expected


def test_range_values():
    assert evaluate("[1..10]") == Range(Decimal(1), Decimal(10), True, True)
    assert evaluate("]1..10[") == Range(Decimal(1), Decimal(10), False, False)
    assert evaluate("(1..10]") == Range(Decimal(1), Decimal(10), False, True)
    assert to_json(evaluate("[1..10[")) == "[1..10)"


# ---------------------------------------------------------------- functions


@cases(
    ("(function(x) x + 1)(2)", 3),
    ("(function(a, b) a - b)(b: 1, a: 5)", 4),
    ("{f: function(x) x * 2, y: f(21)}.y", 42),
    ("{fact: function(n) if n <= 1 then 1 else n * fact(n - 1)}.fact(10)", 3628800),
    ("{add: function(a, b) a + b}.add(1, 2)", 3),
    ("(function(x: number) x * 10)(4)", 40),
    ("(function() 7)()", 7),
    ("{k: 3, f: function(x) x + k}.f(1)", 4),
    ("sort([3, 1, 2], function(x, y) x > y)", [3, 2, 1]),
    ("sort(list: [3, 1, 2], precedes: function(x, y) x < y)", [1, 2, 3]),
    ('substring(string: "foobar", start position: 3)', "obar"),
    ('substring(start position: 2, string: "foobar", length: 3)', "oob"),
    ("count(list: [1, 2])", 2),
    ("max(list: [1, 2])", 2),
)
def test_functions(source, expected):
    assert ev(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "nosuchfunction(1)",
        "(function(x) x)(1, 2)",
        "(function(x) x)(y: 1)",
        'substring("a")',
        "string length(1, 2)",
        "odd(n: 4)",
        "amount(1)",
        '(function(x) external {java: {class: "java.lang.Math", method signature: "max(double, double)"}})(1)',
    ],
)
def test_call_errors_raise(source):
    with pytest.raises(FeelError):
        evaluate(source, VARS)


# ---------------------------------------------------------------- built-ins


@cases(
    # conversion
    ("string(1.50)", "1.5"),
    ("string(100)", "100"),
    ("string(-0.000001)", "-0.000001"),
    ("string(true)", "true"),
    ("string(null)", None),
    ('string(date("2024-01-05"))', "2024-01-05"),
    ('string(duration("P1DT2H30M"))', "P1DT2H30M"),
    ('string(duration("-PT0.5S"))', "-PT0.5S"),
    ('string(duration("P14M"))', "P1Y2M"),
    ('string([1, "a", {b: true}])', '[1, "a", {b: true}]'),
    ('string(date and time("2024-01-05T10:00:00+01:00"))', "2024-01-05T10:00:00+01:00"),
    ('string(date and time("2024-01-05T10:00:00Z"))', "2024-01-05T10:00:00Z"),
    ('number("1,000.5", ",", ".")', 1000.5),
    ('number("1.000,5", ".", ",")', 1000.5),
    ('number("12")', 12),
    ('number("-1.5e3")', -1500),
    ('number("abc")', None),
    ('number("1,0", ",", ",")', None),
    ('number(from: "7")', 7),
    ("decimal(1/3, 2)", 0.33),
    ("decimal(2.5, 0)", 2),
    ("decimal(3.5, 0)", 4),
    ("floor(1.5)", 1),
    ("floor(-1.5)", -2),
    ("floor(-1.56, 1)", -1.6),
    ("ceiling(1.2)", 2),
    ("ceiling(-1.5)", -1),
    ("round up(5.5, 0)", 6),
    ("round up(-5.5, 0)", -6),
    ("round down(5.5, 0)", 5),
    ("round half up(5.5, 0)", 6),
    ("round half up(-5.5, 0)", -6),
    ("round half down(5.5, 0)", 5),
    ("round half up(1.125, 2)", 1.13),
    ("abs(-3)", 3),
    ("modulo(12, 5)", 2),
    ("modulo(-12, 5)", 3),
    ("modulo(12, -5)", -3),
    ("modulo(10.1, 4.5)", 1.1),
    ("modulo(1, 0)", None),
    ("sqrt(16)", 4),
    ("sqrt(-1)", None),
    ("log(10)", 2.302585092994046),
    ("log(0)", None),
    ("exp(1)", 2.718281828459045),
    ("exp(1000000000)", None),
    ("odd(5)", True),
    ("odd(-2)", False),
    ("even(0)", True),
    ("even(1.5)", None),
    ('odd("4")', None),
    # strings
    ('substring("foobar", 3)', "obar"),
    ('substring("foobar", 3, 3)', "oba"),
    ('substring("foobar", -2, 1)', "a"),
    ('substring("\U0001f600ab", 2)', "ab"),
    ('string length("foo")', 3),
    ('string length("\U0001f600")', 1),
    ('upper case("aBc4")', "ABC4"),
    ('lower case("aBc4")', "abc4"),
    ('substring before("foobar", "bar")', "foo"),
    ('substring before("foobar", "xyz")', ""),
    ('substring after("foobar", "ob")', "ar"),
    ('substring after("", "a")', ""),
    ('replace("abcd", "(ab)|(a)", "[1=$1][2=$2]")', "[1=ab][2=]cd"),
    ('replace("a.b.c", "\\.", "/")', "a/b/c"),
    ('replace("AbC", "b", "x", "i")', "AxC"),
    ('replace("a.b", ".", "-", "q")', "a-b"),
    ('replace("abc", "x*", "-")', None),
    ('contains("foobar", "ob")', True),
    ('contains("foobar", "x")', False),
    ('starts with("foobar", "fo")', True),
    ('ends with("foobar", "r")', True),
    ('matches("foobar", "^fo*b")', True),
    ('matches("FOO", "foo", "i")', True),
    ('matches("foo", "[")', None),
    ('split("John Doe", "\\s")', ["John", "Doe"]),
    ('split("a;b;;c", ";")', ["a", "b", "", "c"]),
    ('string join(["a", "b", "c"], ", ")', "a, b, c"),
    ('string join(["a", null, "c"])', "ac"),
    ('string join(["a", 1])', None),
    ('string join([], "x")', ""),
    ("upper case(1)", None),
    ("string length(null)", None),
    # lists
    ("list contains([1, 2, 3], 2)", True),
    ("list contains([1, null], null)", True),
    ('list contains([1, 2], "2")', False),
    ("count([1, 2, 3])", 3),
    ("count([])", 0),
    ("min([3, 1, 2])", 1),
    ("min(3, 1, 2)", 1),
    ("max([3, 1, 2])", 3),
    ('max(["a", "c", "b"])', "c"),
    ('max([1, "a"])', None),
    ("min([])", None),
    ("sum([1, 2, 3.5])", 6.5),
    ("sum(1, 2)", 3),
    ("sum([])", None),
    ('sum([1, "a"])', None),
    ("mean([1, 2, 3, 4])", 2.5),
    ("median([3, 1, 2])", 2),
    ("median([1, 2, 3, 4])", 2.5),
    ("median([])", None),
    ("stddev([2, 4, 7, 5])", 2.0816659994661326),
    ("stddev([1])", None),
    ("mode([6, 3, 9, 6, 6])", [6]),
    ("mode([6, 1, 9, 6, 1])", [1, 6]),
    ("mode([])", []),
    ("all([true, true])", True),
    ("all([true, false, null])", False),
    ("all([true, null])", None),
    ("all([])", True),
    ("any([false, true])", True),
    ("any([false, null])", None),
    ("any([])", False),
    ("sublist([1, 2, 3], 2)", [2, 3]),
    ("sublist([1, 2, 3], 1, 2)", [1, 2]),
    ("sublist([1, 2, 3], -1, 1)", [3]),
    ("append([1], 2, 3)", [1, 2, 3]),
    ("concatenate([1], [2, 3], [])", [1, 2, 3]),
    ("insert before([1, 3], 2, 2)", [1, 2, 3]),
    ("remove([1, 2, 3], 2)", [1, 3]),
    ("reverse([1, 2, 3])", [3, 2, 1]),
    ("index of([1, 2, 3, 2], 2)", [2, 4]),
    ("union([1, 2], [2, 3])", [1, 2, 3]),
    ("distinct values([1, 2, 1, 1.0, true, [1], [1]])", [1, 2, True, [1]]),
    ("flatten([[1, 2], [[3]], 4])", [1, 2, 3, 4]),
    ("product([2, 3, 4])", 24),
    ("product([])", None),
    ("sort([3, 1, 2])", [1, 2, 3]),
    ('sort(["b", "a"])', ["a", "b"]),
    ("list replace([1, 2, 3], 2, 9)", [1, 9, 3]),
    ("list replace([1, 2, 3], function(item, newItem) item > 1, 0)", [1, 0, 0]),
    ("is empty([])", True),
    # contexts
    ('get value({a: 1}, "a")', 1),
    ('get value({a: 1}, "b")', None),
    ("get entries({a: 1, b: 2})", [{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    ('context([{key: "a", value: 1}])', {"a": 1}),
    ('context put({a: 1}, "b", 2)', {"a": 1, "b": 2}),
    ('context put({a: {b: 1}}, ["a", "b"], 2)', {"a": {"b": 2}}),
    ("context merge([{a: 1}, {a: 2, b: 3}])", {"a": 2, "b": 3}),
    # booleans
    ("is(1, 1.0)", True),
    ('is(date("2024-01-01"), date and time("2024-01-01T00:00:00"))', False),
)
def test_builtins(source, expected):
    assert ev(source) == expected


def test_is_defined():
    assert ev("is defined(amount)") is True
    assert ev("is defined(nothing)") is True  # defined, value null
    assert ev("is defined(missing)") is False
    assert ev("is defined(order.id)") is True
    assert ev("is defined(order.nope)") is False


# ---------------------------------------------------------------- dates, times, durations


@cases(
    ('date("2024-02-29")', dt.date(2024, 2, 29)),
    ('date("2023-02-29")', None),
    ('date("2024-1-1")', None),
    ("date(2024, 1, 31)", dt.date(2024, 1, 31)),
    ("date(year: 2024, month: 1, day: 31)", dt.date(2024, 1, 31)),
    ('date(date and time("2024-01-31T10:00:00"))', dt.date(2024, 1, 31)),
    ('@"2024-01-31"', dt.date(2024, 1, 31)),
    ('time("13:45:20")', dt.time(13, 45, 20)),
    ('time("13:45:20.25")', dt.time(13, 45, 20, 250000)),
    ('time("25:00:00")', None),
    ("time(13, 45, 20)", dt.time(13, 45, 20)),
    ('time(13, 45, 20, duration("PT1H"))', dt.time(13, 45, 20, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
    ('@"13:45:20Z"', dt.time(13, 45, 20, tzinfo=dt.UTC)),
    ('date and time("2024-01-31T10:00:00")', dt.datetime(2024, 1, 31, 10)),
    ('date and time("2024-01-31")', dt.datetime(2024, 1, 31)),
    (
        'date and time("2024-01-31T10:00:00-05:00")',
        dt.datetime(2024, 1, 31, 10, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
    ),
    ('date and time(date("2024-01-31"), time("10:00:00"))', dt.datetime(2024, 1, 31, 10)),
    ('date and time("2024-13-31T10:00:00")', None),
    ('duration("P1DT2H3M4.5S")', dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
    ('duration("-PT90M")', -dt.timedelta(minutes=90)),
    ('duration("P1Y2M")', YearsMonthsDuration(14)),
    ('duration("P1Y2D")', None),
    ('duration("P")', None),
    ('duration("1D")', None),
    ('@"P2D"', dt.timedelta(days=2)),
    ('years and months duration(date("2020-01-15"), date("2021-03-14"))', YearsMonthsDuration(13)),
    ('years and months duration(date("2021-03-14"), date("2020-01-15"))', YearsMonthsDuration(-13)),
    # arithmetic
    ('date("2024-01-31") + duration("P1M")', dt.date(2024, 2, 29)),
    ('date("2024-01-31") + duration("P1Y")', dt.date(2025, 1, 31)),
    ('date("2024-03-31") - duration("P1M")', dt.date(2024, 2, 29)),
    ('date("2024-01-31") + duration("P1D")', dt.date(2024, 2, 1)),
    ('duration("P1D") + date("2024-01-31")', dt.date(2024, 2, 1)),
    ('date("2024-03-01") - date("2024-02-01")', dt.timedelta(days=29)),
    ('date and time("2024-01-01T10:00:00") + duration("PT36H")', dt.datetime(2024, 1, 2, 22)),
    ('date and time("2024-01-02T00:00:00") - date and time("2024-01-01T12:00:00")', dt.timedelta(hours=12)),
    ('date and time("2024-01-01T12:00:00Z") - date and time("2024-01-01T12:00:00+02:00")', dt.timedelta(hours=2)),
    ('date and time("2024-01-01T12:00:00Z") - date and time("2024-01-01T12:00:00")', None),
    ('time("23:00:00") + duration("PT2H")', dt.time(1, 0)),
    ('time("10:00:00") - time("08:30:00")', dt.timedelta(hours=1, minutes=30)),
    ('duration("P1D") + duration("PT12H")', dt.timedelta(days=1, hours=12)),
    ('duration("P1Y") + duration("P3M")', YearsMonthsDuration(15)),
    ('duration("P1Y") - duration("P3M")', YearsMonthsDuration(9)),
    ('duration("P1Y") + duration("P1D")', None),
    ('duration("PT1H") * 2.5', dt.timedelta(hours=2, minutes=30)),
    ('3 * duration("P1M")', YearsMonthsDuration(3)),
    ('duration("P1D") / 4', dt.timedelta(hours=6)),
    ('duration("P1D") / duration("PT6H")', 4),
    ('duration("P1Y") / duration("P1M")', 12),
    ('duration("P1D") / 0', None),
    ('-duration("P1D")', -dt.timedelta(days=1)),
    ('date("2024-01-01") + 1', None),
    ('date("2024-01-01") * 2', None),
    # date parts
    ('day of year(date("2024-12-31"))', 366),
    ('day of week(date("2024-01-01"))', "Monday"),
    ('month of year(date("2024-02-10"))', "February"),
    ('week of year(date("2021-01-03"))', 53),
    ('week of year(date("2024-12-30"))', 1),
    ('day + duration("P1M")', dt.date(2024, 2, 29)),
)
def test_temporal(source, expected):
    assert ev(source) == expected


def test_zone_ids_and_now():
    value = evaluate('date and time("2024-07-01T12:00:00@Europe/Berlin")')
    assert value.utcoffset() == dt.timedelta(hours=2)
    assert to_json(value) == "2024-07-01T12:00:00@Europe/Berlin"
    assert ev('date and time("2024-07-01T12:00:00@Nowhere/City")') is None
    assert isinstance(evaluate("now()"), dt.datetime)
    assert evaluate("today()") == dt.datetime.now(dt.UTC).date()
    assert ev('now() > date and time("2020-01-01T00:00:00Z")') is True


# ---------------------------------------------------------------- unary tests (DMN input entries)


@pytest.mark.parametrize(
    ("tests", "value", "expected"),
    [
        ("-", 5, True),
        ("-", None, True),
        ("", "anything", True),
        ('"gold"', "gold", True),
        ('"gold"', "silver", False),
        ('"gold"', None, False),
        ('"gold", "silver"', "silver", True),
        ('"gold","silver"', "bronze", False),
        ('not("gold")', "silver", True),
        ('not("gold", "silver")', "silver", False),
        ("5", 5, True),
        ("5", 5.0, True),
        ("5", 6, False),
        ("< 5", 4, True),
        ("< 5", 5, False),
        ("<= 5", 5, True),
        ("> 5", 5, False),
        (">= 10", 10, True),
        (">=18", 18, True),
        ("<18", 18, False),
        ("< 5", None, None),
        ("< 5", "a", None),
        ("[1..10]", 1, True),
        ("[1..10]", 10, True),
        ("]1..10]", 1, False),
        ("[1..10[", 10, False),
        ("(1..10)", 10, False),
        ("[1..10]", 11, False),
        ("[1..10], > 100", 101, True),
        ("not([1..10])", 5, False),
        ("not(< 5, > 10)", 7, True),
        ("not(< 5, > 10)", 11, False),
        ("not(null)", None, False),
        ("not(null)", 1, True),
        ("null", None, True),
        ("null", 0, False),
        ("true", True, True),
        ("true", False, False),
        ("false", False, True),
        ("true", None, False),
        ('date("2024-01-01")', dt.date(2024, 1, 1), True),
        ('>= date("2024-01-01")', dt.date(2024, 6, 1), True),
        ('[date("2024-01-01")..date("2024-12-31")]', dt.date(2025, 1, 1), False),
        ('> @"PT1H"', dt.timedelta(hours=2), True),
        ("? > 5 and ? < 10", 7, True),
        ("? > 5 and ? < 10", 10, False),
        ("count(?) > 2", [1, 2, 3], True),
        ("count(?) > 2", [1], False),
        ('starts with(?, "ab")', "abc", True),
        ("? = null", None, True),
        ("[1, 2, 3]", 2, True),
        ("[1, 2, 3]", 4, False),
        ("threshold", 7, True),
        ("< threshold", 6, True),
        ("[threshold..threshold + 2]", 9, True),
        ("threshold > 5", "unrelated input", True),  # boolean expression without '?'
        ("{gold: 1}.gold", 1, True),
        ("amount > 5", 7, True),
    ],
)
def test_unary_tests(tests, value, expected):
    assert unary_test(tests, value, {"threshold": 7, "amount": 10}) is expected


def test_unary_test_names_with_spaces_and_ten_rules():
    rules = ["< 100", "[100..500[", "[500..1000[", ">= 1000"]
    assert [unary_test(r, 750) for r in rules] == [False, False, True, False]
    assert unary_test("Customer Status", "gold", VARS) is True
    assert unary_test('not(Customer Status, "silver")', "bronze", VARS) is True


# ---------------------------------------------------------------- conversion helpers


def test_to_feel_and_to_python():
    assert to_feel({"a": [1, 2.5, True, None], "b": (1,)}) == {
        "a": [Decimal(1), Decimal("2.5"), True, None],
        "b": [Decimal(1)],
    }
    assert to_feel(0.1) == Decimal("0.1")
    assert to_feel(float("nan")) is None
    assert to_feel(True) is True
    assert to_feel(dt.date(2024, 1, 1)) == dt.date(2024, 1, 1)
    assert to_python(Decimal("2.0")) == 2 and isinstance(to_python(Decimal("2.0")), int)
    assert to_python(Decimal("2.5")) == 2.5
    assert to_python(evaluate('{d: date("2024-01-01"), p: duration("P1D")}')) == {
        "d": dt.date(2024, 1, 1),
        "p": dt.timedelta(days=1),
    }


def test_to_json():
    value = evaluate('{d: date("2024-01-01"), t: time("10:00:00"), p: duration("P1DT1H"), y: duration("P2Y"), n: 1.5}')
    assert to_json(value) == {"d": "2024-01-01", "t": "10:00:00", "p": "P1DT1H", "y": "P2Y", "n": 1.5}
    assert to_json(evaluate('date and time("2024-01-01T10:00:00Z")')) == "2024-01-01T10:00:00Z"
    assert to_json([Decimal(1), None, True, "x"]) == [1, None, True, "x"]


# ---------------------------------------------------------------- Camunda 8 style, API details


def test_leading_equals_sign_is_accepted():
    assert ev("=amount > 1000") is True
    assert ev("  = amount > 1000") is True
    check_expression("=order.orderId")
    assert evaluate("") is None
    assert evaluate("=") is None


def test_compiled_once_per_text():
    compile_feel.cache_clear()
    for _ in range(5):
        evaluate("amount + 1", VARS)
    info = compile_feel.cache_info()
    assert info.misses == 1 and info.hits == 4


def test_non_string_source():
    with pytest.raises(FeelError):
        evaluate(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("source", "line", "column", "hint"),
    [
        ("a == b", 1, 4, "single '='"),
        ("'text'", 1, 1, "double quotes"),
        ('"abc', 1, 1, "double quote"),
        ("a && b", 1, 3, "and"),
        ("a || b", 1, 3, "or"),
        ("10 % 3", 1, 4, "modulo"),
        ("!flag", 1, 1, "not(x)"),
        ("(1 + 2", 1, 6, "')'"),
        ("if x then y", 1, 11, "else"),
        ("1 +", 1, 3, ""),
        ("a b 1", 1, 5, "operator"),
        ("[1, 2", 1, 5, "']'"),
        ("f(1))", 1, 5, "closes nothing"),
        ("x instance of money", 1, 15, "known types"),
        ('@"2024-13-01"', 1, 2, '@"2024-01-31"'),
        ("{a: 1, a: 2}", 1, 1, "unique"),
        ("not x", 1, 1, "not(x)"),
        ("1 +\n  * 2", 2, 3, ""),
        ('"bad \\u12"', 1, 1, "hex"),
    ],
)
def test_syntax_errors_have_position_and_hint(source, line, column, hint):
    with pytest.raises(FeelSyntaxError) as info:
        check_expression(source)
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert hint in err.hint
    assert f"line {line}, column {column}" in str(err)


@pytest.mark.parametrize("source", ["< 5 >", "[1..]", '"a",', "not(", "-5 -", "<"])
def test_unary_test_syntax_errors(source):
    with pytest.raises(FeelSyntaxError):
        check_unary_tests(source)


@pytest.mark.parametrize(
    "source", ['"a", "b"', "-", "", "< 5, > 10", "not(1, 2)", "]1..2[", "? > 1", "[1..2], 5", "null", '@"P1D"']
)
def test_valid_unary_tests(source):
    check_unary_tests(source)


# ---------------------------------------------------------------- hostile input


def _quick(fn):
    """The evaluation stops with an error (a budget, a limit) instead of running on; how fast it stops is measured
    by `make bench`, not asserted here."""
    with pytest.raises(FeelError) as info:
        fn()
    return info.value


@pytest.mark.parametrize(
    "source",
    [
        "[" * 150 + "]" * 150,
        "f(" * 150 + ")" * 150,
        "{a: " * 150 + "1" + "}" * 150,
        "if true then " * 150 + "1" + " else 0" * 150,
        "x" * 30_000,
    ],
)
def test_deep_or_long_text_is_rejected_at_parse_time(source):
    err = _quick(lambda: check_expression(source))
    assert isinstance(err, FeelSyntaxError)


HOSTILE_VARS = {"long": "x" * 600_000, "mid": "x" * 400_000, "big": list(range(300_000))}


@pytest.mark.parametrize(
    "source",
    [
        "for x in 1..100000000 return x",
        "for x in [1..10000000] return x",
        "count(for a in 1..1000000, b in 1..1000000 return 1)",
        "{f: function(n) f(n + 1)}.f(1)",
        "{f: function(n) [f(n), f(n)]}.f(1)",
        'string join(for i in 1..200000 return "xxxxxxxxxx")',
        'replace("x", "' + "a" * 600 + '", "")',
        "long + long",
        'matches(long, "a")',
        "[" + ", ".join(["mid + mid"] * 40) + "]",  # each string is allowed, the total is not
        "for i in 1..1000 return upper case(mid)",
        "for i in 1..1000 return reverse(big)",
        "sort(big)",
    ],
)
def test_hostile_expressions_raise_quickly(source):
    _quick(lambda: evaluate(source, HOSTILE_VARS))


def test_distinct_values_of_many_lists():
    assert ev("count(distinct values(for i in 1..30000 return [i]))") == 30000
    assert ev("count(distinct values(for i in 1..30000 return [modulo(i, 10)]))") == 10
    assert ev("distinct values([[1], [1.0], {a: 1}, {a: 1}, [1..2], [1..2], null, null])") == [
        [1],
        {"a": 1},
        ev("[1..2]"),
        None,
    ]


def test_step_budget_is_enforced(monkeypatch):
    monkeypatch.setattr(feel_functions, "MAX_STEPS", 1000)
    assert len(evaluate("for x in 1..500 return x")) == 500
    with pytest.raises(FeelError, match="steps"):
        evaluate("for x in 1..2000 return x")
    with pytest.raises(FeelError, match="steps"):
        evaluate("sort(for x in 1..600 return x, function(a, b) a > b)")


def test_wide_flat_expressions_are_fine():
    assert evaluate("+".join(["1"] * 2000)) == 2000
    assert evaluate("[" + ",".join(["1"] * 3000) + "]") == [Decimal(1)] * 3000


def test_no_python_code_runs():
    with pytest.raises(FeelError, match="no function named"):
        evaluate('__import__("os")')
    with pytest.raises(FeelError):
        evaluate('__import__("os").system("echo hi")')
    assert ev("{}.__class__") is None
    assert ev('get value({}, "__class__")') is None
    assert ev("x.__class__", {"x": object()}) is None


def test_syntax_errors_are_cached_too():
    source = "1" + " +1" * 5000 + " +"
    with pytest.raises(FeelSyntaxError):
        check_expression(source)
    for _ in range(100):
        with pytest.raises(FeelSyntaxError):
            evaluate(source)


def test_camunda8_diagram_expressions():
    found = 0
    for path in sorted((CONFORMANCE / "camunda8").glob("*.bpmn")):
        for value in re.findall(r'="(=[^"]*)"', path.read_text(encoding="utf-8")):
            check_expression(value)
            found += 1
    if not found:
        pytest.skip("no Camunda 8 diagrams")
    assert ev("=order.totalSum", {"order": {"totalSum": 99.5}}) == 99.5


FUZZ_VALUES = [
    "null",
    "-1.5",
    '"ab"',
    "true",
    'date("2024-01-31")',
    'date and time("2024-01-31T10:00:00+02:00")',
    'duration("P1D")',
    'duration("P1Y")',
    "[1, null]",
    "{a: 1}",
    "[1..2]",
    "function(a, b) a < b",
]


@pytest.mark.parametrize("name", sorted(feel_functions.BUILTINS))
def test_every_builtin_with_any_argument_types_gives_a_value_or_feel_error(name):
    values = [evaluate(v) for v in FUZZ_VALUES]
    calls = ["fn()", "fn(a)", "fn(a, b)"]
    for arity, call in enumerate(calls):
        for args in itertools.product(values, repeat=arity):
            try:
                evaluate(call, {"fn": feel_functions.BUILTINS[name], **dict(zip("ab", args, strict=False))})
            except FeelError:
                pass


# ---------------------------------------------------------------- DMN 1.4 ranges and types (issue 17)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('2 in range("[1..3]")', True),
        ('range("(18..21]") = (18..21]', True),
        ('range(from: "[@\\"1970-01-01\\"..@\\"1970-01-02\\"]") instance of range<date>', True),
        ('range("[date(\\"1970-01-01\\")..date(\\"1970-01-02\\")]") = [date("1970-01-01")..date("1970-01-02")]', True),
        ('range("[3..1]")', None),  # descending
        ('range("[1..\\"b\\"]")', None),  # endpoints of different types
        ('range("[date(x)..date(\\"1970-01-02\\")]")', None),  # not a literal
        ('range(">= 10")', None),
        ("before(1, 10)", True),
        ("before(1, (1..10])", True),
        ("before([1..5], [5..10])", False),
        ("after([5..10], 1)", True),
        ("meets([1..5], [5..10])", True),
        ("met by([5..10], [1..5])", True),
        ("overlaps([1..5], [3..8])", True),
        ("overlaps before([1..5], [3..8])", True),
        ("overlaps after([3..8], [1..5])", True),
        ("finishes(10, [1..10])", True),
        ("finished by([1..10], [5..10])", True),
        ("includes([1..10], 5)", True),
        ("during(5, [1..10])", True),
        ("starts(1, [1..10])", True),
        ("started by([1..10], [1..5])", True),
        ("coincides([1..5], [1..5])", True),
        ("coincides(point1: 5, point2: 5)", True),
        ("meets(1, [1..5])", None),  # points have no meets
        ('{a: "x"} instance of context<a: string>', True),
        ("{a: null} instance of context<a: string>", True),
        ('{a: "x"} instance of context<a: number>', False),
        ('{b: "x"} instance of context<a: string>', False),
        ("(function(x) x) instance of function<Any> -> Any", True),
        ("(function(x, y) x) instance of function<Any> -> Any", False),
        ("1 instance of function<>->Any", False),
    ],
)
def test_range_functions_and_types(source, expected):
    assert evaluate(source, {"x": "1970-01-01"}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('@"2021-01-01T24:00:00"', dt.datetime(2021, 1, 2)),
        ('@"2021-01-02" - @"2021-01-01T10:10:10+11:00"', dt.timedelta(days=1, seconds=2990)),
        ('@"2021-01-02T00:00:00Z" - @"2021-01-02"', dt.timedelta(0)),
        ('@"2021-01-02" - @"2021-01-01T10:10:10"', None),  # a date is UTC; a local time has no zone
    ],
)
def test_end_of_day_and_dates_against_date_times(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('string(@"-2021-01-01T10:10:10+11:00" + @"P1M")', "-2021-02-01T10:10:10+11:00"),
        ('string(@"-2021-01-01T10:10:10@Australia/Melbourne" - @"P1D")', "-2022-12-31T10:10:10@Australia/Melbourne"),
        ('string(@"-2021-01-01" - @"P1Y")', "-2022-01-01"),
        ('string(@"9999-12-31" + @"P1D")', "10000-01-01"),
        ('string(@"10000-01-01" - @"P1D")', "9999-12-31"),
        ('string(@"0000-12-31" + @"P1D")', "0001-01-01"),  # astronomical years: 0 comes before 1
        ("string(date(-44, 3, 15))", "-0044-03-15"),
        ('@"10000-01-01".year', Decimal(10000)),
        ('@"-2021-01-01" < @"2021-01-01"', True),
        ('@"-2021-01-01" = date("-2021-01-01")', True),
        ('@"10000-01-01" - @"9999-12-31"', dt.timedelta(days=1)),
        ('years and months duration(@"2014-12-31", @"-2019-10-01")', YearsMonthsDuration(-(4033 * 12 + 2))),
        ('@"-0001-01-01".weekday = @"2399-01-01".weekday', True),  # 400 years: the same weekdays
    ],
)
def test_years_outside_1_to_9999(source, expected):
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("tests", "value", "expected"),
    [("=10", 10, True), ("= 10", 5, False), ("!=10", 5, True), ("<5, =7", 7, True), ("=[1, 2]", [1, 2], True)],
)
def test_unary_tests_with_equals_and_not_equals(tests, value, expected):
    assert unary_test(tests, value) is expected


def test_in_with_a_simple_unary_test():
    assert evaluate("10 in =10") is True
    assert evaluate("5 in !=4") is True
    assert evaluate("5 in (<3, =5)") is True
