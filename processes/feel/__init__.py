"""FEEL (Friendly Enough Expression Language, DMN 1.3/1.4, Camunda 8) for orderflow.

    evaluate("amount > 1000", {"amount": 1500})        -> True
    unary_test('"gold", "silver"', "gold")              -> True     (a DMN input entry)
    to_python(evaluate("sum([1, 2.5])"))                -> 3.5

Text is parsed by a lark LALR grammar (``grammar.py``), compiled to Python closures once per text (LRU cache,
syntax errors included) and evaluated without eval/exec. Work is bounded: 20,000 characters of text, 100 levels
of nesting, 1,000,000 steps and 10,000,000 built characters/elements per evaluation, lists of at most 1,000,000
elements, strings of at most 1,000,000 characters, screened regular expressions. Hostile input raises FeelError.

Values: number = Decimal (34 digits, half-even), string, boolean, null = None, date/time/date and time =
datetime objects, days-time duration = timedelta, years-months duration = YearsMonthsDuration, list, context =
dict, range = Range, function. ``to_feel``/``to_python``/``to_json`` convert from/to plain Python.

Not supported: external (Java/PMML) functions (calling one raises FeelError); the range (Allen) functions
before/after/meets/overlaps/...; ``context<...>``/``function<...>`` type tests (``list<T>`` works); years outside
1..9999 and sub-microsecond precision (Python datetime); names containing keywords or punctuation unless they
are keys of the variables passed in (or built-in names); XPath-only regex syntax (``\\p{IsBasicLatin}``).
"""

from .api import check_expression, check_unary_tests, compile_feel, evaluate, unary_test
from .errors import FeelError, FeelSyntaxError
from .values import Range, YearsMonthsDuration, to_feel, to_json, to_python

__all__ = [
    "FeelError",
    "FeelSyntaxError",
    "Range",
    "YearsMonthsDuration",
    "check_expression",
    "check_unary_tests",
    "compile_feel",
    "evaluate",
    "to_feel",
    "to_json",
    "to_python",
    "unary_test",
]
