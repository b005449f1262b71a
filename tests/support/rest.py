"""Calls an integrator makes over the REST API: deploy, start, work tasks and jobs, add users, problem+json checks."""

from __future__ import annotations

import os
import subprocess
import sys

import requests

from tests.support.server import TOKEN, Server
from tests.support.waiting import wait_until_ended


def deploy(server: Server, *files: tuple[str, bytes]) -> requests.Response:
    return server.post("/deployments", files=[("files", (name, data, "application/xml")) for name, data in files])


def assert_problem(response: requests.Response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json() if callable(response.json) else response.json  # requests, or a Flask test client
    assert body["status"] == status and body["title"] and body["detail"]
    text = str(body).lower()
    for fragment in fragments:
        assert fragment.lower() in text, (fragment, body)
    return body


def orderflow(server: Server, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ORDERFLOW_URL": server.url, "ORDERFLOW_API_TOKEN": TOKEN, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def drive_external_jobs(server: Server, instance_id: str, limit: int = 20) -> dict:
    """Act as the diagram's job workers: complete every service job of the instance until it ends."""
    for _ in range(limit):
        view = server.get(f"/process-instances/{instance_id}").json()
        if view["endedAt"] or view["status"] == "incident":
            return view
        ready = [j for j in view["jobs"] if j["status"] == "ready" and j["kind"] == "service"]
        for job in ready:
            for activated in activate(server, job["topic"], worker="conformance"):
                server.post(f"/jobs/{activated['id']}/complete", json={"workerId": "conformance", "variables": {}})
    return wait_until_ended(server, instance_id)


def activate(server: Server, topic: str, worker: str = "w1", **extra) -> list[dict]:
    response = server.post("/jobs/activate", json={"topic": topic, "workerId": worker, **extra})
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def as_user(server: Server, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def add_user(server: Server, username: str, roles: list[str], groups: list[str] = ()) -> requests.Session:
    """A user added over REST by the admin, and a session carrying a token they created for themselves."""
    response = server.post(
        "/users", json={"username": username, "password": "a-long-password", "roles": roles, "groups": list(groups)}
    )
    assert response.status_code == 201, response.text
    token = server.post(f"/users/{username}/tokens", json={"name": "test"}).json()["token"]
    return as_user(server, token)


def start(server: Server, key: str, **variables) -> str:
    response = server.post(f"/process-definitions/{key}/instances", json={"variables": variables})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def task_of(server: Server, instance_id: str, **filters) -> dict:
    tasks = [t for t in server.get("/tasks", params=filters).json()["items"] if t["instanceId"] == instance_id]
    assert len(tasks) == 1, tasks
    return tasks[0]


def complete(server: Server, task_id: str, user: str, **variables):
    return server.post(f"/tasks/{task_id}/complete", json={"userId": user, "variables": variables})
