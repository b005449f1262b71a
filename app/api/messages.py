"""Messages: deliver a message to the instance waiting for it, or start one at a message start event."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes.features.messages import correlate

from ..auth import actor
from ..extensions import auth
from ..services import services
from .schemas import MessageIn, MessageOut

bp = APIBlueprint("messages", __name__, url_prefix="/api/v1", tag="Messages")


@bp.post("/messages")
@bp.auth_required(auth, roles=["integrator", "operator"])
@bp.input(MessageIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    summary="Send a message",
    description="Routed by name and businessKey and/or correlationKey to the one instance waiting for it; "
    "404 when none waits and no process starts with it, 409 when several instances match.",
)
def send(body: MessageIn):
    return correlate(
        services().engine,
        body.name,
        business_key=body.businessKey,
        correlation_key=body.correlationKey,
        variables=body.variables,
        actor=actor(),
    )
