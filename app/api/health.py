"""Health: is the database reachable, are the connectors' systems up."""

from __future__ import annotations

import requests
from apiflask import APIBlueprint
from flask import current_app, request
from sqlalchemy import text

from connectors import health as connector_health

from ..auth import verify_token
from ..services import services
from .schemas import Health

bp = APIBlueprint("health", __name__, url_prefix="/api/v1", tag="Operations")


@bp.get("/health")
@bp.output(Health)
@bp.doc(
    summary="Up or down (no token needed); with a token, each check: database, broker, connectors, workers",
    description="Anonymous callers (load balancers, probes) get only `status`; the details (connector URLs, "
    "circuit states, error rates) are for callers with a valid API token of any role. 503 when degraded.",
)
def health():
    checks = _checks()
    status = "ok" if all(c["ok"] for c in checks.values()) else "degraded"
    body = {"status": status, "checks": checks} if _authenticated() else {"status": status}
    return body, 200 if status == "ok" else 503


def _authenticated() -> bool:
    """Whether the request carries a valid API token (the endpoint itself needs none)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and verify_token(token.strip()) is not None


def _checks() -> dict[str, dict]:
    checks: dict[str, dict] = {}
    try:
        with services().engine.read_session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # a health check reports failures, it does not raise them
        checks["database"] = {"ok": False, "error": str(exc)}
    # Per system, from the calls already made (circuit state, last success, error rate): no probing.
    systems = connector_health.report(services().connectors)
    checks["systems"] = {"ok": all(s["circuit"] != "open" for s in systems.values()), "systems": systems}
    settings = current_app.config["ORDERFLOW_CONNECTOR_SETTINGS"]
    if settings.get("ORDERFLOW_PAYMENT_URL") or settings.get("ORDERFLOW_WMS_URL"):
        checks["connectors"] = {"ok": True, "checked": False}  # real systems share no health endpoint
    else:
        sandbox = current_app.config["ORDERFLOW_SANDBOX_URL"]
        try:
            response = requests.get(f"{sandbox}/health", timeout=(1, 2))
            checks["connectors"] = {"ok": response.ok, "url": sandbox}
        except requests.RequestException as exc:
            checks["connectors"] = {"ok": False, "url": sandbox, "error": exc.__class__.__name__}
    transport = services().transport
    checks["workers"] = {"ok": True, "transport": transport}
    if transport == "celery":
        from ..worker import broker_health

        checks["broker"] = broker_health()
    return checks
