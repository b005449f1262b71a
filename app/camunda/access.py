"""Who calls the Camunda-compatible APIs, and how their errors look.

Camunda clients authenticate with HTTP Basic (`username` and `password`) or a Bearer token. orderflow takes either:
with Basic, the password is the caller's API token and the token alone decides who calls (the user name is not
checked, as Camunda clients must send one); Bearer is the token as in `/api/v1`. The roles are those of `/api/v1`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import g, jsonify, request

from processes.errors import InvalidInput
from processes.identity import Caller

from ..auth import verify_token

# Who may use the Camunda APIs, by role (the same roles as /api/v1), and the longest a long poll may wait.
INTEGRATORS = ["integrator"]
STARTERS = ["integrator", "operator", "analyst"]
SENDERS = ["integrator", "operator"]
WORKERS = ["approver", "operator"]
MAX_POLL_MS = 30 * 60 * 1000  # Camunda's own ceiling for asyncResponseTimeout / requestTimeout


def token_from_request() -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def authorized(
    roles: Iterable[str], refuse: Callable[[int, str], Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run for a caller with a valid token and one of `roles` (admins always); else `refuse(status,
    message)` answers (401, 403)."""
    wanted = frozenset(roles)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            token = token_from_request()
            caller: Caller | None = verify_token(token) if token else None
            if caller is None:
                response = refuse(401, "send an API token: HTTP Basic with the token as password, or Bearer")
                # No Basic challenge: a browser would prompt for the token and then send it with forged requests.
                response.headers["WWW-Authenticate"] = 'Bearer realm="orderflow"'
                return response
            if not caller.is_admin and not caller.roles & wanted:
                return refuse(
                    403, f"{caller.name} may not do this: it needs one of the roles {', '.join(sorted(wanted))}"
                )
            g.flask_httpauth_user = caller  # app.auth.caller() and actor() read it, as for /api/v1
            return view(*args, **kwargs)

        return checked

    return decorate


def json_body() -> dict[str, Any]:
    """The request's JSON object; an empty or missing body is an empty object (Camunda allows it for most calls)."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def camunda_error(status: int, type_: str, message: str, **extra: Any):
    """Camunda 7's error body: {"type": exception class name, "message": ...}."""
    response = jsonify({"type": type_, "message": message, **extra})
    response.status_code = status
    return response
