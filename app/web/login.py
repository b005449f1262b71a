"""Log in and out with a username and password (a signed session cookie, CSRF-protected forms)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from processes.identity import end_page_session, open_page_session
from processes.identity import login as check_login

from ..services import services
from .people import AREAS, PageUser

bp = Blueprint("web_login", __name__)


# Where a person lands after logging in: the first area their roles open.
LANDING = (("inbox", "web_inbox.inbox"), ("monitoring", "web_monitoring.dashboard"))


def _home() -> str:
    if current_user.is_authenticated:
        for area, endpoint in LANDING:
            if current_user.caller.has_role(*AREAS[area]):
                return url_for(endpoint)
    return url_for("web_login.welcome")


@bp.get("/")
def index():
    return redirect(_home() if current_user.is_authenticated else url_for("web_login.login"))


@bp.get("/welcome")
@login_required
def welcome():
    return render_template("welcome.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    username = request.form.get("username", "").strip()
    caller = check_login(services().engine, username, request.form.get("password", ""))
    if caller is None:
        flash("Wrong username or password.", "error")
        return render_template("login.html", username=username), 401
    login_user(PageUser(caller, open_page_session(services().engine, caller.name)))
    target = request.args.get("next", "")
    # Only same-site paths: a login link must not bounce people to another site.
    if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        target = _home()
    return redirect(target)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        end_page_session(services().engine, current_user.session_secret)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("web_login.login"))
