"""Token pass between lark's lexer and parser.

* merges known names that contain keywords or punctuation into one NAME token (``date and time``, or a variable
  called ``Approved/Declined``), longest first;
* turns ``of`` after ``instance`` into OF;
* marks a ``[`` that closes an interval (``]1..5[``) as ICLOSE and a ``]`` that opens one as IOPEN;
* in unary tests, marks a ``not`` whose parentheses span the whole text as NEG (``not("a", "b")``).
"""

from __future__ import annotations

from collections.abc import Iterable

from lark import Token

# built-in names that contain a keyword and therefore cannot be parsed as plain words
KEYWORD_NAMES = ("years and months duration", "days and time duration", "date and time")

ENDS_OPERAND = frozenset(
    {"NUMBER", "STRING", "NAME", "QMARK", "RPAR", "RSQB", "RBRACE", "TRUE", "FALSE", "NULL", "ICLOSE"}
)
STARTS_OPERAND = frozenset(
    {
        "NUMBER",
        "STRING",
        "NAME",
        "QMARK",
        "LPAR",
        "LSQB",
        "LBRACE",
        "MINUS",
        "AT",
        "TRUE",
        "FALSE",
        "NULL",
        "IF",
        "FOR",
        "SOME",
        "EVERY",
        "FUNCTION",
        "LT",
        "LE",
        "GT",
        "GE",
    }
)
WORDLIKE = frozenset(
    {
        "NAME",
        "FOR",
        "RETURN",
        "IN",
        "IF",
        "THEN",
        "ELSE",
        "SATISFIES",
        "FUNCTION",
        "OR",
        "AND",
        "BETWEEN",
        "INSTANCE",
        "TRUE",
        "FALSE",
        "NULL",
        "SOME",
        "EVERY",
        "EXTERNAL",
    }
)


def _retype(token: Token, type_: str, value: str | None = None) -> Token:
    return Token(
        type_,
        token.value if value is None else value,
        token.start_pos,
        token.line,
        token.column,
        token.end_line,
        token.end_column,
        token.end_pos,
    )


def _merge_names(tokens: list[Token], text: str, known: tuple[str, ...]) -> list[Token]:
    ends = {t.end_pos: i for i, t in enumerate(tokens)}
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type in WORDLIKE:
            for name in known:
                end = tok.start_pos + len(name)
                j = ends.get(end)
                if j is None or j == i or not text.startswith(name, tok.start_pos):
                    continue
                if name in KEYWORD_NAMES and not _builtin_context(tokens, out, j):
                    continue
                last = tokens[j]
                out.append(
                    Token("NAME", name, tok.start_pos, tok.line, tok.column, last.end_line, last.end_column, end)
                )
                i = j + 1
                break
            else:
                out.append(tok)
                i += 1
        else:
            out.append(tok)
            i += 1
    return out


def _builtin_context(tokens: list[Token], out: list[Token], last: int) -> bool:
    """A built-in name with a keyword inside is only taken as a name before '(' or as a type after 'of'/'<'."""
    if last + 1 < len(tokens) and tokens[last + 1].type == "LPAR":
        return True
    return bool(out) and (out[-1].type in ("LT",) or (out[-1].type == "NAME" and out[-1].value == "of"))


def _matching_paren(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(tokens)):
        t = tokens[i].type
        if t == "LPAR":
            depth += 1
        elif t == "RPAR":
            depth -= 1
            if depth == 0:
                return i
    return -1


def postprocess(tokens: Iterable[Token], text: str, known: tuple[str, ...], tests: bool) -> list[Token]:
    """Rewrite the lexer's tokens as described in the module docstring. ``known`` is sorted longest first."""
    toks = list(tokens)
    if known:
        toks = _merge_names(toks, text, known)
    for i, tok in enumerate(toks):
        prev = toks[i - 1].type if i else None
        if tok.type == "NAME" and tok.value == "of" and prev == "INSTANCE":
            toks[i] = _retype(tok, "OF")
        elif tok.type == "LSQB" and prev in ENDS_OPERAND:
            nxt = toks[i + 1].type if i + 1 < len(toks) else None
            if nxt not in STARTS_OPERAND:
                toks[i] = _retype(tok, "ICLOSE")
        elif tok.type == "RSQB" and prev not in ENDS_OPERAND and prev != "LSQB":
            toks[i] = _retype(tok, "IOPEN")
    if (
        tests
        and len(toks) >= 3
        and toks[0].type == "NAME"
        and toks[0].value == "not"
        and toks[1].type == "LPAR"
        and _matching_paren(toks, 1) == len(toks) - 1
    ):
        toks[0] = _retype(toks[0], "NEG")
    return toks
