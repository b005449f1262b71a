"""Throwing and catching over HTTP, each with a diagram of its own: error event subprocesses catching a job's BPMN
error and a run-out job's code, a non-interrupting timer event subprocess on a cycle, a signal broadcast reaching
three orders (and a signal thrown by an order), a message end event correlating into another order, escalation
boundary events, link events and a compensation end event."""

from __future__ import annotations

import time

from tests.support.diagrams import process
from tests.support.rest import activate, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended


def deployed(server: Server, key: str, body: str, definitions: str = "") -> None:
    name, xml = process(key, body)
    xml = xml.replace(b"<bpmn:process ", definitions.encode() + b"<bpmn:process ", 1)
    response = deploy(server, (name, xml))
    assert response.status_code == 201, response.text


def start(server: Server, key: str, business_key: str | None = None, **variables) -> str:
    body = {"variables": variables, **({"businessKey": business_key} if business_key else {})}
    response = server.post(f"/process-definitions/{key}/instances", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def events(server: Server, instance_id: str) -> list[dict]:
    return server.get(f"/process-instances/{instance_id}/events").json()["items"]


def completed(server: Server, instance_id: str) -> list[str]:
    return [e["elementId"] for e in events(server, instance_id) if e["type"] == "element_completed"]


def wait_for(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def one_job(server: Server, topic: str) -> dict:
    return wait_for(lambda: activate(server, topic, maxJobs=1))[0]


# The work runs in a subprocess whose event subprocess catches DECLINED; everything else (here: a job whose retries
# ran out, RETRIES_EXHAUSTED) reaches the process's catch-all error event subprocess.
ERRORS = '<bpmn:error id="Err_Declined" errorCode="DECLINED"/>'
ERROR_SUBPROCESSES = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
<bpmn:subProcess id="work">
  <bpmn:startEvent id="work_start"/>
  <bpmn:sequenceFlow id="w1" sourceRef="work_start" targetRef="charge"/>
  <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="esp.charge"/>
  <bpmn:sequenceFlow id="w2" sourceRef="charge" targetRef="work_end"/>
  <bpmn:endEvent id="work_end"/>
  <bpmn:subProcess id="on_declined" triggeredByEvent="true">
    <bpmn:startEvent id="declined">
      <bpmn:errorEventDefinition errorRef="Err_Declined" camunda:errorCodeVariable="declinedCode"/>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="d1" sourceRef="declined" targetRef="note_declined"/>
    <bpmn:scriptTask id="note_declined"><bpmn:script>outcome = 'declined'</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="d2" sourceRef="note_declined" targetRef="declined_end"/>
    <bpmn:endEvent id="declined_end"/>
  </bpmn:subProcess>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="ship"/>
<bpmn:scriptTask id="ship"><bpmn:script>shipped = True</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f3" sourceRef="ship" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="on_any_error" triggeredByEvent="true">
  <bpmn:startEvent id="any_error">
    <bpmn:errorEventDefinition camunda:errorCodeVariable="failure"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="e1" sourceRef="any_error" targetRef="note_failure"/>
  <bpmn:scriptTask id="note_failure"><bpmn:script>outcome = 'gave up: ' + failure</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="e2" sourceRef="note_failure" targetRef="failed"/>
  <bpmn:endEvent id="failed"/>
</bpmn:subProcess>"""


def test_error_event_subprocesses_catch_a_jobs_bpmn_error_and_run_out_retries(server: Server) -> None:
    deployed(server, "esp_errors", ERROR_SUBPROCESSES, ERRORS)

    declined = start(server, "esp_errors")
    job = one_job(server, "esp.charge")
    thrown = server.post(f"/jobs/{job['id']}/bpmn-error", json={"workerId": "w1", "errorCode": "DECLINED"})
    assert thrown.status_code == 200, thrown.text
    view = wait_until_ended(server, declined)
    # The subprocess's own event subprocess caught it: the subprocess ended, the process went on to ship.
    assert view["status"] == "completed", view
    assert view["variables"]["outcome"] == "declined" and view["variables"]["declinedCode"] == "DECLINED"
    assert view["variables"]["shipped"] is True
    assert "note_declined" in completed(server, declined) and "note_failure" not in completed(server, declined)

    exhausted = start(server, "esp_errors")
    job = one_job(server, "esp.charge")
    failed = server.post(
        f"/jobs/{job['id']}/fail", json={"workerId": "w1", "errorMessage": "gateway down", "retries": 0}
    )
    assert failed.status_code == 200, failed.text
    view = wait_until_ended(server, exhausted)
    # No incident: RETRIES_EXHAUSTED went past the subprocess (which catches only DECLINED) to the catch-all one.
    assert view["status"] == "completed", view
    assert view["variables"]["outcome"] == "gave up: RETRIES_EXHAUSTED" and "shipped" not in view["variables"]
    assert not view["incidents"]
    started = [e for e in events(server, exhausted) if e["type"] == "event_subprocess_started"]
    assert [(e["elementId"], e["data"]["interrupting"], e["data"]["cancelled"]) for e in started] == [
        ("on_any_error", True, ["work"])
    ]


BOUNDARY_FIRST = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
<bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="esp.boundary"/>
<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:boundaryEvent id="on_charge" attachedToRef="charge"><bpmn:errorEventDefinition errorRef="Err_Declined"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="on_charge" targetRef="by_boundary"/>
<bpmn:endEvent id="by_boundary"/>
<bpmn:subProcess id="on_error" triggeredByEvent="true">
  <bpmn:startEvent id="any_error"><bpmn:errorEventDefinition/></bpmn:startEvent>
  <bpmn:sequenceFlow id="e1" sourceRef="any_error" targetRef="by_subprocess"/>
  <bpmn:endEvent id="by_subprocess"/>
</bpmn:subProcess>"""

ERROR_END = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
<bpmn:subProcess id="work">
  <bpmn:startEvent id="work_start"/>
  <bpmn:sequenceFlow id="w1" sourceRef="work_start" targetRef="refuse"/>
  <bpmn:endEvent id="refuse"><bpmn:errorEventDefinition errorRef="Err_Declined"/></bpmn:endEvent>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="on_error" triggeredByEvent="true">
  <bpmn:startEvent id="declined"><bpmn:errorEventDefinition errorRef="Err_Declined"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="e1" sourceRef="declined" targetRef="note"/>
  <bpmn:scriptTask id="note"><bpmn:script>outcome = 'refused'</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="e2" sourceRef="note" targetRef="handled"/>
  <bpmn:endEvent id="handled"/>
</bpmn:subProcess>"""


def test_a_boundary_event_wins_and_an_error_end_event_reaches_the_enclosing_scope(server: Server) -> None:
    deployed(server, "esp_boundary_first", BOUNDARY_FIRST, ERRORS)
    instance_id = start(server, "esp_boundary_first")
    job = one_job(server, "esp.boundary")
    server.post(f"/jobs/{job['id']}/bpmn-error", json={"workerId": "w1", "errorCode": "DECLINED"})
    assert wait_until_ended(server, instance_id)["status"] == "completed"
    assert "by_boundary" in completed(server, instance_id) and "by_subprocess" not in completed(server, instance_id)

    deployed(server, "esp_error_end", ERROR_END, ERRORS)
    instance_id = start(server, "esp_error_end")
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["outcome"] == "refused", view
    assert "done" not in completed(server, instance_id)


TIMER_CYCLE = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:userTask id="review"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="remind" triggeredByEvent="true">
  <bpmn:startEvent id="every_second" isInterrupting="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT0.5S</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="r1" sourceRef="every_second" targetRef="count"/>
  <bpmn:scriptTask id="count"><bpmn:script>reminders = reminders + 1</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="r2" sourceRef="count" targetRef="reminded"/>
  <bpmn:endEvent id="reminded"/>
</bpmn:subProcess>"""


def test_a_non_interrupting_timer_event_subprocess_runs_on_its_cycle(server: Server) -> None:
    deployed(server, "esp_timer_cycle", TIMER_CYCLE)
    instance_id = start(server, "esp_timer_cycle", reminders=0)
    wait_for(lambda: completed(server, instance_id).count("reminded") == 3)
    view = server.get(f"/process-instances/{instance_id}").json()
    # Three ticks (R3), each beside the review, which still waits, each seeing the last one's count; no timer is left.
    assert [e["elementId"] for e in view["activeElements"]] == ["review"], view
    counts = [e["data"]["reminders"] for e in events(server, instance_id) if e["elementId"] == "count"]
    assert counts == [1, 2, 3]
    assert not [j for j in view["jobs"] if j["kind"] == "timer" and j["status"] == "ready"]
    started = [e for e in events(server, instance_id) if e["type"] == "event_subprocess_started"]
    assert [e["data"]["interrupting"] for e in started] == [False, False, False]


SIGNALS = '<bpmn:signal id="Sig_Go" name="warehouse-open"/>'
WAIT_FOR_SIGNAL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_open"/>
<bpmn:intermediateCatchEvent id="wait_open"><bpmn:signalEventDefinition signalRef="Sig_Go"/>
</bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="wait_open" targetRef="done"/>
<bpmn:endEvent id="done"/>"""
THROW_SIGNAL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="open"/>
<bpmn:endEvent id="open"><bpmn:signalEventDefinition signalRef="Sig_Go"/></bpmn:endEvent>"""
BOUNDARY_SIGNAL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hold"/>
<bpmn:userTask id="hold"/>
<bpmn:sequenceFlow id="f2" sourceRef="hold" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:boundaryEvent id="opened" attachedToRef="hold"><bpmn:signalEventDefinition signalRef="Sig_Go"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="opened" targetRef="released"/>
<bpmn:endEvent id="released"/>"""


def test_a_signal_broadcast_reaches_three_orders_and_a_thrown_signal_reaches_the_others(server: Server) -> None:
    deployed(server, "signal_wait", WAIT_FOR_SIGNAL, SIGNALS)
    waiting = [start(server, "signal_wait", business_key=f"SIG-{n}") for n in range(3)]
    broadcast = server.post("/signals", json={"name": "warehouse-open", "variables": {"dock": 4}})
    assert broadcast.status_code == 200, broadcast.text
    assert sorted(broadcast.json()["reached"]) == sorted(waiting) and broadcast.json()["started"] == []
    for instance_id in waiting:
        view = wait_until_ended(server, instance_id)
        assert view["status"] == "completed" and view["variables"]["dock"] == 4, view
    again = server.post("/signals", json={"name": "warehouse-open"})
    assert again.status_code == 200 and again.json()["reached"] == []  # a signal is not kept

    deployed(server, "signal_boundary", BOUNDARY_SIGNAL, SIGNALS)
    deployed(server, "signal_throw", THROW_SIGNAL, SIGNALS)
    held = start(server, "signal_boundary")
    other = start(server, "signal_wait")
    thrower = start(server, "signal_throw")
    assert wait_until_ended(server, thrower)["status"] == "completed"
    assert wait_until_ended(server, held)["status"] == "completed"
    assert "released" in completed(server, held) and "hold" not in completed(server, held)
    assert wait_until_ended(server, other)["status"] == "completed"
    delivered = wait_for(lambda: [e for e in events(server, thrower) if e["type"] == "signal_delivered"])
    assert sorted(delivered[0]["data"]["reached"]) == sorted([held, other])


MESSAGES = '<bpmn:message id="Msg_Paid" name="payment-received"/>'
RECEIVER = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_paid"/>
<bpmn:intermediateCatchEvent id="wait_paid"><bpmn:messageEventDefinition messageRef="Msg_Paid"/>
</bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="wait_paid" targetRef="done"/>
<bpmn:endEvent id="done"/>"""
SENDER = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="paid"/>
<bpmn:endEvent id="paid">
  <bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="businessKey">${customerOrder}</camunda:inputParameter>
    <camunda:inputParameter name="amount">${amount}</camunda:inputParameter>
  </camunda:inputOutput></bpmn:extensionElements>
  <bpmn:messageEventDefinition messageRef="Msg_Paid"/>
</bpmn:endEvent>"""
SENDER_BY_WORKER = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="notify"/>
<bpmn:intermediateThrowEvent id="notify">
  <bpmn:messageEventDefinition messageRef="Msg_Paid" camunda:type="external" camunda:topic="crm.notify"/>
</bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f2" sourceRef="notify" targetRef="done"/>
<bpmn:endEvent id="done"/>"""


def test_a_message_end_event_correlates_into_another_order(server: Server) -> None:
    deployed(server, "msg_receiver", RECEIVER, MESSAGES)
    deployed(server, "msg_sender", SENDER, MESSAGES)
    receiver = start(server, "msg_receiver", business_key="ORDER-77")
    sender = start(server, "msg_sender", customerOrder="ORDER-77", amount=12.5)
    assert wait_until_ended(server, sender)["status"] == "completed"
    view = wait_until_ended(server, receiver)
    assert view["status"] == "completed" and view["variables"]["amount"] == 12.5, view
    delivered = wait_for(lambda: [e for e in events(server, sender) if e["type"] == "message_delivered"])
    assert delivered[0]["data"]["instanceId"] == receiver and delivered[0]["elementId"] == "paid"

    # With an implementation, a worker sends it: a job, and the event completes when the worker does.
    deployed(server, "msg_by_worker", SENDER_BY_WORKER, MESSAGES)
    instance_id = start(server, "msg_by_worker", customer="C-1")
    job = one_job(server, "crm.notify")
    assert job["elementId"] == "notify" and job["variables"] == {"customer": "C-1"}
    server.post(f"/jobs/{job['id']}/complete", json={"workerId": "w1", "variables": {"notified": True}})
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["notified"] is True


ESCALATIONS = '<bpmn:escalation id="Esc_Late" escalationCode="LATE"/>'
ESCALATING = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pack"/>
<bpmn:subProcess id="pack">
  <bpmn:startEvent id="pack_start"/>
  <bpmn:sequenceFlow id="p1" sourceRef="pack_start" targetRef="running_late"/>
  <bpmn:intermediateThrowEvent id="running_late"><bpmn:escalationEventDefinition escalationRef="Esc_Late"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="p2" sourceRef="running_late" targetRef="packed"/>
  <bpmn:scriptTask id="packed"><bpmn:script>packed = True</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="p3" sourceRef="packed" targetRef="give_up"/>
  <bpmn:endEvent id="give_up"><bpmn:escalationEventDefinition escalationRef="Esc_Late"/></bpmn:endEvent>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="pack" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:boundaryEvent id="tell_customer" attachedToRef="pack" cancelActivity="false">
  <bpmn:escalationEventDefinition escalationRef="Esc_Late"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="tell_customer" targetRef="told"/>
<bpmn:scriptTask id="told"><bpmn:script>customerTold = True</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f4" sourceRef="told" targetRef="told_end"/>
<bpmn:endEvent id="told_end"/>"""


def test_escalation_boundary_events_interrupting_and_not(server: Server) -> None:
    # Both throws meet the non-interrupting boundary: the subprocess goes on after the first and ends normally.
    deployed(server, "escalation_soft", ESCALATING, ESCALATIONS)
    instance_id = start(server, "escalation_soft")
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["packed"] is True, view
    assert completed(server, instance_id).count("told") == 2 and "done" in completed(server, instance_id)
    thrown = [e["data"]["caught"] for e in events(server, instance_id) if e["type"] == "escalation_thrown"]
    assert thrown == [True, True]

    # An interrupting one ends the subprocess at the first throw: nothing after it runs.
    hard = ESCALATING.replace('cancelActivity="false"', 'cancelActivity="true"')
    deployed(server, "escalation_hard", hard, ESCALATIONS)
    instance_id = start(server, "escalation_hard")
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["customerTold"] is True, view
    assert "packed" not in view["variables"] and "done" not in completed(server, instance_id)


LINKS = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
<bpmn:scriptTask id="first"><bpmn:script>steps = ['first']</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="to_page_2"/>
<bpmn:intermediateThrowEvent id="to_page_2"><bpmn:linkEventDefinition name="page2"/></bpmn:intermediateThrowEvent>
<bpmn:intermediateCatchEvent id="from_page_1"><bpmn:linkEventDefinition name="page2"/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f3" sourceRef="from_page_1" targetRef="second"/>
<bpmn:scriptTask id="second"><bpmn:script>steps = steps + ['second']</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="done"/>
<bpmn:endEvent id="done"/>"""


def test_link_events_continue_the_flow_at_their_catch_event(server: Server) -> None:
    deployed(server, "links", LINKS)
    instance_id = start(server, "links")
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["steps"] == ["first", "second"], view
    assert completed(server, instance_id) == ["start", "first", "to_page_2", "from_page_1", "second", "done"]

    catch = "</bpmn:intermediateCatchEvent>"
    broken = LINKS.replace(f'name="page2"/>{catch}', f'name="page3"/>{catch}')
    name, xml = process("links_broken", broken)
    refused = deploy(server, (name, xml))
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert problem["elementId"] == "to_page_2" and "no link catch event" in problem["message"]


COMPENSATION_END = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
<bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="comp.charge"/>
<bpmn:boundaryEvent id="charge_undo" attachedToRef="charge"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:serviceTask id="refund" isForCompensation="true" camunda:type="external" camunda:topic="comp.refund"/>
<bpmn:association id="a1" sourceRef="charge_undo" targetRef="refund"/>
<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="undo_all"/>
<bpmn:endEvent id="undo_all"><bpmn:compensateEventDefinition/></bpmn:endEvent>"""


def test_a_compensation_end_event_runs_the_handlers_then_ends(server: Server) -> None:
    deployed(server, "compensation_end", COMPENSATION_END)
    instance_id = start(server, "compensation_end")
    charge = one_job(server, "comp.charge")
    server.post(f"/jobs/{charge['id']}/complete", json={"workerId": "w1", "variables": {"chargeId": "CH-1"}})
    refund = one_job(server, "comp.refund")
    assert refund["variables"]["chargeId"] == "CH-1" and refund["elementId"] == "refund"
    view = server.get(f"/process-instances/{instance_id}").json()
    assert view["endedAt"] is None  # the end event waits for its handlers
    server.post(f"/jobs/{refund['id']}/complete", json={"workerId": "w1", "variables": {"refunded": True}})
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["refunded"] is True, view
    assert [e["type"] for e in events(server, instance_id) if e["type"].startswith("compensation_")] == [
        "compensation_started",
        "compensation_completed",
    ]
