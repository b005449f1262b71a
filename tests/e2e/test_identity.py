"""People and what they may do: roles on every endpoint, candidate groups on every task action, API tokens per user,
hashed passwords, and the `orderflow user` / `orderflow token` commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from sqlalchemy import select

from processes import identity
from processes.core.models import ApiToken, User
from processes.errors import Conflict, InvalidInput, NotFound
from tests.support.diagrams import process
from tests.support.rest import add_user, as_user, assert_problem, deploy
from tests.support.server import Server

TWO_GROUPS = """<bpmn:startEvent id="s"/><bpmn:parallelGateway id="fork"/>
  <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="fork"/>
  <bpmn:sequenceFlow id="b" sourceRef="fork" targetRef="sales_ok"/>
  <bpmn:sequenceFlow id="c" sourceRef="fork" targetRef="finance_ok"/>
  <bpmn:userTask id="sales_ok" name="Sales approves" camunda:candidateGroups="sales"/>
  <bpmn:userTask id="finance_ok" name="Finance approves" camunda:candidateGroups="finance"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow id="d" sourceRef="sales_ok" targetRef="join"/>
  <bpmn:sequenceFlow id="e" sourceRef="finance_ok" targetRef="join"/>
  <bpmn:sequenceFlow id="f" sourceRef="join" targetRef="end"/><bpmn:endEvent id="end"/>"""


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, requests.Session]:
    return {
        "sally": add_user(server, "sally", ["approver"], ["sales"]),
        "frank": add_user(server, "frank", ["approver"], ["finance"]),
        "ingrid": add_user(server, "ingrid", ["integrator"]),
        "andy": add_user(server, "andy", ["analyst"]),
        "otto": add_user(server, "otto", ["operator"]),
    }


def test_no_token_or_a_wrong_one_is_401(server: Server):
    assert requests.get(f"{server.api}/process-instances", timeout=10).status_code == 401
    wrong = as_user(server, "of_not-a-token").get(f"{server.api}/process-instances", timeout=10)
    assert wrong.status_code == 401


def test_each_role_reaches_only_its_endpoints(server: Server, people):
    api = server.api
    xml = process("roles_demo", '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="e"/>'
                  '<bpmn:endEvent id="e"/>')  # fmt: skip
    files = {"files": (xml[0], xml[1], "application/xml")}
    # An integrator drives orders but cannot deploy, operate incidents or see the inbox.
    denied = people["ingrid"].post(f"{api}/deployments", files=files, timeout=10)
    assert_problem(denied, 403)
    assert people["ingrid"].get(f"{api}/incidents", timeout=10).status_code == 403
    assert people["ingrid"].get(f"{api}/tasks", timeout=10).status_code == 403
    # An analyst deploys.
    assert people["andy"].post(f"{api}/deployments", files=files, timeout=10).status_code == 201
    started = people["ingrid"].post(f"{api}/process-definitions/roles_demo/instances", json={}, timeout=10)
    assert started.status_code == 201, started.text
    # An approver works the inbox but cannot start orders or deploy; an operator sees incidents.
    assert (
        people["sally"].post(f"{api}/process-definitions/roles_demo/instances", json={}, timeout=10).status_code == 403
    )
    assert people["sally"].get(f"{api}/tasks", timeout=10).status_code == 200
    assert people["otto"].get(f"{api}/incidents", timeout=10).status_code == 200
    # Only admins manage people.
    assert people["otto"].get(f"{api}/users", timeout=10).status_code == 403
    assert people["sally"].get(f"{api}/me", timeout=10).json() == {
        "username": "sally", "roles": ["approver"], "groups": ["sales"]
    }  # fmt: skip


def test_an_approver_sees_and_completes_only_their_groups_tasks(server: Server, people):
    deploy(server, process("two_groups", TWO_GROUPS))
    instance_id = server.post("/process-definitions/two_groups/instances", json={}).json()["id"]
    sally, frank = people["sally"], people["frank"]

    def inbox(session: requests.Session) -> dict[str, dict]:
        items = session.get(f"{server.api}/tasks", params={"perPage": 500}, timeout=10).json()["items"]
        return {t["elementId"]: t for t in items if t["instanceId"] == instance_id}

    assert set(inbox(sally)) == {"sales_ok"}
    assert set(inbox(frank)) == {"finance_ok"}
    finance_task = inbox(frank)["finance_ok"]["id"]
    # Sally cannot see, claim, delegate or complete finance's task, nor act as Frank.
    assert_problem(sally.get(f"{server.api}/tasks/{finance_task}", timeout=10), 403)
    assert_problem(sally.post(f"{server.api}/tasks/{finance_task}/claim", json={}, timeout=10), 403)
    assert_problem(sally.post(f"{server.api}/tasks/{finance_task}/delegate", json={"userId": "sally"}, timeout=10), 403)
    assert_problem(sally.post(f"{server.api}/tasks/{finance_task}/complete", json={}, timeout=10), 403)
    assert_problem(sally.post(f"{server.api}/tasks/{finance_task}/complete", json={"userId": "frank"}, timeout=10), 403)
    # Each completes their own; the task records who did it, and the order moves on.
    sales_task = inbox(sally)["sales_ok"]["id"]
    done = sally.post(f"{server.api}/tasks/{sales_task}/complete", json={}, timeout=10)
    assert done.status_code == 200 and done.json()["completedBy"] == "sally"
    assert frank.post(f"{server.api}/tasks/{finance_task}/claim", json={}, timeout=10).json()["assignee"] == "frank"
    assert frank.post(f"{server.api}/tasks/{finance_task}/complete", json={}, timeout=10).status_code == 200
    assert server.get(f"/process-instances/{instance_id}").json()["status"] == "completed"
    actors = {e["type"]: e["actor"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]
              if e["type"] in ("task_claimed",)}  # fmt: skip
    assert actors == {"task_claimed": "frank"}


def test_tokens_are_per_user_revocable_and_die_with_a_deactivated_user(server: Server, people):
    # Nobody but an admin manages someone else's tokens.
    assert_problem(people["sally"].post(f"{server.api}/users/frank/tokens", json={"name": "x"}, timeout=10), 403)
    created = people["sally"].post(f"{server.api}/users/sally/tokens", json={"name": "laptop"}, timeout=10).json()
    second = as_user(server, created["token"])
    assert second.get(f"{server.api}/me", timeout=10).json()["username"] == "sally"
    listed = people["sally"].get(f"{server.api}/users/sally/tokens", timeout=10).json()["items"]
    assert {t["name"] for t in listed} == {"test", "laptop"} and all("token" not in t for t in listed)
    revoked = people["sally"].delete(f"{server.api}/users/sally/tokens/{created['id']}", timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert second.get(f"{server.api}/me", timeout=10).status_code == 401
    # Deactivating a person stops all their tokens at once; reactivating brings them back.
    temp = add_user(server, "temp", ["approver"])
    assert server.http.patch(f"{server.api}/users/temp", json={"active": False}, timeout=10).status_code == 200
    assert temp.get(f"{server.api}/me", timeout=10).status_code == 401
    server.http.patch(f"{server.api}/users/temp", json={"active": True}, timeout=10)
    assert temp.get(f"{server.api}/me", timeout=10).status_code == 200


def test_bad_people_requests_are_clear(server: Server, people):
    assert_problem(server.post("/users", json={"username": "sally", "password": "a-long-password"}), 409)
    bad_role = server.post("/users", json={"username": "x1", "password": "a-long-password", "roles": ["boss"]})
    assert_problem(bad_role, 422)
    assert_problem(server.post("/users", json={"username": "x2", "password": "short"}), 422)
    assert_problem(server.post("/users", json={"username": "x3", "password": "a-long-password", "extra": 1}), 422)
    assert_problem(server.post("/users", json={"username": "bad name!", "password": "a-long-password"}), 422)


def test_passwords_are_hashed_and_checked(engine):
    identity.add_user(engine, "pat", password="correct horse", roles=["approver"], groups=["sales", "emea"])
    with engine.read_session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "pat"))
    assert "correct horse" not in stored and stored.startswith("scrypt:")
    assert identity.login(engine, "pat", "wrong password") is None
    assert identity.login(engine, "nobody", "correct horse") is None
    pat = identity.login(engine, "pat", "correct horse")
    assert pat.name == "pat" and pat.roles == {"approver"} and pat.groups == {"emea", "sales"}
    identity.update_user(engine, "pat", active=False)
    assert identity.login(engine, "pat", "correct horse") is None


def test_tokens_are_stored_as_hashes_and_expire(engine):
    from datetime import timedelta

    from processes.core.models import utcnow

    identity.add_user(engine, "erp", service=True, roles=["integrator"])
    created = identity.create_token(engine, "erp", "erp", days=1)
    with engine.read_session() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert created["token"] not in stored
    assert identity.caller_for_token(engine, created["token"]).name == "erp"
    assert identity.caller_for_token(engine, created["token"], now=utcnow() + timedelta(days=2)) is None
    with pytest.raises(InvalidInput):
        identity.add_user(engine, "erp2", service=True, password="a-long-password")
    with pytest.raises(Conflict):
        identity.add_user(engine, "erp", service=True)
    with pytest.raises(NotFound):
        identity.create_token(engine, "ghost", "x")


def test_cli_adds_a_user_whose_token_works(server: Server):
    env = {**os.environ, "ORDERFLOW_DATA_DIR": str(server.data_dir)}
    cli = [sys.executable, "-m", "app.cli"]
    added = subprocess.run([*cli, "user", "add", "carl", "--role", "approver", "--group", "sales", "--password",
                            "a-long-password"], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added user carl: roles approver, groups sales" in added.stdout
    again = subprocess.run([*cli, "user", "add", "carl", "--password", "a-long-password"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode != 0 and "already exists" in again.stderr
    created = subprocess.run([*cli, "token", "create", "carl", "--name", "ci"], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    me = as_user(server, token).get(f"{server.api}/me", timeout=10).json()
    assert me == {"username": "carl", "roles": ["approver"], "groups": ["sales"]}
    listed = subprocess.run([*cli, "user", "list"], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "carl" in listed and "sales" in listed
