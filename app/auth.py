"""Who is calling: API tokens for REST (per user or service account, plus the bootstrap token from the environment),
and the roles each endpoint needs (`@bp.auth_required(auth, roles=...)`). Admins pass every role check."""

from __future__ import annotations

import hmac

from flask import current_app

from processes.core.models import ROLES
from processes.identity import Caller, caller_for_token

from .extensions import auth
from .services import services

EVERYONE = list(ROLES)
# The bootstrap token (ORDERFLOW_API_TOKEN) acts as this admin: it exists so a fresh install can be driven and
# real users and tokens created; production setups create per-user tokens and keep this one secret.
BOOTSTRAP = Caller("admin", frozenset({"admin"}))


@auth.verify_token
def verify_token(token: str) -> Caller | None:
    if not token:
        return None
    expected = current_app.config["ORDERFLOW_API_TOKEN"]
    if hmac.compare_digest(token.encode(), expected.encode()):
        return BOOTSTRAP
    return caller_for_token(services().engine, token)


@auth.get_user_roles
def user_roles(caller: Caller) -> list[str]:
    return list(ROLES) if caller.is_admin else sorted(caller.roles)


def caller() -> Caller:
    return auth.current_user


def actor() -> str:
    current = auth.current_user
    return current.name if current is not None else "anonymous"
