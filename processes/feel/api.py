"""Public entry points: compile once (LRU-cached), evaluate many times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from . import lib_convert, lib_list, lib_number, lib_range, lib_text  # noqa: F401  (registers the built-ins)
from . import nodes as n
from .errors import FeelError, FeelSyntaxError
from .evaluator import compile_expr
from .functions import EvalContext, Scope
from .lexing import KEYWORD_NAMES
from .parser import parse
from .unary import compile_unary_tests
from .values import to_feel

CACHE_SIZE = 4096


class Compiled:
    """A parsed and compiled expression or unary-tests text (or the syntax error it has)."""

    __slots__ = ("run", "names", "source", "error", "types")

    def __init__(
        self,
        run: Callable | None,
        names: frozenset[str],
        source: str,
        error: FeelSyntaxError | None = None,
        types: dict[str, tuple] | None = None,
    ) -> None:
        self.run, self.names, self.source, self.error = run, names, source, error
        self.types = types or {}  # type names that are not FEEL's own (the host defines them) -> (line, column)


_NONE: frozenset[str] = frozenset()


def _known(source: str, variables: Mapping[str, Any] | None) -> frozenset[str]:
    """Variable names that are not plain identifiers (spaces, punctuation, keywords) and appear in the text."""
    if not variables:
        return _NONE
    found = [k for k in variables if type(k) is str and k and not k.isidentifier() and k in source]
    return frozenset(found) if found else _NONE


def compile_feel(
    source: str, tests: bool, known: frozenset[str] = frozenset(), types: frozenset[str] = frozenset()
) -> Compiled:
    """Parse and compile; raises FeelSyntaxError. Cached per (text, kind, known special names), errors too.

    ``types``: type names besides FEEL's own that the text may use (a DMN file's item definitions)."""
    compiled = _compile(source, tests, known)
    if compiled.error is not None:
        raise compiled.error.clone()
    unknown = [(at, name) for name, at in compiled.types.items() if name not in types]
    if unknown:
        (line, column), name = min(unknown)
        raise FeelSyntaxError(
            f"unknown type {name!r}",
            line=line,
            column=column,
            hint="known types: " + ", ".join(sorted(n.TYPE_NAMES | types)),
            source=source,
        )
    return compiled


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str, tests: bool, known: frozenset[str]) -> Compiled:
    names = tuple(sorted(set(KEYWORD_NAMES) | known, key=len, reverse=True))
    try:
        tree = parse(source, tests, names)
    except FeelSyntaxError as exc:
        exc.source = source
        return Compiled(None, frozenset(), source, exc)
    if tree is None:
        return Compiled(None, frozenset(), source)
    run = compile_unary_tests(tree, compile_expr) if tests else compile_expr(tree)
    return Compiled(run, n.free_names(tree), source, types=n.custom_types(tree))


compile_feel.cache_info = _compile.cache_info  # type: ignore[attr-defined]
compile_feel.cache_clear = _compile.cache_clear  # type: ignore[attr-defined]


def _strip(source: str) -> str:
    if type(source) is not str:
        if not isinstance(source, str):
            raise FeelError(f"FEEL text must be a string, not {type(source).__name__}")
        source = str(source)
    if source[:1] == "=":
        return source[1:]
    text = source.lstrip()
    return text[1:] if text[:1] == "=" else source


def _root(compiled: Compiled, variables: Mapping[str, Any] | None, extra: dict[str, Any] | None = None) -> Scope:
    values: dict[str, Any] = {}
    if variables:
        for name in compiled.names:
            if name in variables:
                values[name] = to_feel(variables[name])
    if extra:
        values.update(extra)
    return Scope(values, None, EvalContext())


def _failed(exc: Exception) -> FeelError:
    if isinstance(exc, RecursionError):
        return FeelError("evaluation nested too deeply")
    if isinstance(exc, MemoryError):
        return FeelError("evaluation ran out of memory")
    return FeelError(f"FEEL evaluation failed: {type(exc).__name__}: {exc}")  # a bug here, reported as an error


def check_expression(source: str) -> None:
    """Raise FeelSyntaxError if ``source`` (optionally starting with '=') is not a valid FEEL expression."""
    compile_feel(_strip(source), False)


def check_unary_tests(source: str) -> None:
    """Raise FeelSyntaxError if ``source`` is not valid FEEL unary tests (a DMN input entry)."""
    if not isinstance(source, str):
        raise FeelError(f"FEEL text must be a string, not {type(source).__name__}")
    compile_feel(source, True)


def evaluate(source: str, variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate a FEEL expression against variables (plain Python values); returns a FEEL value.

    Empty text gives null. Use ``to_python``/``to_json`` on the result for plain values.
    """
    text = _strip(source)
    compiled = compile_feel(text, False, _known(text, variables))
    if compiled.run is None:
        return None
    try:
        return compiled.run(_root(compiled, variables))
    except FeelError:
        raise
    except Exception as exc:
        raise _failed(exc) from exc


def unary_test(source: str, input_value: Any, variables: Mapping[str, Any] | None = None) -> bool | None:
    """Does ``input_value`` satisfy the unary tests ``source`` (a DMN input entry)? None when the result is null.

    Empty text and ``-`` match anything.
    """
    if not isinstance(source, str):
        raise FeelError(f"FEEL text must be a string, not {type(source).__name__}")
    compiled = compile_feel(source, True, _known(source, variables))
    if compiled.run is None:
        return True
    value = to_feel(input_value)
    try:
        return compiled.run(value, _root(compiled, variables, {"?": value}))
    except FeelError:
        raise
    except Exception as exc:
        raise _failed(exc) from exc
