"""API authentication: one bootstrap token for now (roles and per-user tokens come with the inbox issue)."""

from __future__ import annotations

import hmac

from flask import current_app

from .extensions import auth


@auth.verify_token
def verify_token(token: str) -> str | None:
    expected = current_app.config["ORDERFLOW_API_TOKEN"]
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        return "admin"
    return None


def actor() -> str:
    return auth.current_user or "anonymous"
