"""The logged-in person of a page request, and role checks for pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import UserMixin, current_user, login_required

from processes.identity import Caller, caller_for_page_session

from ..services import services


class PageUser(UserMixin):
    """A Flask-Login user wrapping the engine's Caller (looked up again on each request, so role changes,
    deactivation and logging out take effect at once)."""

    def __init__(self, caller: Caller, session_secret: str):
        self.caller = caller
        self.session_secret = session_secret

    def get_id(self) -> str:
        """What the signed cookie keeps: the page session's secret, so that logging out (which ends the session
        in the database) makes every copy of the cookie useless."""
        return self.session_secret

    @property
    def name(self) -> str:
        return self.caller.name


def load_user(session_secret: str) -> PageUser | None:
    caller = caller_for_page_session(services().engine, session_secret)
    return PageUser(caller, session_secret) if caller is not None else None


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
