"""Approval hierarchies: a DMN table decides which levels or departments must sign, a multi-instance user task asks
each of them (one after another, or all at once), and a rejection anywhere ends the chain. Camunda 7 and Camunda 8
markers, in process and over REST."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.features import build_engine
from inbox.tasks import complete_task
from processes.core.engine import Engine
from processes.core.models import HumanTask
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.incidents import retry_incident
from processes.jobs.service import JobService
from tests.support.diagrams import c8, process
from tests.support.paths import DIAGRAMS
from tests.support.rest import add_user, assert_problem
from tests.support.rest import deploy as deploy_over_http
from tests.support.waiting import wait_until_ended


def diagram(name: str, **renamed: str) -> tuple[str, bytes]:
    """A diagram from tests/diagrams (they open in Camunda Modeler), with text replaced where a test varies it."""
    text = (DIAGRAMS / name).read_text()
    for old, new in renamed.items():
        assert old in text, old
        text = text.replace(old, new)
    return name, text.encode()


RULES = "approval_rules.dmn"  # approval_levels (amount, category -> level, group) and sign_off_departments
CHAIN = "purchase_approval_chain.bpmn"  # Camunda 7, sequential: levels in order, a rejection ends the chain
SIGN_OFF = "department_sign_off.bpmn"  # Camunda 7, parallel: all departments at once
CHAIN_C8 = "purchase_approval_chain_c8.bpmn"  # Camunda 8: zeebe:loopCharacteristics with an output collection


def rows(engine: Engine, instance_id: str) -> list[HumanTask]:
    """Every inbox row the instance ever had, oldest first."""
    with engine.read_session() as session:
        query = select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.created_at)
        return list(session.scalars(query))


def open_rows(engine: Engine, instance_id: str) -> list[HumanTask]:
    return [r for r in rows(engine, instance_id) if r.status == "open"]


def ended_at(engine: Engine, instance_id: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["elementId"] and "end" in e["elementId"]]


@pytest.fixture
def chain(engine: Engine) -> Engine:
    deploy(engine, [diagram(RULES), diagram(CHAIN)])
    return engine


def test_level_two_rejects_so_level_three_never_sees_the_purchase(chain: Engine) -> None:
    engine = chain
    instance_id = start_instance(engine, "purchase_chain", variables={"amount": 60000, "category": "opex"}).instance[
        "id"
    ]
    [first] = open_rows(engine, instance_id)
    assert first.candidate_groups == ["team-leads"] and first.priority == 60
    assert first.name == "Approve purchase (level 1 of 3)"
    complete_task(engine, first.id, {"approved": True, "comment": "fine"}, "alice")

    [second] = open_rows(engine, instance_id)
    assert second.candidate_groups == ["finance"] and second.name == "Approve purchase (level 2 of 3)"
    complete_task(engine, second.id, {"approved": False, "comment": "over budget"}, "bob")

    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert ended_at(engine, instance_id) == ["rejected_end"]
    everything = rows(engine, instance_id)
    assert [r.candidate_groups for r in everything] == [["team-leads"], ["finance"]]  # directors never asked
    assert [(r.status, r.completed_by) for r in everything] == [("completed", "alice"), ("completed", "bob")]
    # The chain's own variables stay inside it; what the approvers entered reaches the process.
    variables = view["variables"]
    assert variables["approved"] is False and variables["comment"] == "over budget"
    assert not {"level", "loopCounter", "nrOfInstances", "nrOfCompletedInstances"} & set(variables)

    events = instance_events(engine, instance_id)
    decided = [(e["actor"], e["data"]["instance"], e["data"]["variables"]["approved"])
               for e in events if e["type"] == "task_completed"]  # fmt: skip
    assert decided == [
        ("alice", {"loopCounter": 0, "level": {"level": 1, "group": "team-leads"}}, True),
        ("bob", {"loopCounter": 1, "level": {"level": 2, "group": "finance"}}, False),
    ]
    offered = [e["data"]["candidateGroups"] for e in events if e["type"] == "task_created"]
    assert offered == [["team-leads"], ["finance"]]


def test_every_level_approves(chain: Engine) -> None:
    engine = chain
    instance_id = start_instance(engine, "purchase_chain", variables={"amount": 20000, "category": "capex"}).instance[
        "id"
    ]
    approvers = {"team-leads": "alice", "finance": "bob", "directors": "carol"}
    asked = []
    while open_rows(engine, instance_id):
        [row] = open_rows(engine, instance_id)  # one level at a time
        asked.append(row.candidate_groups[0])
        complete_task(engine, row.id, {"approved": True}, approvers[row.candidate_groups[0]])
    assert asked == ["team-leads", "finance", "directors"]  # the capex rule adds the directors below 50000
    assert get_instance(engine, instance_id)["status"] == "completed"
    assert ended_at(engine, instance_id) == ["approved_end"]


def test_a_small_purchase_needs_one_level_and_an_empty_chain_passes_straight_through(chain: Engine) -> None:
    engine = chain
    small = start_instance(engine, "purchase_chain", variables={"amount": 50, "category": "opex"}).instance["id"]
    [row] = open_rows(engine, small)
    assert row.name == "Approve purchase (level 1 of 1)"
    complete_task(engine, row.id, {"approved": True}, "alice")
    assert ended_at(engine, small) == ["approved_end"]

    # Nothing to approve (no rule matches): the activity completes at once, with no instance at all.
    nothing = start_instance(engine, "purchase_chain", variables={"amount": 0, "category": "opex", "approved": True})
    assert rows(engine, nothing.instance["id"]) == []
    assert ended_at(engine, nothing.instance["id"]) == ["approved_end"]


def test_a_chain_continues_in_another_engine(chain: Engine, db_url: str) -> None:
    """The chain's progress is in the stored state, not in one process's memory (another server, a restart)."""
    from processes.core.db import make_engine, make_session_factory

    instance_id = start_instance(chain, "purchase_chain", variables={"amount": 60000, "category": "opex"}).instance[
        "id"
    ]
    [first] = open_rows(chain, instance_id)
    complete_task(chain, first.id, {"approved": True}, "alice")
    other = build_engine(make_session_factory(make_engine(db_url)))
    for group, user in (("finance", "bob"), ("directors", "carol")):
        [row] = open_rows(other, instance_id)
        assert row.candidate_groups == [group]
        complete_task(other, row.id, {"approved": True}, user)
    assert ended_at(other, instance_id) == ["approved_end"]


def test_two_chains_of_one_definition_do_not_mix(chain: Engine) -> None:
    engine = chain
    big = start_instance(engine, "purchase_chain", variables={"amount": 60000, "category": "opex"}).instance["id"]
    small = start_instance(engine, "purchase_chain", variables={"amount": 15000, "category": "opex"}).instance["id"]
    complete_task(engine, open_rows(engine, big)[0].id, {"approved": True}, "alice")
    complete_task(engine, open_rows(engine, small)[0].id, {"approved": True}, "alice")
    assert open_rows(engine, big)[0].name == "Approve purchase (level 2 of 3)"
    assert open_rows(engine, small)[0].name == "Approve purchase (level 2 of 2)"
    complete_task(engine, open_rows(engine, small)[0].id, {"approved": False}, "bob")
    assert ended_at(engine, small) == ["rejected_end"]
    assert open_rows(engine, big)[0].candidate_groups == ["finance"]


def test_parallel_sign_off_one_department_rejects_and_the_others_task_disappears(engine: Engine) -> None:
    deploy(engine, [diagram(RULES), diagram(SIGN_OFF)])
    instance_id = start_instance(engine, "sign_off", variables={"category": "capex"}).instance["id"]
    both = open_rows(engine, instance_id)
    assert sorted((r.name, r.candidate_groups[0]) for r in both) == [
        ("Sign off for finance", "finance"),
        ("Sign off for legal", "legal"),
    ]
    legal = next(r for r in both if r.candidate_groups == ["legal"])
    finance = next(r for r in both if r.candidate_groups == ["finance"])
    complete_task(engine, legal.id, {"approved": False, "comment": "contract terms"}, "lena")

    assert open_rows(engine, instance_id) == []
    statuses = {r.id: (r.status, r.completed_by) for r in rows(engine, instance_id)}
    assert statuses == {legal.id: ("completed", "lena"), finance.id: ("cancelled", None)}
    assert get_instance(engine, instance_id)["status"] == "completed"
    assert ended_at(engine, instance_id) == ["refused_end"]
    from processes.errors import Conflict

    with pytest.raises(Conflict):
        complete_task(engine, finance.id, {"approved": True}, "fred")


def test_parallel_sign_off_waits_for_every_department(engine: Engine) -> None:
    deploy(engine, [diagram(RULES), diagram(SIGN_OFF)])
    instance_id = start_instance(engine, "sign_off", variables={"category": "services"}).instance["id"]
    first, second = open_rows(engine, instance_id)
    complete_task(engine, first.id, {"approved": True}, "fred")
    assert [r.id for r in open_rows(engine, instance_id)] == [second.id]  # still waiting for the other
    assert get_instance(engine, instance_id)["status"] == "waiting"
    complete_task(engine, second.id, {"approved": True}, "lena")
    assert ended_at(engine, instance_id) == ["signed_end"]


@pytest.fixture
def chain_c8(engine: Engine) -> Engine:
    deploy(engine, [diagram(RULES), diagram(CHAIN_C8)])
    return engine


def test_camunda8_chain_collects_each_decision_and_stops_at_a_rejection(chain_c8: Engine) -> None:
    engine = chain_c8
    instance_id = start_instance(engine, "purchase_chain_c8", variables={"amount": 60000, "category": "x"}).instance[
        "id"
    ]
    [first] = open_rows(engine, instance_id)
    assert first.candidate_groups == ["team-leads"] and first.due_at is not None and first.due_at.year == 2030
    complete_task(engine, first.id, {"decision": "approve"}, "alice")
    [second] = open_rows(engine, instance_id)
    assert second.candidate_groups == ["finance"] and second.due_at is None
    complete_task(engine, second.id, {"decision": "reject"}, "bob")

    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and ended_at(engine, instance_id) == ["rejected_end"]
    # One entry per level, in level order; loopCounter counts from 1 in Camunda 8; the cancelled level is null.
    assert view["variables"]["decisions"] == [
        {"level": 1, "decision": "approve", "round": 1},
        {"level": 2, "decision": "reject", "round": 2},
        None,
    ]
    assert [r.candidate_groups for r in rows(engine, instance_id)] == [["team-leads"], ["finance"]]


def test_camunda8_chain_all_approve(chain_c8: Engine) -> None:
    engine = chain_c8
    instance_id = start_instance(engine, "purchase_chain_c8", variables={"amount": 12000, "category": "x"}).instance[
        "id"
    ]
    for user in ("alice", "bob"):
        [row] = open_rows(engine, instance_id)
        complete_task(engine, row.id, {"decision": "approve"}, user)
    view = get_instance(engine, instance_id)
    assert [d["decision"] for d in view["variables"]["decisions"]] == ["approve", "approve"]
    assert ended_at(engine, instance_id) == ["approved_end"]


# -- other activities ---------------------------------------------------------------------------------------------

PARALLEL_JOBS = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="quote"/>
  <bpmn:serviceTask id="quote" camunda:type="external" camunda:topic="carrier.quote">
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="${carriers}" camunda:elementVariable="carrier"/>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="quote" targetRef="e"/><bpmn:endEvent id="e"/>"""

