"""Page sessions in process: a Flask test client logged in through the login form, as a browser is."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

DEMO_PASSWORD = "orderflow-demo"


def logged_in(app, username: str) -> tuple[FlaskClient, str]:
    """A browser-like client: logged in through the login form; returns it and the page's CSRF token."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, token
