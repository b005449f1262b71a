"""Text -> syntax tree: lark lexer, token pass, lark LALR parser with an inline transformer; errors with hints."""

from __future__ import annotations

import threading
from decimal import Decimal

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import nodes as n
from .errors import FeelSyntaxError
from .grammar import build_parser
from .lexing import postprocess
from .temporal import parse_temporal

MAX_SOURCE = 20_000

TYPE_NAMES = n.TYPE_NAMES


class Ident(str):
    """A name, remembering where it was written."""

    __slots__ = ("line", "column")


def _error(message: str, token: Token, hint: str = "") -> FeelSyntaxError:
    return FeelSyntaxError(message, line=token.line or 1, column=token.column or 1, hint=hint)


def unescape(raw: str, token: Token) -> str:
    """The value of a FEEL string literal (without its quotes)."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\"}
    while i < len(raw):
        c = raw[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = raw[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in "uU":
            width = 4 if e == "u" else 6
            digits = raw[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _error(f"bad escape \\{e}{digits}", token, f"write \\{e} followed by {width} hex digits")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _error(f"bad escape \\{e}{digits}", token, "not a Unicode code point")
            out.append(chr(code))
            i += 2 + width
        else:
            out.append(c + e)
            i += 2
    text = "".join(out)
    try:  # join UTF-16 surrogate pairs written as two \u escapes
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise _error(
            "bad escape: unpaired surrogate", token, "write the character itself or \\U with 6 digits"
        ) from None


class ToAst(Transformer):
    """Builds ``nodes`` from parse-tree rules while lark parses (no recursion, depth checked per node)."""

    # -- unary tests
    def start_expr(self, c):
        return c[0]

    def start_tests(self, c):
        return c[0]

    def any_test(self, c):
        return n.UnaryTests(None, negated=False)

    def negated_tests(self, c):
        return n.UnaryTests(c[1], negated=True)

    def unary_tests(self, c):
        return n.UnaryTests(c[0], negated=False)

    def positive_unary_tests(self, c):
        return [x if isinstance(x, n.UnaryCompare) else n.UnaryExpr(x) for x in c]

    def simple_put(self, c):
        return n.UnaryCompare(c[0].value, c[1])

    def in_rhs(self, c):
        x = c[0]
        if isinstance(x, list):
            return x
        return [x if isinstance(x, n.UnaryCompare) else n.UnaryExpr(x)]

    def in_list(self, c):
        return [x if isinstance(x, n.UnaryCompare) else n.UnaryExpr(x) for x in c]

    def unary_range(self, c):
        """``(< 10)``, ``(>= 10)``, ``(= 10)`` as range values (DMN 1.4, 10.3.2.7): the open side is null."""
        op, endpoint = c[0].op, c[0].endpoint
        if op == "!=":
            raise FeelSyntaxError("(!= x) is not a range", hint="write not(x) in a unary test, or x != y")
        if op == "=":
            return n.Interval(True, endpoint, endpoint, True)
        if op in ("<", "<="):
            return n.Interval(False, n.Lit(None), endpoint, op == "<=")
        return n.Interval(op == ">=", endpoint, n.Lit(None), False)

    # -- expressions
    def for_expr(self, c):
        return n.For(c[:-1], c[-1])

    def iteration(self, c):
        return (c[0], c[1], c[3])

    def if_expr(self, c):
        return n.If(*c)

    def quantified(self, c):
        return n.Quantified(c[0].type == "EVERY", c[1:-1], c[-1])

    def q_iteration(self, c):
        return (c[0], c[1])

    def function_def(self, c):
        params = [p for p in c[:-1] if isinstance(p, tuple)]
        names = [p[0] for p in params]
        dupes = {x for x in names if names.count(x) > 1}
        if dupes:
            raise FeelSyntaxError(f"parameter {sorted(dupes)[0]!r} is declared twice", hint="rename one of them")
        external = any(isinstance(p, Token) and p.type == "EXTERNAL" for p in c[:-1])
        return n.FunctionDef(names, c[-1], external, [p[1] for p in params])

    def param(self, c):
        return (c[0], c[1])

    def disjunction(self, c):
        return n.Logic("or", c)

    def conjunction(self, c):
        return n.Logic("and", c)

    def compare(self, c):
        return n.Compare(c[1].value, c[0], c[2])

    def between(self, c):
        return n.Between(*c)

    def in_test(self, c):
        return n.In(c[0], c[1])

    def instance_of(self, c):
        return n.InstanceOf(c[0], c[2])

    def _chain(self, c):
        return n.Chain(c[0], [(c[i].value, c[i + 1]) for i in range(1, len(c), 2)])

    additive = multiplicative = power = _chain

    def negation(self, c):
        x = c[1]
        if isinstance(x, n.Lit) and type(x.value) is Decimal:
            return n.Lit(-x.value)
        return n.Neg(x)

    def path(self, c):
        return n.Path(c[0], c[1])

    def filter(self, c):
        return n.Filter(c[0], c[2])

    def call(self, c):
        args = c[1]
        if args is None:
            return n.Call(c[0], [], None)
        kind, values, names = args
        return n.Call(c[0], values, names if kind == "named" else None)

    def positional_args(self, c):
        return ("positional", c, None)

    def named_args(self, c):
        names = [name for name, _ in c]
        if len(set(names)) != len(names):
            raise FeelSyntaxError("the same parameter is named twice in a call", hint="name each parameter once")
        return ("named", [value for _, value in c], names)

    def named_arg(self, c):
        return (str(c[0]), c[1])

    def var(self, c):
        return n.Name(str(c[0]))

    def input_value(self, c):
        return n.Name("?")

    def list_literal(self, c):
        return n.ListLit([x for x in c if x is not None])

    def context_literal(self, c):
        entries = [x for x in c if x is not None]
        seen: set[str] = set()
        for key, _ in entries:
            if key in seen:
                raise FeelSyntaxError(f"context key {key!r} appears twice", hint="each key of a context must be unique")
            seen.add(key)
        return n.ContextLit(entries)

    def entry(self, c):
        key = c[0]
        if isinstance(key, Token) and key.type == "STRING":
            key = unescape(key.value[1:-1], key)
        return (str(key), c[1])

    def interval(self, c):
        return n.Interval(c[0].value == "[", c[1], c[3], c[4].value == "]")

    def number(self, c):
        return n.Lit(Decimal(c[0].value))

    def string(self, c):
        return n.Lit(unescape(c[0].value[1:-1], c[0]))

    def true(self, c):
        return n.Lit(True)

    def false(self, c):
        return n.Lit(False)

    def null(self, c):
        return n.Lit(None)

    def temporal(self, c):
        tok = c[0]
        text = unescape(tok.value[1:-1], tok)
        value = parse_temporal(text)
        if value is None:
            raise _error(
                f"@{tok.value} is not a valid date, time, date and time or duration",
                tok,
                'write e.g. @"2024-01-31", @"13:45:00", @"2024-01-31T13:45:00Z", @"P1DT2H" or @"P1Y2M"',
            )
        return n.Lit(value)

    def type(self, c):
        name = c[0]  # names that are not FEEL types: see nodes.custom_types
        return n.TypeRef(str(name), [x for x in c[1:] if x is not None], at=(name.line, name.column))

    def function_type(self, c):
        types = [x for x in c if isinstance(x, n.TypeRef)]
        if types:
            types[-1].field = "->"
        return n.TypeRef("function", types)

    def context_type(self, c):
        name = c[0]
        if str(name) != "context":
            raise FeelSyntaxError(
                f"{str(name)!r} takes no named fields", line=name.line, column=name.column, hint="write context<a: T>"
            )
        return n.TypeRef("context", [x for x in c[1:] if isinstance(x, n.TypeRef)])

    def context_field(self, c):
        type_ = c[1]
        type_.field = str(c[0])
        return type_

    def name(self, c):
        words = [t.value for t in c]
        if len(words) > 1 and words[0] == "not":
            raise _error(f"'{' '.join(words)}' is not valid", c[0], "to negate, write not(x)")
        ident = Ident(" ".join(words))
        ident.line, ident.column = c[0].line, c[0].column
        return ident


_lock = threading.Lock()
_parser: Lark | None = None


def get_parser() -> Lark:
    global _parser
    if _parser is None:
        with _lock:
            if _parser is None:
                _parser = build_parser(transformer=ToAst())
    return _parser


def parse(source: str, tests: bool, known: tuple[str, ...]) -> n.Node | None:
    """Parse an expression (tests=False) or unary tests; None for empty text. Raises FeelSyntaxError."""
    if len(source) > MAX_SOURCE:
        raise FeelSyntaxError(f"text is {len(source)} characters long", hint=f"FEEL text is limited to {MAX_SOURCE}")
    parser = get_parser()
    try:
        tokens = postprocess(parser.lex(source), source, known, tests)
    except UnexpectedCharacters as exc:
        raise _lex_error(exc, source) from None
    if not tokens:
        return None
    interactive = parser.parse_interactive(start="start_tests" if tests else "start_expr")
    previous: Token | None = None
    token = tokens[0]
    try:
        for token in tokens:
            interactive.feed_token(token)
            previous = token
        return interactive.feed_eof(previous)
    except UnexpectedToken as exc:
        raise _parse_error(exc, source, previous, tokens) from None
    except n.TooDeep:
        raise _error(
            f"the expression is nested more than {n.MAX_DEPTH} levels deep",
            token,
            "split it into smaller expressions",
        ) from None
    except FeelSyntaxError:
        raise
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors
        raise FeelSyntaxError(str(exc)) from None


# ---------------------------------------------------------------- messages

_READABLE = {
    "$END": "end of text",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "DOT": "'.'",
    "DOTDOT": "'..'",
    "ICLOSE": "'['",
    "IOPEN": "']'",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "QMARK": "'?'",
    "NEG": "not",
    "OF": "of",
    "AT": "'@'",
}
_OPERATORS = {"POW": "**", "STAR": "*", "SLASH": "/", "PLUS": "+", "MINUS": "-"}
_OPERATORS |= {"EQ": "=", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}


def _readable(terminal: str) -> str:
    if terminal in _READABLE:
        return _READABLE[terminal]
    if terminal in _OPERATORS:
        return f"'{_OPERATORS[terminal]}'"
    return terminal.lower()


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of text"
    return repr(str(token.value))


def _lex_error(exc: UnexpectedCharacters, source: str) -> FeelSyntaxError:
    char = exc.char
    rest = source[exc.pos_in_stream : exc.pos_in_stream + 2]
    hints = {
        "'": 'strings are written in double quotes: "text"',
        "&": "write 'and' instead of '&&'",
        "|": "write 'or' instead of '||'",
        "%": "FEEL has no '%' operator; use modulo(a, b)",
        "!": "write not(x) to negate; '!=' means not equal",
        "#": "'#' does not start a comment in FEEL; use // or /* */",
        ";": "FEEL expressions do not end with ';'",
        "$": "'$' is not allowed in names",
        "^": "write ** for powers",
    }
    if char == '"':
        message, hint = "the string is not closed", 'end it with a double quote "'
    elif rest == "==":
        message, hint = "unexpected '=='", "FEEL compares with a single '='"
    else:
        message, hint = f"unexpected character {char!r}", hints.get(char, "")
    return FeelSyntaxError(message, line=exc.line, column=exc.column, hint=hint, source=source)


_OPENERS = {"LPAR": ")", "LSQB": "]", "LBRACE": "}", "IOPEN": "]"}
_CLOSERS = frozenset({"RPAR", "RSQB", "RBRACE", "ICLOSE"})


def _unclosed(tokens: list[Token], upto: Token | None) -> Token | None:
    """The innermost bracket still open before ``upto`` (None: the brackets are balanced)."""
    stack: list[Token] = []
    for tok in tokens:
        if tok is upto:
            break
        if tok.type in _OPENERS:
            stack.append(tok)
        elif tok.type in _CLOSERS and stack:
            stack.pop()
    return stack[-1] if stack else None


def _parse_error(exc: UnexpectedToken, source: str, previous: Token | None, tokens: list[Token]) -> FeelSyntaxError:
    token = exc.token
    expected = sorted({_readable(t) for t in exc.expected if not t.startswith("__")})
    hint = ""
    if token.type == "$END":
        message = "the text ends too early"
        if previous is not None:
            token = previous
            message += f" after {_describe(previous)}"
        opener = _unclosed(tokens, None)
        if opener is not None and any(t in exc.expected for t in _CLOSERS):
            hint = (
                f"'{opener.value}' at line {opener.line}, column {opener.column} is never closed; "
                f"add '{_OPENERS[opener.type]}'"
            )
        elif len(expected) <= 8:
            hint = "expected " + _join(expected)
        else:
            hint = "something is missing at the end"
    else:
        message = f"unexpected {_describe(token)}"
        if token.type == "EQ" and previous is not None and previous.type in ("EQ", "LT", "GT"):
            hint = "FEEL compares with a single '=' (and writes <=, >=)"
        elif token.type in ("RPAR", "RSQB", "RBRACE") and not any(t.startswith("R") for t in exc.expected):
            hint = "this bracket closes nothing; check the brackets are balanced"
        elif (
            token.type in ("NAME", "NUMBER", "STRING", "LPAR", "LBRACE")
            and previous is not None
            and (previous.type in ("NAME", "NUMBER", "STRING", "RPAR", "RSQB", "RBRACE", "TRUE", "FALSE", "NULL"))
        ):
            hint = "an operator or ',' is missing before it"
        elif token.type == "EQ" and previous is not None and previous.type == "NAME":
            hint = "FEEL has no assignment; contexts are written {name: value}"
        elif len(expected) <= 8:
            hint = "expected " + _join(expected)
    if token.type == "$END":
        line, column = _end_position(token)
    else:
        line, column = token.line or 1, token.column or 1
    return FeelSyntaxError(message, line=line, column=column, hint=hint, source=source)


def _end_position(token: Token) -> tuple[int, int]:
    return (token.end_line or token.line or 1, (token.end_column or token.column or 1))


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
