"""Errors as application/problem+json (RFC 9457): type, title, status, detail."""

from __future__ import annotations

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from processes.errors import DeploymentRejected, OrderflowError


def problem(status: int, title: str, detail: str | None = None, *, type: str = "about:blank", **extra):
    body = {"type": type, "title": title, "status": status, "detail": detail or title, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def register(app: APIFlask) -> None:
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
            return _page(error.code or 500, error.name, error.description)
        return problem(error.code or 500, error.name, error.description)


def _on_a_page() -> bool:
    """Errors of the pages (blueprints named web_*) are pages too; the API's are problem+json."""
    return bool(request.blueprint and request.blueprint.startswith("web_"))


def _page(status: int, title: str, detail: str | None):
    return render_template("error.html", title=title, detail=detail or title), status
