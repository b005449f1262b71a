"""People over REST: who am I, users and groups (admins), and API tokens (admins, or each user for themselves)."""

from __future__ import annotations

from apiflask import APIBlueprint

from processes import identity
from processes.errors import Forbidden, NotFound

from ..auth import EVERYONE, caller
from ..extensions import auth
from ..services import services
from .people_schemas import GroupList, Me, NewToken, Token, TokenIn, TokenList, User, UserIn, UserList, UserPatch

bp = APIBlueprint("people", __name__, url_prefix="/api/v1", tag="People")


def _self_or_admin(username: str) -> None:
    me = caller()
    if me.name != username and not me.is_admin:
        raise Forbidden(f"{me.name} cannot manage {username}'s tokens")


@bp.get("/me")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(Me)
@bp.doc(summary="Who the token belongs to: name, roles and groups")
def me():
    me = caller()
    return {"username": me.name, "roles": sorted(me.roles), "groups": sorted(me.groups)}


@bp.get("/users")
@bp.auth_required(auth, roles=["admin"])
@bp.output(UserList)
def list_users():
    return {"items": identity.list_users(services().engine)}


@bp.post("/users")
@bp.auth_required(auth, roles=["admin"])
@bp.input(UserIn, arg_name="body")
@bp.output(User, status_code=201)
@bp.doc(summary="Add a person (with a password) or a service account (service: true, tokens only)")
def add_user(body: UserIn):
    return identity.add_user(
        services().engine, body.username, password=body.password, roles=body.roles, groups=body.groups,
        display_name=body.displayName, email=body.email, service=body.service,
    )  # fmt: skip


@bp.get("/users/<username>")
@bp.auth_required(auth, roles=["admin"])
@bp.output(User)
def get_user(username: str):
    return identity.get_user(services().engine, username)


@bp.patch("/users/<username>")
@bp.auth_required(auth, roles=["admin"])
@bp.input(UserPatch, arg_name="body")
@bp.output(User)
@bp.doc(summary="Change a user's password, roles, groups, or deactivate them (their tokens stop working)")
def update_user(username: str, body: UserPatch):
    return identity.update_user(
        services().engine, username, password=body.password, roles=body.roles, groups=body.groups, active=body.active
    )


@bp.get("/groups")
@bp.auth_required(auth, roles=["analyst", "operator"])
@bp.output(GroupList)
@bp.doc(summary="Groups and their members (what `camunda:candidateGroups` can name)")
def list_groups():
    return {"items": identity.list_groups(services().engine)}


@bp.post("/users/<username>/tokens")
@bp.auth_required(auth, roles=EVERYONE)
@bp.input(TokenIn, arg_name="body")
@bp.output(NewToken, status_code=201)
@bp.doc(summary="Create an API token (the answer holds it once; only a hash is kept)")
def create_token(username: str, body: TokenIn):
    _self_or_admin(username)
    return identity.create_token(services().engine, username, body.name, days=body.days)


@bp.get("/users/<username>/tokens")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(TokenList)
def list_tokens(username: str):
    _self_or_admin(username)
    return {"items": identity.list_tokens(services().engine, username)}


@bp.delete("/users/<username>/tokens/<token_id>")
@bp.auth_required(auth, roles=EVERYONE)
@bp.output(Token)
@bp.doc(summary="Revoke a token: it stops working at once")
def revoke_token(username: str, token_id: str):
    _self_or_admin(username)
    if not any(t["id"] == token_id for t in identity.list_tokens(services().engine, username)):
        raise NotFound(f"user {username} has no token {token_id}")
    return identity.revoke_token(services().engine, token_id)
