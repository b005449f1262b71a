"""One error type per failure class. The REST layer maps each to an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field


class OrderflowError(Exception):
    """Base of every error the engine reports to a user."""

    title = "Error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(OrderflowError):
    title = "Not found"


class InvalidInput(OrderflowError):
    """The request itself is wrong: bad variables, unknown keys, files that are not BPMN."""

    title = "Invalid input"


class Conflict(OrderflowError):
    """The request clashes with the current state: stale lease, ended instance, concurrent change."""

    title = "Conflict"


class Forbidden(OrderflowError):
    """The caller is known but may not do this: not a candidate for the task, or missing the role."""

    title = "Forbidden"


class TooLarge(OrderflowError):
    title = "Payload too large"


@dataclass
class Problem:
    """One thing wrong with a diagram, pointing at the element an analyst must fix."""

    message: str
    element_id: str | None = None
    element_type: str | None = None
    file: str | None = None
    line: int | None = None
    severity: str = "error"

    def as_dict(self) -> dict:
        return {
            "message": self.message,
            "elementId": self.element_id,
            "elementType": self.element_type,
            "file": self.file,
            "line": self.line,
            "severity": self.severity,
        }


@dataclass
class DeploymentRejected(OrderflowError):
    """The files cannot be deployed; every problem is listed at once."""

    problems: list[Problem] = field(default_factory=list)
    title = "Deployment rejected"

    def __post_init__(self) -> None:
        first = self.problems[0].message if self.problems else "invalid deployment"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        OrderflowError.__init__(self, first + more)