COUNTED_SUBPROCESS = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="pack"/>
  <bpmn:subProcess id="pack">
    <bpmn:multiInstanceLoopCharacteristics isSequential="true">
      <bpmn:loopCardinality>${parcels}</bpmn:loopCardinality>
    </bpmn:multiInstanceLoopCharacteristics>
    <bpmn:startEvent id="ps"/><bpmn:sequenceFlow id="pf1" sourceRef="ps" targetRef="label"/>
    <bpmn:scriptTask id="label">
      <bpmn:script>labels = labels + [f"parcel {loopCounter + 1} of {nrOfInstances}"]</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="pf2" sourceRef="label" targetRef="pe"/><bpmn:endEvent id="pe"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="pack" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_a_parallel_service_task_makes_one_job_per_item(engine: Engine) -> None:
    deploy(engine, [process("quotes", PARALLEL_JOBS)])
    carriers = ["dhl", "ups", "fedex"]
    instance_id = start_instance(engine, "quotes", variables={"carriers": carriers}).instance["id"]
    jobs = JobService(engine)
    claimed = jobs.claim("worker-1", limit=10)
    assert sorted(j.variables["carrier"] for j in claimed) == sorted(carriers)
    for job in claimed:
        jobs.complete(job.id, job.lease_token, {f"price_{job.variables['carrier']}": 10})
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert {k: v for k, v in view["variables"].items() if k.startswith("price_")} == {
        "price_dhl": 10,
        "price_ups": 10,
        "price_fedex": 10,
    }


