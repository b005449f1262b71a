"""Built-ins: string functions, including the XPath-style regular expression functions.

Regular expressions run on Python's ``re`` (no timeout), so patterns are screened first: at most 500 characters,
no quantified group that itself contains a quantifier or an alternation (``(a+)+``, ``(a|aa)*``: the shapes
that backtrack exponentially), inputs of at most 100,000 characters. Rejected patterns raise FeelError.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from .errors import FeelError, NullResult
from .functions import builtin, check_list, check_str, need_list, need_num, need_str
from .values import MAX_STRING

MAX_PATTERN = 500
MAX_REGEX_INPUT = 100_000
_FLAGS = {"s": re.S, "m": re.M, "i": re.I, "x": re.X}


def _position(value: Any) -> int:
    number = need_num(value)
    if abs(number) > 10**9:
        raise NullResult
    return int(number.to_integral_value(rounding=ROUND_HALF_UP))


@builtin("substring", "string", "start position", "length?")
def substring(string: Any, start: Any, length: Any) -> str:
    s = need_str(string)
    first = _position(start)
    if first == 0:
        raise NullResult
    begin = first - 1 if first > 0 else max(len(s) + first, 0)
    if length is None:
        return s[begin:]
    count = _position(length)
    if count < 0:
        raise NullResult
    return s[begin : begin + count]


@builtin("string length", "string")
def string_length(string: Any) -> Decimal:
    return Decimal(len(need_str(string)))


@builtin("upper case", "string")
def upper_case(string: Any) -> str:
    return check_str(need_str(string).upper())


@builtin("lower case", "string")
def lower_case(string: Any) -> str:
    return check_str(need_str(string).lower())


@builtin("substring before", "string", "match")
def substring_before(string: Any, match: Any) -> str:
    s, m = need_str(string), need_str(match)
    i = s.find(m)
    return "" if i < 0 else s[:i]


@builtin("substring after", "string", "match")
def substring_after(string: Any, match: Any) -> str:
    s, m = need_str(string), need_str(match)
    i = s.find(m)
    return "" if i < 0 else s[i + len(m) :]


@builtin("contains", "string", "match")
def contains(string: Any, match: Any) -> bool:
    return need_str(match) in need_str(string)


@builtin("starts with", "string", "match")
def starts_with(string: Any, match: Any) -> bool:
    return need_str(string).startswith(need_str(match))


@builtin("ends with", "string", "match")
def ends_with(string: Any, match: Any) -> bool:
    return need_str(string).endswith(need_str(match))


@builtin("string join", "list", "delimiter?")
def string_join(items: Any, delimiter: Any) -> str:
    sep = "" if delimiter is None else need_str(delimiter)
    parts = []
    total = 0
    for item in need_list(items):
        if item is None:
            continue
        parts.append(need_str(item))
        total += len(item) + len(sep)
        if total > MAX_STRING + len(sep):
            raise FeelError(f"string longer than {MAX_STRING} characters")
    return sep.join(parts)


@builtin("trim", "string")
def trim(string: Any) -> str:
    return need_str(string).strip()


# ---------------------------------------------------------------- regular expressions


def screen_pattern(pattern: str) -> None:
    """Reject patterns that can backtrack exponentially on Python's re (see module docstring)."""
    if len(pattern) > MAX_PATTERN:
        raise FeelError(f"regular expression longer than {MAX_PATTERN} characters")
    groups: list[dict[str, bool]] = [{"quant": False, "alt": False}]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            if i - 1 < n and pattern[i - 1] in "123456789":
                raise FeelError("back-references are not supported in regular expressions")
            continue
        if c == "[":  # character class: skip to its end
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            groups.append({"quant": False, "alt": False})
            i += 1
            if i < n and pattern[i] == "?":
                i += 1
                while i < n and pattern[i] in "P<>=!:aiLmsux-":
                    i += 1
                    if pattern[i - 1] in ":=!>":
                        break
            continue
        if c == ")":
            inner = groups.pop() if len(groups) > 1 else {"quant": False, "alt": False}
            i += 1
            if i < n and pattern[i] in "*+{":
                if inner["quant"] or inner["alt"]:
                    raise FeelError(
                        "regular expression has a repeated group containing a repetition or '|' "
                        "(like (a+)+); rewrite it without nesting"
                    )
                groups[-1]["quant"] = True
            if inner["quant"]:
                groups[-1]["quant"] = True
            continue
        if c == "|":
            groups[-1]["alt"] = True
        elif c in "*+{":
            groups[-1]["quant"] = True
        i += 1


@lru_cache(maxsize=256)
def _compile(pattern: str, flags: str) -> re.Pattern:
    if any(f not in "smixq" for f in flags):
        raise NullResult
    if "q" in flags:
        pattern = re.escape(pattern)
    else:
        screen_pattern(pattern)
    value = 0
    for f in flags:
        value |= _FLAGS.get(f, 0)
    try:
        return re.compile(pattern, value)
    except re.error:
        raise NullResult from None


def _regex(pattern: Any, flags: Any) -> re.Pattern:
    return _compile(need_str(pattern), "" if flags is None else need_str(flags))


def _input(value: Any) -> str:
    s = need_str(value)
    if len(s) > MAX_REGEX_INPUT:
        raise FeelError(f"regular expression input longer than {MAX_REGEX_INPUT} characters")
    return s


@builtin("matches", "input", "pattern", "flags?")
def matches(input: Any, pattern: Any, flags: Any) -> bool:
    return _regex(pattern, flags).search(_input(input)) is not None


def _replacement(template: str):
    """XPath replacement: $N is group N, \\$ and \\\\ are literal."""
    parts: list[str | int] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template) and template[i + 1] in "$\\":
            parts.append(template[i + 1])
            i += 2
        elif c == "$":
            j = i + 1
            while j < len(template) and template[j].isdigit():
                j += 1
            if j == i + 1:
                raise NullResult
            parts.append(int(template[i + 1 : j]))
            i = j
        elif c == "\\":
            raise NullResult
        else:
            parts.append(c)
            i += 1

    def expand(m: re.Match) -> str:
        return "".join(p if isinstance(p, str) else (m.group(p) or "" if p <= len(m.groups()) else "") for p in parts)

    return expand


@builtin("replace", "input", "pattern", "replacement", "flags?")
def replace(input: Any, pattern: Any, replacement: Any, flags: Any) -> str:
    regex = _regex(pattern, flags)
    if regex.fullmatch(""):
        raise NullResult  # a pattern that matches the empty string is an error in XPath
    return check_str(regex.sub(_replacement(need_str(replacement)), _input(input)))


@builtin("split", "string", "delimiter")
def split(string: Any, delimiter: Any) -> list:
    regex = _regex(delimiter, None)
    s = _input(string)
    if regex.fullmatch(""):
        raise NullResult
    out, start = [], 0
    for m in regex.finditer(s):
        out.append(s[start : m.start()])
        start = m.end()
    out.append(s[start:])
    return check_list(out)


@builtin("extract", "string", "pattern")
def extract(string: Any, pattern: Any) -> list:
    return check_list([m.group(0) for m in _regex(pattern, None).finditer(_input(string))])
