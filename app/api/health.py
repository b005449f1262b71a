"""Health: is the database reachable, are the connectors' systems up."""

from __future__ import annotations

import requests
from apiflask import APIBlueprint
from flask import current_app
from sqlalchemy import text

from connectors import health as connector_health

from ..services import services
from .schemas import Health

bp = APIBlueprint("health", __name__, url_prefix="/api/v1", tag="Operations")


@bp.get("/health")
@bp.output(Health)
@bp.doc(summary="Database, broker and connector health (no token needed)")
def health():
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
    status = "ok" if all(c["ok"] for c in checks.values()) else "degraded"
    return {"status": status, "checks": checks}, 200 if status == "ok" else 503
