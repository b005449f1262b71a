"""Rules of a UNIQUE decision table (hit policy U, the default) that can match the same input, found before
anything is evaluated: such a table deploys, and then fails on exactly the orders both rules match.

Each input entry is read as a set of values when it is simple enough to be sure of: `-` (anything), literals
(`"gold"`, `5`, `true`, `null`), comparisons (`< 100`, `>= 5`), ranges (`[1..10]`, `]0..5[`, `(0..5)`) and lists of
these (`"DE","AT"`). Two rules overlap when, in every column, their entries share a value:

- sure of every column: an **error**. The deployment is refused, because evaluating the table for such an input
  fails; the message gives an input both rules match.
- one column or more that orderflow cannot read this way (a function call, a variable, `not(...)`, a date), and no
  column that keeps them apart: a **warning** that they *may* overlap. Unsure is never an error."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import combinations

from lxml import etree

from processes.errors import Problem

from .parser import LoadedFile

# Pairs reported per table at most: one wrong column can make every pair of rules overlap.
MAX_PAIRS = 20
_NUMBER = r"-?\d+(?:\.\d+)?"
_COMPARISON = re.compile(rf"^(<=|>=|<|>)\s*({_NUMBER})$")
_RANGE = re.compile(rf"^([\[\(\]])\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*([\]\)\[])$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')


@dataclass(frozen=True)
class Values:
    """A set of values: exact ones (strings, booleans, null) and number intervals."""

    exact: frozenset = frozenset()
    intervals: tuple[tuple[float, bool, float, bool], ...] = ()  # (low, low included, high, high included)


ANYTHING = None  # `-`: every value


def read_entry(text: str) -> Values | None | str:
    """The set an input entry matches: ANYTHING (None), a Values, or "unknown" when it is not a simple entry."""
    text = text.strip()
    if text in ("", "-"):
        return ANYTHING
    exact, intervals = set(), []
    for item in _split(text):
        read = _item(item.strip())
        if read is None:
            return "unknown"
        if len(read) == 4:
            intervals.append(read)
        else:
            exact.add(read[0])
    return Values(frozenset(exact), tuple(intervals))


def _split(text: str) -> list[str]:
    """Split at the commas that are not inside quotes or brackets."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "[(":
            depth += 1
        elif not quoted and char in "])":
            depth -= 1
        elif not quoted and depth <= 0 and char == ",":
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _item(item: str):
    """(value,) for an exact value, (low, low in, high, high in) for numbers, None when not simple."""
    if match := _STRING.match(item):
        return (("string", match.group(1)),)
    if item in ("true", "false"):
        return (("boolean", item == "true"),)
    if item == "null":
        return (("null", None),)
    if re.fullmatch(_NUMBER, item):
        return (float(item), True, float(item), True)
    if match := _COMPARISON.match(item):
        operator, number = match.group(1), float(match.group(2))
        if operator.startswith("<"):
            return (-math.inf, False, number, operator == "<=")
        return (number, operator == ">=", math.inf, False)
    if match := _RANGE.match(item):
        opening, low, high, closing = match.groups()
        return (float(low), opening == "[", float(high), closing == "]")
    return None


def _common(a: Values | None, b: Values | None) -> str | None:
    """A value both sets hold, written as FEEL ("-" when both take anything), or None when they share none."""
    if a is ANYTHING and b is ANYTHING:
        return "-"
    if a is ANYTHING or b is ANYTHING:
        return _example(b if a is ANYTHING else a)
    for value in sorted(a.exact & b.exact, key=repr):
        return _feel(value)
    for x in a.intervals:
        for y in b.intervals:
            if (found := _meet(x, y)) is not None:
                return found
    return None


def _example(values: Values) -> str:
    if values.exact:
        return _feel(sorted(values.exact, key=repr)[0])
    low, low_in, high, high_in = values.intervals[0]
    return _number(_inside(low, low_in, high, high_in))


def _meet(x, y) -> str | None:
    low, low_in = max((x[0], x[1]), (y[0], y[1]), key=lambda bound: (bound[0], not bound[1]))
    high, high_in = min((x[2], x[3]), (y[2], y[3]), key=lambda bound: (bound[0], bound[1]))
    if low > high or (low == high and not (low_in and high_in)):
        return None
    return _number(_inside(low, low_in, high, high_in))


def _inside(low: float, low_in: bool, high: float, high_in: bool) -> float:
    if low_in and low != -math.inf:
        return low
    if high_in and high != math.inf:
        return high
    if low == -math.inf:
        return high - 1 if high != math.inf else 0
    if high == math.inf:
        return low + 1
    return (low + high) / 2


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _feel(value: tuple) -> str:
    kind, raw = value
    if kind == "string":
        return f'"{raw}"'
    if kind == "boolean":
        return "true" if raw else "false"
    return "null"


def overlap_problems(loaded: LoadedFile) -> list[Problem]:
    """An error per pair of rules of a UNIQUE table that surely overlap, a warning per pair that may."""
    namespace = etree.QName(loaded.root).namespace
    problems: list[Problem] = []
    for table in loaded.root.iter(f"{{{namespace}}}decisionTable"):
        policy = " ".join((table.get("hitPolicy") or "UNIQUE").split()).upper()
        if policy != "UNIQUE":
            continue
        inputs = [_input_label(i, n) for n, i in enumerate(table.findall(f"{{{namespace}}}input"), 1)]
        rules = []
        for row, rule in enumerate(table.findall(f"{{{namespace}}}rule"), 1):
            entries = rule.findall(f"{{{namespace}}}inputEntry")
            rules.append((row, rule, [_entry(e, namespace) for e in entries]))
        if any(len(entries) != len(inputs) for _, _, entries in rules):
            continue  # the reader reports the table's shape
        pairs = 0
        for (row_a, rule_a, a), (_, rule_b, b) in combinations(rules, 2):
            found = _overlap(a, b, inputs)
            if found is None:
                continue
            problems.append(_problem(loaded, rule_b, row_a, rule_a, *found))
            pairs += 1
            if pairs >= MAX_PAIRS:
                break
    return problems


def _input_label(element: etree._Element, number: int) -> str:
    expression = element.find("{*}inputExpression")
    text = "".join(expression.itertext()).strip() if expression is not None else ""
    return element.get("label") or text or f"input {number}"


def _entry(entry: etree._Element, namespace: str):
    language = (entry.get("expressionLanguage") or "feel").lower()
    if "feel" not in language:
        return "unknown"
    text = entry.find(f"{{{namespace}}}text")
    return read_entry("".join(text.itertext()) if text is not None else "")


def _overlap(a: list, b: list, inputs: list[str]) -> tuple[list[str], list[str]] | None:
    """(what an input both rules match has in the columns orderflow can read, the columns it cannot read) when
    rules a and b can match one input; None when some column keeps them apart."""
    example, unread = [], []
    for label, x, y in zip(inputs, a, b, strict=True):
        if x == "unknown" or y == "unknown":
            unread.append(label)
            continue
        common = _common(x, y)
        if common is None:
            return None
        if common != "-":
            example.append(f"{label} is {common}")
    return example, unread


def _problem(
    loaded: LoadedFile,
    rule: etree._Element,
    other_row: int,
    other: etree._Element,
    example: list[str],
    unread: list[str],
) -> Problem:
    other_name = f"rule {other_row} [{other.get('id')}]" if other.get("id") else f"rule {other_row}"
    where = "an input where " + " and ".join(example) if example else "any input"
    if not unread:
        message = (
            f"it overlaps {other_name}: both match {where}, and hit policy UNIQUE lets only one rule match, so "
            "evaluating the table for such an input fails: narrow one of the two rules so they never match the same "
            "input, or choose another hit policy (FIRST takes the first rule that matches, COLLECT takes all)"
        )
    else:
        columns = ", ".join(f"'{label}'" for label in unread)
        rest = f"both match an input where {' and '.join(example)}" if example else "nothing else keeps them apart"
        message = (
            f"it may overlap {other_name}: orderflow cannot compare their entries for {columns}, and otherwise "
            f"{rest}; under hit policy UNIQUE an input both match fails the evaluation: make sure they never match "
            "the same input, or choose another hit policy (FIRST takes the first rule that matches)"
        )
    return Problem(
        message=message,
        element_id=rule.get("id"),
        file=loaded.name,
        line=rule.sourceline,
        severity="warning" if unread else "error",
    )
