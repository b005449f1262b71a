"""The pages people use in a browser: login, the inbox and its task pages. Server-rendered (Jinja), htmx where a
part of a page refreshes by itself; every form is CSRF protected; the REST API (bearer tokens) is exempt."""

from __future__ import annotations

from apiflask import APIFlask
from flask import Response, current_app, request, send_from_directory
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "web_login.login"
login_manager.login_message = "Log in to see this page."


# Pages load scripts, styles, fonts and data only from orderflow itself; no page runs inline script (the bundles in
# static/vendor and the page scripts are files). Inline styles stay allowed: bpmn-js, dmn-js and form-js set them.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The API's docs page (APIFlask's Swagger UI, its files served by orderflow: app/api/docs.py) starts Swagger UI with
# an inline script of APIFlask's template, so only that page allows inline script; everything else it loads comes
# from orderflow too (Swagger UI draws its icons as data: images).
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class SessionInterface(SecureCookieSessionInterface):
    """The login cookie is SameSite=Lax, and Secure whenever the page came over https (directly or through a proxy
    that says so), so it is never sent in clear once a site uses https."""

    def get_cookie_secure(self, app) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return bool(super().get_cookie_secure(app) or request.is_secure or forwarded == "https")

    # REST calls carry no session cookie and leave the session alone; Flask's answers for that case, without
    # building the signing serializer and the cookie settings on every call (they showed in the server's profile).
    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        docs = request.endpoint == "openapi.docs"
        response.headers.setdefault("Content-Security-Policy", DOCS_POLICY if docs else CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def register_pages(app: APIFlask) -> None:
    from . import inbox, login, modeler, modeler_api, monitoring, operations, order_data, people

    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionInterface()
    app.after_request(_security_headers)
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
    app.jinja_env.filters.update(order_data.FILTERS)
    # Browsers ask for /favicon.ico on every site whatever the page links (the pages link the same file).
    app.add_url_rule("/favicon.ico", "favicon", _favicon)


def _favicon() -> Response:
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")