def test_a_subprocess_runs_a_counted_number_of_times(engine: Engine) -> None:
    deploy(engine, [process("packing", COUNTED_SUBPROCESS)])
    started = start_instance(engine, "packing", variables={"parcels": 3, "labels": []})
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "completed"
    assert view["variables"]["labels"] == ["parcel 1 of 3", "parcel 2 of 3", "parcel 3 of 3"]


CALLED_PER_DOCUMENT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review_each"/>
  <bpmn:callActivity id="review_each">
    <bpmn:extensionElements><zeebe:calledElement processId="review_document"/></bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <zeebe:loopCharacteristics inputCollection="=documents" inputElement="document" outputCollection="reviews"
            outputElement="=review"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="review_each" targetRef="e"/><bpmn:endEvent id="e"/>"""

REVIEW_DOCUMENT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <bpmn:scriptTask id="review"><bpmn:extensionElements>
    <zeebe:script expression="=document.name + &quot; checked (&quot; + string(loopCounter) + &quot;)&quot;"
        resultVariable="review"/>
  </bpmn:extensionElements></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_a_camunda8_call_activity_calls_a_process_per_item_and_collects_the_results(engine: Engine) -> None:
    deploy(engine, [c8("review_document", REVIEW_DOCUMENT), c8("review_documents", CALLED_PER_DOCUMENT)])
    documents = [{"name": "invoice"}, {"name": "delivery note"}]
    started = start_instance(engine, "review_documents", variables={"documents": documents})
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "completed"
    assert view["variables"]["reviews"] == ["invoice checked (1)", "delivery note checked (2)"]
    assert "document" not in view["variables"]


LATE_SIGN_OFF = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="sign"/>
  <bpmn:userTask id="sign" camunda:candidateGroups="${department}">
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="${departments}" camunda:elementVariable="department"/>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="too_late" attachedToRef="sign">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT0.3S</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="signed_end"/><bpmn:endEvent id="signed_end"/>
  <bpmn:sequenceFlow id="f3" sourceRef="too_late" targetRef="escalated_end"/><bpmn:endEvent id="escalated_end"/>"""


