"""FEEL errors."""

from __future__ import annotations

from ..errors import InternalError, OrderflowError


class FeelError(OrderflowError):
    """A FEEL expression could not be parsed, or evaluating it failed in a way that cannot be null."""

    status = 422
    title = "FEEL expression failed"
    budget: str | None = None  # which budget of processes/limits.py it went over, if that is what failed


class FeelSyntaxError(FeelError):
    """The text is not valid FEEL. ``line``/``column`` are 1-based; ``hint`` says in plain English what to fix."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1, hint: str = "", source: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.source = source
        text = f"line {line}, column {column}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    def clone(self) -> FeelSyntaxError:
        return FeelSyntaxError(self.message, line=self.line, column=self.column, hint=self.hint, source=self.source)


class NullResult(InternalError):  # noqa: N818 - control flow, not an error
    """Raised inside built-ins when an argument has the wrong type: the call's result is null."""
