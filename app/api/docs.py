"""The API's docs page (APIFlask's Swagger UI at /api/v1/docs) without the internet: APIFlask would load Swagger UI
from a CDN, so the page was blank offline. Its files come from the swagger-ui-py package instead (it ships a current
Swagger UI 5, which renders the OpenAPI 3.1 spec APIFlask writes) and are served from here."""

from __future__ import annotations

from importlib.resources import files

from apiflask import APIFlask
from flask import Blueprint, abort, send_from_directory

ASSETS_PATH = "/api/v1/docs/assets"
# Only what the page loads: the package also ships Swagger Editor (megabytes nobody asked for).
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})

bp = Blueprint("docs_assets", __name__, url_prefix=ASSETS_PATH)


@bp.get("/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(files("swagger_ui") / "static"), name, max_age=86400)


def register(app: APIFlask) -> None:
    app.config.update(
        SWAGGER_UI_CSS=f"{ASSETS_PATH}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/favicon.ico",
    )
    app.register_blueprint(bp)
