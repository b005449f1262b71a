"""The logged-in person of a page request, and role checks for pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import UserMixin, current_user, login_required

from processes.identity import Caller, caller_named

from ..services import services


class PageUser(UserMixin):
    """A Flask-Login user wrapping the engine's Caller (looked up again on each request, so role changes and
    deactivation take effect at once)."""

    def __init__(self, caller: Caller):
        self.caller = caller

    def get_id(self) -> str:
        return self.caller.name

    @property
    def name(self) -> str:
        return self.caller.name


def load_user(username: str) -> PageUser | None:
    caller = caller_named(services().engine, username)
    return PageUser(caller) if caller is not None else None


def page_caller() -> Caller:
    return current_user.caller


def roles_for(area: str) -> bool:
    """Whether the logged-in person sees an area in the navigation."""
    if not current_user.is_authenticated:
        return False
    return page_caller().has_role(*AREAS[area])


AREAS = {
    "inbox": ("approver", "operator"),
    "monitoring": ("operator", "analyst"),
    "modeler": ("analyst",),
    "operations": ("operator",),  # the actions on incidents and orders, inside the monitoring pages
}


def page_requires(area: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def checked(*args: Any, **kwargs: Any):
            if not roles_for(area):
                abort(403, f"{page_caller().name} has no role that opens the {area}")
            return view(*args, **kwargs)

        return checked

    return decorate
