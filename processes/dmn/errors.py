"""DMN errors: deploy-time problems (every one at once) and evaluation failures (naming the decision)."""

from __future__ import annotations

from dataclasses import replace

from ..errors import InvalidInput, Problem


class DmnParseError(InvalidInput):
    """The DMN file cannot be used. ``problems`` lists every problem found (FEEL syntax errors in all cells,
    unknown references, invalid hit policies, ...), each a Problem in the file (``element_type`` "dmn")."""

    title = "Invalid DMN"

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name = name
        self.problems = [replace(p, element_type=p.element_type or "dmn", file=p.file or name) for p in problems]
        first = self.problems[0].message if self.problems else "invalid DMN"
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(f"{name}: {first}{more}")

    def as_problems(self, element_type: str = "dmn") -> list[Problem]:
        """The problems in the form the deployment API reports them."""
        return [replace(p, element_type=element_type) for p in self.problems]


class DmnDecisionError(InvalidInput):
    """Evaluating a decision failed: hit policy violated, a value of the wrong type, a required input missing,
    a FEEL evaluation error. ``decision_id`` names the decision (the one being evaluated when it failed, which may
    be a required decision of the one asked for); ``element_id`` the rule, input or output when there is one."""

    title = "Decision failed"

    def __init__(
        self,
        message: str,
        *,
        decision_id: str | None = None,
        element_id: str | None = None,
        rule_ids: list[str] | None = None,
    ) -> None:
        self.message = message
        self.decision_id = decision_id
        self.element_id = element_id
        self.rule_ids = list(rule_ids or [])
        super().__init__(message)
