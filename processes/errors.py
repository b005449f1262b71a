"""One exception tree: every error that processes/ and inbox/ define derives from OrderflowError.

Each class says what it means to a caller in class attributes that app/problems.py reads to answer with
application/problem+json (RFC 9457): ``status`` (the HTTP status), ``title`` and ``type``; ``detail`` is the
message. A subclass inherits them unless it says otherwise, so every class maps to exactly one status.

Internal errors (status 500) are raised and handled inside orderflow: control flow, job outcomes, guards, or
errors converted at a boundary into one of the others. One that reaches the API anyway is a bug: Flask logs it and
the caller gets a plain 500 problem, without its detail. The 422 errors of expressions, FEEL, schedules and
decisions are converted too (into incidents, lint problems or InvalidInput) before they reach the API today; their
status says what they would mean to a caller.

    OrderflowError          400  base: something orderflow refuses or cannot do; str() / detail says what
    ├── NotFound            404  no such instance, task, definition, incident, dead letter, user, ...
    ├── InvalidInput        422  the request itself is wrong: bad variables, unknown keys, files that are not BPMN
    │   ├── FormInvalid     422  inbox: form data that does not satisfy the task's form (``field_errors``)
    │   ├── IdempotencyKeyReused 422 instances: an Idempotency-Key that started an order came with another request
    │   ├── ScenarioInvalid 422  app.testing: a scenario file (*.test.yaml) cannot be read; says the file and where
    │   ├── DmnParseError   422  dmn: a DMN file cannot be used; ``problems`` lists every Problem in it
    │   └── DmnDecisionError 422 dmn: evaluating a decision failed (hit policy, wrong type, missing input, FEEL)
    ├── DeploymentRejected  422  the files cannot be deployed; ``problems`` lists every Problem (sent as problems)
    ├── Conflict            409  clashes with the current state: stale lease, ended instance, concurrent change
    │   ├── AlreadyResolved 409  jobs.incidents: the incident was resolved before
    │   ├── CannotMigrate   409  operations.migration: an order cannot move to the target version (says why)
    │   └── NotEnoughHistory 409 prediction.forecast: too few hours of orders to fit and back-test a forecast
    ├── Forbidden           403  the caller is known but may not do this: not a candidate, or missing the role
    ├── TooLarge            413  the request or an upload is over a limit
    ├── ExpressionError     422  expressions: an expression was refused or failed, in any dialect (``dialect``)
    ├── SandboxError        422  expressions.python: a Python expression or script refused or failed in the sandbox
    ├── JuelError           422  expressions.juel: a JUEL expression was refused or failed
    ├── FeelError           422  feel: a FEEL expression failed in a way that cannot be null
    │   └── FeelSyntaxError 422  feel: the text is not valid FEEL (``line``, ``column``, ``hint``)
    ├── OverBudget          422  limits: an expression over its time, step or size budget (``budget``)
    ├── UnsavableVariable   422  core.engine: a variable that cannot be saved (not JSON, or over the size cap)
    ├── ScheduleError       422  features.schedules: a timer start event that cannot be scheduled
    ├── DecisionError       422  features.decisions: a deployed decision failed or does not fit the task's mapping
    │   └── DecisionNotFound 404 features.decisions: no decision with that key (and version) is deployed
    ├── BeanError           500  expressions.beans: a bean is missing, misconfigured or failed (server set-up)
    └── InternalError       500  internal: handled inside orderflow, never a caller's answer (a bug if it is)
        ├── JobFailed       500  internal, jobs.service: a job's work failed (retried, or an incident)
        ├── JobNeedsReview  500  internal, jobs.service: a job's answer differs from what was asked (review)
        ├── BpmnErrorThrown 500  internal, jobs.service: a business failure, thrown as a BPMN error at the task
        ├── ReplayFailed    500  internal, jobs.dead_letters: a replay failed; the API answers with its ``error``
        ├── AuditTrailIsAppendOnly 500  internal, core.models: code tried to change an audit event (a bug)
        ├── TypeMismatch    500  internal, dmn.types: a value of the wrong type; becomes a DmnDecisionError
        ├── NullResult      500  internal, feel: a built-in got an argument of the wrong type; the result is null
        ├── TooDeep         500  internal, feel.nodes: nesting over the limit; becomes a FeelSyntaxError
        ├── _NullDomain     500  internal, feel.evaluator: a range that is not of integers; the result is null
        ├── _LimitError     500  internal, expressions.python: a guard in user code; becomes a SandboxError
        ├── _NotWaiting     500  internal, features.messages: the task no longer waits for the message
        ├── _AlreadyStarted 500  internal, instances: another request started the instance first
        └── StaleReads      500  internal, core.db: what a step read changed before it wrote; the step runs again

Connectors (connectors/errors.py) stand alone by design, as connectors import nothing of processes: their
ConnectorError tree is adapted by app/services.py into job outcomes (Discrepancy -> JobNeedsReview,
BusinessError -> BpmnErrorThrown, TransientError -> JobFailed retryable, any other ConnectorError -> JobFailed
not retryable), so no connector error reaches the API itself; a ConfigurationError at start-up stops the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OrderflowError(Exception):
    """Base of every error orderflow defines. ``status``, ``title`` and ``type`` are its problem+json answer."""

    status = 400
    title = "Error"
    type = "about:blank"

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail


class NotFound(OrderflowError):
    status = 404
    title = "Not found"


class InvalidInput(OrderflowError):
    """The request itself is wrong: bad variables, unknown keys, files that are not BPMN."""

    status = 422
    title = "Invalid input"


class ScenarioInvalid(InvalidInput):
    """A scenario file (`*.test.yaml`) that cannot be read or run: the message names the file, the scenario and the
    field (the scenario tester lives in app/testing, which needs the inbox and the feature list; its error lives
    here with the others)."""

    title = "Invalid scenario"


class Conflict(OrderflowError):
    """The request clashes with the current state: stale lease, ended instance, concurrent change."""

    status = 409
    title = "Conflict"


class Forbidden(OrderflowError):
    """The caller is known but may not do this: not a candidate for the task, or missing the role."""

    status = 403
    title = "Forbidden"


class TooLarge(OrderflowError):
    status = 413
    title = "Payload too large"


class InternalError(OrderflowError):
    """Raised and handled inside orderflow, never a caller's answer: one that reaches the API is a bug, answered
    as a plain 500 (logged, detail not shown)."""

    status = 500
    title = "Internal Server Error"


@dataclass
class Problem:
    """One thing wrong with a diagram or a DMN file, pointing at the element an analyst must fix (not an error:
    DeploymentRejected and DmnParseError carry a list of them)."""

    message: str
    element_id: str | None = None
    element_type: str | None = None
    file: str | None = None
    line: int | None = None
    severity: str = "error"
    # How a person calls the element: its label, "the flow from 'Check stock' to 'Ship'" (the id when unnamed).
    element_name: str | None = None

    def as_dict(self) -> dict:
        return {
            "message": self.message,
            "elementId": self.element_id,
            "elementName": self.element_name,
            "elementType": self.element_type,
            "file": self.file,
            "line": self.line,
            "severity": self.severity,
        }


@dataclass
class DeploymentRejected(OrderflowError):
    """The files cannot be deployed; every problem is listed at once."""

    problems: list[Problem] = field(default_factory=list)
    status = 422
    title = "Deployment rejected"

    def __post_init__(self) -> None:
        first = self.problems[0].message if self.problems else "invalid deployment"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        OrderflowError.__init__(self, first + more)
