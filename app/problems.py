"""Errors as application/problem+json (RFC 9457): type, title, status, detail."""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import exc as sql
from werkzeug.exceptions import HTTPException, InternalServerError

from processes.errors import DeploymentRejected, OrderflowError

log = logging.getLogger(__name__)

# The database or the network under it failed, not the request: the caller should send the same request again
# (with the same Idempotency-Key), so the answer is 503 with Retry-After and nothing is kept as a dead letter.
INFRASTRUCTURE_ERRORS = (sql.OperationalError, sql.InterfaceError, sql.DisconnectionError, sql.TimeoutError)
RETRY_AFTER_SECONDS = 2
# JSON deeper than this is refused (400) before anything reads it: orders are shallow, and deep nesting only
# exhausts the recursion of whatever walks it next (copying, saving, expressions).
MAX_JSON_DEPTH = 64


def is_infrastructure_error(error: BaseException) -> bool:
    return isinstance(error, INFRASTRUCTURE_ERRORS)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply is invalid JSON (400) instead of a RecursionError, and
    NaN and Infinity are invalid as the standard says."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _not_json)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if _depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def _not_json(name: str) -> Any:
    """NaN and Infinity are not JSON (Python reads them; PostgreSQL refuses to store them)."""
    raise ValueError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def problem(status: int, title: str, detail: str | None = None, *, type: str = "about:blank", **extra):
    body = {"type": type, "title": title, "status": status, "detail": detail or title, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def internal_error_problem(**extra: Any):
    """The plain 500 problem, for an error that is a bug (its detail stays in the log)."""
    return problem(500, InternalServerError().name, InternalServerError.description, **extra)


def unavailable(error: BaseException):
    """503 with Retry-After for an infrastructure error: the request was fine, try it again shortly."""
    log.warning("infrastructure error, answered 503: %s", error)
    detail = "the database is not reachable just now; send the same request again"
    if _on_a_page():
        return (
            render_template("error.html", title="Service unavailable", detail=detail),
            503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    response = problem(503, "Service unavailable", detail)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register(app: APIFlask) -> None:
    app.json = JSONProvider(app)

    @app.errorhandler(sql.OperationalError)
    @app.errorhandler(sql.InterfaceError)
    @app.errorhandler(sql.DisconnectionError)
    @app.errorhandler(sql.TimeoutError)
    def _infrastructure_error(error: Exception):
        return unavailable(error)

    @app.errorhandler(OrderflowError)
    def _domain_error(error: OrderflowError):
        """Every class says its answer (processes/errors.py draws the tree); an internal one (5xx) reaching here is
        a bug: re-raised, Flask logs it and answers a plain 500 as for any unexpected exception."""
        if error.status >= 500:
            raise error
        status = error.status
        if _on_a_page():
            return _page(status, error.title, error.detail)
        extra = {}
        if isinstance(error, DeploymentRejected):
            extra["problems"] = [p.as_dict() for p in error.problems]
        if getattr(error, "field_errors", None):
            extra["errors"] = error.field_errors
        return problem(status, error.title, error.detail, type=error.type, **extra)

    @app.error_processor
    def _http_error(error: HTTPError):
        extra = {"errors": error.detail} if error.detail else {}
        detail = error.message
        if error.status_code == 422 and error.detail:
            detail = "the request does not match the API: " + "; ".join(
                f"{field}: {', '.join(messages)}"
                for location in error.detail.values()
                for field, messages in location.items()
            )
        response = problem(error.status_code, error.message, detail, **extra)
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.errorhandler(HTTPException)
    def _werkzeug_error(error: HTTPException):
        if _on_a_page():
            if error.code == 404 and not request.blueprint:
                return _page(404, "Page not found", f"There is no page at {request.path}.", lost=True)
            return _page(error.code or 500, error.name, error.description)
        return problem(error.code or 500, error.name, error.description)


# Where only machines call: an address under these that matches nothing still answers problem+json.
API_PREFIXES = ("/api/", "/engine-rest", "/v2/", "/metrics")


def _on_a_page() -> bool:
    """Errors of the pages (blueprints named web_*) are pages too; the API's are problem+json. An address that
    matches no route (a mistyped link, `/nope`) is a page for a browser, which asks for HTML first, and stays
    problem+json for API clients: under the API's prefixes, or when the caller prefers JSON (`*/*` counts as JSON)."""
    if request.blueprint:
        return request.blueprint.startswith("web_")
    if request.path.startswith(API_PREFIXES) or request.path in ("/v2", "/api"):
        return False
    return request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"


def _page(status: int, title: str, detail: str | None, lost: bool = False):
    return render_template("error.html", title=title, detail=detail or title, lost=lost), status