def test_a_timer_on_the_whole_sign_off_cancels_every_open_task(engine: Engine) -> None:
    deploy(engine, [process("late_sign_off", LATE_SIGN_OFF)])
    instance_id = start_instance(engine, "late_sign_off", variables={"departments": ["finance", "legal"]}).instance[
        "id"
    ]
    assert len(open_rows(engine, instance_id)) == 2
    time.sleep(0.4)
    jobs = JobService(engine)
    [timer] = jobs.claim("worker-1", limit=5)
    jobs.fire_timers(timer)
    assert [r.status for r in rows(engine, instance_id)] == ["cancelled", "cancelled"]
    assert ended_at(engine, instance_id) == ["escalated_end"]


def test_a_collection_that_is_not_a_list_is_an_incident_on_the_activity(chain: Engine) -> None:
    engine = chain
    bad = {'"purchase_chain"': '"bad_chain"', 'camunda:collection="${levels}"': 'camunda:collection="${amount}"'}
    deploy(engine, [diagram(CHAIN, **bad)])
    instance_id = start_instance(engine, "bad_chain", variables={"amount": 5, "category": "x"}).instance["id"]
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident"
    [incident] = view["incidents"]
    assert incident["elementId"] == "approve"
    assert "not a list" in incident["message"] and "${amount}" in incident["message"]
    assert rows(engine, instance_id) == []


def test_a_failing_completion_condition_is_an_incident_and_a_retry_asks_again(chain: Engine) -> None:
    engine = chain
    deploy(engine, [diagram(CHAIN, **{'"purchase_chain"': '"typo_chain"', "${!approved}": "${!approvd}"})])
    instance_id = start_instance(engine, "typo_chain", variables={"amount": 50, "category": "x"}).instance["id"]
    [row] = open_rows(engine, instance_id)
    # The approver's answer is kept: the error is the diagram's, not theirs.
    complete_task(engine, row.id, {"approved": True}, "alice")
    view = get_instance(engine, instance_id)
    [incident] = view["incidents"]
    assert view["status"] == "incident" and incident["elementId"] == "approve"
    assert "completion condition" in incident["message"] and "approvd" in incident["message"]
    # Retrying starts the activity again: the level is asked again (the diagram still has the typo, so the
    # retried activity fails the same way once it is answered).
    retry_incident(engine, incident["id"], actor="ops")
    [again] = open_rows(engine, instance_id)
    assert again.id != row.id and again.candidate_groups == ["team-leads"]


# -- deploy-time errors --------------------------------------------------------------------------------------------

