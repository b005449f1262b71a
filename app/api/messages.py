"""Messages and signals: deliver a message to the instance waiting for it, or start one at a message start event;
broadcast a signal to every instance waiting for it."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes.features.messages import correlate
from processes.features.signals import broadcast

from ..auth import actor
from ..extensions import auth
from ..services import services
from .schemas import MessageIn, MessageOut, SignalIn, SignalOut

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


@bp.post("/signals")
@bp.auth_required(auth, roles=["integrator", "operator"])
@bp.input(SignalIn, arg_name="body")
@bp.output(SignalOut)
@bp.doc(
    summary="Broadcast a signal",
    description="Reaches every instance waiting for the signal (intermediate catch and boundary events, event "
    "subprocesses of active scopes) and starts every process whose latest version has a signal start event of that "
    "name. Each instance is its own engine step; the variables are set where the signal arrives. 200 also when "
    "nothing waits (a signal is not kept).",
)
def signal(body: SignalIn):
    return broadcast(services().engine, body.name, body.variables, actor=actor())
