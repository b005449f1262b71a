"""Built-ins: string functions, including the XPath-style regular expression functions.

Regular expressions run on RE2 (google-re2), whose matching time is linear in the input, so no pattern can stall
an evaluation: patterns are translated from XSD/XPath syntax (`translate`), at most 500 characters, inputs at most
100,000 characters. What RE2 cannot run (back-references, lookaround, class subtraction) raises FeelError, and
deploy refuses such literal patterns naming the element.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import re2

from .errors import FeelError, NullResult
from .functions import builtin, check_list, check_str, need_list, need_num, need_str
from .values import MAX_STRING

MAX_PATTERN = 500
MAX_REGEX_INPUT = 100_000


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

# What each regex function's pattern and flags arguments are (by position and by name): deploy checks literals.
REGEX_ARGUMENTS = {
    "matches": ((1, "pattern"), (2, "flags")),
    "replace": ((1, "pattern"), (3, "flags")),
    "split": ((1, "delimiter"), (None, None)),
}


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is our FeelError, not a line on stderr
    options.max_mem = 8 << 20
    return options


_OPTIONS = _options()


def translate(pattern: str, flags: str = "") -> str:
    """An XSD/XPath regular expression (as FEEL's `matches`, `replace` and `split` take) in RE2's syntax.

    RE2 runs in linear time, so no pattern can stall an evaluation. What RE2 cannot run, or would run with
    another meaning, is refused with FeelError: back-references, lookaround, XSD character class subtraction
    (`[a-z-[aeiou]]`) and the XML name escapes `\\i`, `\\c`."""
    if len(pattern) > MAX_PATTERN:
        raise FeelError(f"regular expression longer than {MAX_PATTERN} characters")
    if any(f not in "smixq" for f in flags):
        raise FeelError(f"unknown regular expression flags {flags!r} (use s, m, i, x, q)")
    if "q" in flags:
        body = re.escape(pattern)
    else:
        body = _xsd_to_re2(pattern, "x" in flags)
    inline = "".join(f for f in "smi" if f in flags)
    return f"(?{inline}){body}" if inline else body


def _xsd_to_re2(pattern: str, extended: bool) -> str:
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt.isdigit() and nxt != "0":
                raise FeelError("back-references (\\1) are not supported in regular expressions (RE2, linear time)")
            if nxt in ("i", "I", "c", "C"):
                raise FeelError(f"the XML name escape \\{nxt} is not supported in regular expressions")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "-" and i + 1 < n and pattern[i + 1] == "[":
                raise FeelError("character class subtraction ([a-z-[aeiou]]) is not supported in regular expressions")
            if c == "]":
                in_class = False
            elif c == "[":
                out.append("\\")
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "(" and pattern[i + 1 : i + 2] == "?":
            rest = pattern[i + 2 : i + 4]
            if rest[:1] in ("=", "!") or rest in ("<=", "<!"):
                raise FeelError("lookahead and lookbehind are not supported in regular expressions (RE2)")
        if extended and c in " \t\n\r":
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def _compile(pattern: str, flags: str) -> re2._Regexp:
    try:
        return re2.compile(translate(pattern, flags), _OPTIONS)
    except re2.error:
        raise NullResult from None


def check_pattern(pattern: str, flags: str = "") -> None:
    """Raise FeelError if RE2 cannot run the pattern (what deploy checks for literal patterns). A pattern that is
    merely invalid gives null when evaluated, as FEEL says."""
    translate(pattern, flags)


def _regex(pattern: Any, flags: Any) -> re2._Regexp:
    flags = "" if flags is None else need_str(flags)
    if any(f not in "smixq" for f in flags):
        raise NullResult
    return _compile(need_str(pattern), flags)


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

    def expand(m: Any) -> str:
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
