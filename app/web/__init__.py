"""The pages people use in a browser: login, the inbox and its task pages. Server-rendered (Jinja), htmx where a
part of a page refreshes by itself; every form is CSRF protected; the REST API (bearer tokens) is exempt."""

from __future__ import annotations

from apiflask import APIFlask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "web_login.login"
login_manager.login_message = "Log in to see this page."


def register_pages(app: APIFlask) -> None:
    from . import inbox, login, modeler, modeler_api, monitoring, operations, people

    csrf.init_app(app)
    for name, blueprint in app.blueprints.items():
        if (
            not name.startswith("web_")
            and blueprint.url_prefix
            and blueprint.url_prefix.startswith(("/api", "/engine-rest", "/v2"))
        ):
            csrf.exempt(blueprint)  # bearer tokens, no cookies: nothing for a forged form to ride on
    login_manager.init_app(app)
    login_manager.user_loader(people.load_user)
    app.register_blueprint(login.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(operations.bp)
    app.register_blueprint(modeler.bp)
    app.register_blueprint(modeler_api.bp)
    app.jinja_env.globals["roles_for"] = people.roles_for
