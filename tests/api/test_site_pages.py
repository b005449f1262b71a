"""In process: a mistyped address answers a page to a browser and problem+json to an API client, the site has a
favicon, and the API docs page loads Swagger UI from orderflow itself under a policy that allows only that."""

from __future__ import annotations

from flask.testing import FlaskClient

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_a_not_found_page_with_places_to_go(client: FlaskClient) -> None:
    response = client.get("/nope", headers=BROWSER)
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Page not found" in page and "There is no page at /nope." in page
    assert 'href="/login"' in page and 'href="/api/v1/docs"' in page
    assert 'rel="icon"' in page


def test_api_clients_keep_problem_json_for_unknown_addresses(client: FlaskClient) -> None:
    for path, headers in (
        ("/nope", {"Accept": "application/json"}),
        ("/nope", {"Accept": "*/*"}),  # curl, requests
        ("/api/v1/nope", BROWSER),  # the API's addresses are never pages
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json", (path, headers)
        assert response.json["status"] == 404
    # Camunda's REST keeps Camunda's own JSON errors, which its clients read.
    camunda = client.get("/engine-rest/nope", headers=BROWSER)
    assert camunda.status_code == 404 and camunda.is_json


def test_the_favicon_is_there(client: FlaskClient) -> None:
    response = client.get("/favicon.ico", headers=BROWSER)
    assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_api_docs_load_swagger_ui_from_orderflow(client: FlaskClient) -> None:
    docs = client.get("/api/v1/docs", headers=BROWSER)
    page = docs.get_data(as_text=True)
    assert docs.status_code == 200 and "cdn." not in page and 'src="http' not in page and 'href="http' not in page
    policy = docs.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self' 'unsafe-inline'" in policy
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"/api/v1/docs/assets/{asset}" in page
        served = client.get(f"/api/v1/docs/assets/{asset}")
        assert served.status_code == 200 and len(served.data) > 1000, asset
    # Only what the page loads is served, not the rest of the package.
    assert client.get("/api/v1/docs/assets/swagger-editor-bundle.js").status_code == 404