REFUSED = [
    ('<bpmn:multiInstanceLoopCharacteristics isSequential="true"/>', "camunda:collection"),
    (
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}">'
        "<bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
        "not both",
    ),
    (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>"
        "</bpmn:multiInstanceLoopCharacteristics>",
        "loopDataInputRef is not supported",
    ),
    (
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="item">'
        "<bpmn:completionCondition>${approved &amp;&amp;}</bpmn:completionCondition>"
        "</bpmn:multiInstanceLoopCharacteristics>",
        "completion condition",
    ),
    (
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="an item"/>',
        "not a variable name",
    ),
    (
        '<bpmn:multiInstanceLoopCharacteristics camunda:elementVariable="item">'
        "<bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
        "needs camunda:collection",
    ),
    (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>"
        '<zeebe:loopCharacteristics inputCollection="=items" outputCollection="results"/>'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>",
        "outputCollection and outputElement go together",
    ),
    (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>"
        '<zeebe:loopCharacteristics inputElement="item"/>'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>",
        "needs an inputCollection",
    ),
    (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>"
        '<zeebe:loopCharacteristics inputCollection="=items" />'
        "</bpmn:extensionElements><bpmn:loopCardinality>3</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics>",
        "no loop cardinality",
    ),
]


@pytest.mark.parametrize("marker, expected", REFUSED, ids=[e for _, e in REFUSED])
def test_unsupported_multi_instance_markers_are_refused_naming_the_element(
    engine: Engine, marker: str, expected: str
) -> None:
    body = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
      <bpmn:userTask id="review" name="Review">{marker}</bpmn:userTask>
      <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/><bpmn:endEvent id="e"/>"""
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [c8("refused", body)])
    [problem] = rejected.value.problems
    assert problem.element_id == "review" and problem.element_type == "bpmn:userTask", problem
    assert "multi-instance" in problem.message and expected in problem.message, problem.message
    assert problem.line is not None


# -- over REST -------------------------------------------------------------------------------------------------------


def test_a_chain_over_rest_each_level_works_it_with_their_own_token(server) -> None:
    response = deploy_over_http(server, diagram(RULES), diagram(CHAIN))
    assert response.status_code == 201, response.text
    started = server.post(
        "/process-definitions/purchase_chain/instances",
        json={"businessKey": "PO-4711", "variables": {"amount": 75000, "category": "opex"}},
    )
    assert started.status_code == 201, started.text
    instance_id = started.json()["id"]
    alice = add_user(server, "alice", ["approver"], ["team-leads"])
    bob = add_user(server, "bob", ["approver"], ["finance"])
    dora = add_user(server, "dora", ["approver"], ["directors"])

    def inbox(person) -> list[dict]:
        """What this person's inbox shows of the purchase."""
        response = person.get(f"{server.api}/tasks", params={"businessKey": "PO-4711"}, timeout=10)
        assert response.status_code == 200, response.text
        return [t for t in response.json()["items"] if t["instanceId"] == instance_id]

    def act(person, task: dict, action: str, **body):
        return person.post(f"{server.api}/tasks/{task['id']}/{action}", json=body, timeout=10)

    [lead_task] = inbox(alice)
    assert lead_task["name"] == "Approve purchase (level 1 of 3)" and lead_task["candidateGroups"] == ["team-leads"]
    assert inbox(bob) == [] and inbox(dora) == []
    assert_problem(act(bob, lead_task, "claim"), 403)  # level 1 is not finance's to decide
    assert act(alice, lead_task, "claim").json()["assignee"] == "alice"
    done = act(alice, lead_task, "complete", variables={"approved": True})
    assert done.status_code == 200, done.text
    assert done.json()["completedBy"] == "alice"

    [finance_task] = inbox(bob)
    assert finance_task["name"] == "Approve purchase (level 2 of 3)"
    assert inbox(alice) == [] and inbox(dora) == []
    assert act(bob, finance_task, "claim").status_code == 200
    rejected = act(bob, finance_task, "complete", variables={"approved": False, "comment": "no budget left"})
    assert rejected.status_code == 200, rejected.text

    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed"
    assert inbox(dora) == []  # level 3 never reached anyone
    events = server.get(f"/process-instances/{instance_id}/events").json()["items"]
    trail = [(e["type"], e["actor"]) for e in events if e["type"] in ("task_claimed", "task_completed")]
    assert trail == [
        ("task_claimed", "alice"),
        ("task_completed", "alice"),
        ("task_claimed", "bob"),
        ("task_completed", "bob"),
    ]
    decided = [(e["data"]["instance"]["level"]["group"], e["data"]["variables"]["approved"])
               for e in events if e["type"] == "task_completed"]  # fmt: skip
    assert decided == [("team-leads", True), ("finance", False)]
    assert [e["elementId"] for e in events if e["elementId"] in ("approved_end", "rejected_end")] == ["rejected_end"]
