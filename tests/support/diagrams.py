"""Building small BPMN diagrams (Camunda 7 and Camunda 8 flavours) for tests, as (file name, bytes) pairs."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">\n'
)


def process(key: str, body: str) -> tuple[str, bytes]:
    return f"{key}.bpmn", (
        HEADER + f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    ).encode()


def service_task(extra: str = "", boundary: str = "") -> str:
    return f"""
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <bpmn:serviceTask id="charge" name="Charge" camunda:type="external" camunda:topic="pay">{extra}</bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="done"/>
    <bpmn:endEvent id="done"/>
    {boundary}"""


ERROR_BOUNDARY = """
    <bpmn:boundaryEvent id="declined" attachedToRef="charge">
      <bpmn:errorEventDefinition errorRef="Error_Declined"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="declined" targetRef="notify"/>
    <bpmn:scriptTask id="notify"><bpmn:script>notified = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="notify" targetRef="cancelled"/>
    <bpmn:endEvent id="cancelled"/>"""


def split_after_job(
    key: str, first: tuple[str, str], branches: dict[str, str], then: tuple[str, str] | None = None
) -> tuple[str, bytes]:
    """A service task `first` (element id, topic), then a parallel split into `branches` (element id -> topic), a
    join, and the service task `then` if given, as external service tasks."""
    first_id, first_topic = first
    flows = "".join(
        f'<bpmn:sequenceFlow id="to_{element}" sourceRef="fork" targetRef="{element}"/>'
        f'<bpmn:serviceTask id="{element}" camunda:type="external" camunda:topic="{topic}"/>'
        f'<bpmn:sequenceFlow id="from_{element}" sourceRef="{element}" targetRef="join"/>'
        for element, topic in branches.items()
    )
    after = "end"
    tail = ""
    if then is not None:
        after = then[0]
        tail = (
            f'<bpmn:serviceTask id="{then[0]}" camunda:type="external" camunda:topic="{then[1]}"/>'
            f'<bpmn:sequenceFlow id="to_end" sourceRef="{then[0]}" targetRef="end"/>'
        )
    return process(
        key,
        f"""
        <bpmn:startEvent id="start"/>
        <bpmn:sequenceFlow id="to_first" sourceRef="start" targetRef="{first_id}"/>
        <bpmn:serviceTask id="{first_id}" camunda:type="external" camunda:topic="{first_topic}"/>
        <bpmn:sequenceFlow id="to_fork" sourceRef="{first_id}" targetRef="fork"/>
        <bpmn:parallelGateway id="fork"/>{flows}
        <bpmn:parallelGateway id="join"/>
        <bpmn:sequenceFlow id="after_join" sourceRef="join" targetRef="{after}"/>{tail}
        <bpmn:endEvent id="end"/>""",
    )


ZEEBE_HEADER = HEADER.replace(
    "<bpmn:definitions ", '<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
)


def c8(key: str, body: str) -> tuple[str, bytes]:
    xml = ZEEBE_HEADER + f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    return f"{key}.bpmn", xml.encode()


SIMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="{key}" name="Simple" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{task_id}"/>
    <bpmn:scriptTask id="{task_id}" scriptFormat="python"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="{task_id}" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def simple(key: str, script: str = "doubled = amount * 2", task_id: str = "compute") -> bytes:
    return SIMPLE.format(key=key, script=script, task_id=task_id).encode()


def scheduled(key: str, cycle: str, none_start: bool = False, header: str = HEADER) -> tuple[str, bytes]:
    """A process with a timer start event `tick` (and a none start event `manual`), each leading to its own script."""
    manual = """<bpmn:startEvent id="manual"/><bpmn:sequenceFlow id="m" sourceRef="manual" targetRef="by_hand"/>
      <bpmn:scriptTask id="by_hand"><bpmn:script>how = 'by hand'</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="m2" sourceRef="by_hand" targetRef="e"/>"""
    body = f"""<bpmn:startEvent id="tick"><bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle>
      </bpmn:timerEventDefinition></bpmn:startEvent>
      <bpmn:sequenceFlow id="t" sourceRef="tick" targetRef="on_time"/>
      <bpmn:scriptTask id="on_time"><bpmn:script>how = 'on time'</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="t2" sourceRef="on_time" targetRef="e"/>{manual if none_start else ""}
      <bpmn:endEvent id="e"/>"""
    xml = header + f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    return f"{key}.bpmn", xml.encode()


ESCALATING = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="review"/>
  <bpmn:userTask id="review" name="Review" camunda:assignee="alice" camunda:dueDate="2020-01-01T00:00:00Z"/>
  <bpmn:boundaryEvent id="late" attachedToRef="review">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT0.5S</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="b" sourceRef="review" targetRef="done"/><bpmn:endEvent id="done"/>
  <bpmn:sequenceFlow id="c" sourceRef="late" targetRef="manager"/>
  <bpmn:userTask id="manager" name="Manager decides" camunda:candidateGroups="managers" camunda:priority="90"/>
  <bpmn:sequenceFlow id="d" sourceRef="manager" targetRef="escalated"/><bpmn:endEvent id="escalated"/>"""


REFUND_FORM = {
    "id": "refund_form",
    "type": "default",
    "components": [
        {
            "key": "refund",
            "type": "number",
            "label": "Refund",
            "validate": {"required": True, "min": 1, "max": "=amount"},
        },
        {
            "key": "reason",
            "type": "textfield",
            "label": "Reason",
            "validate": {"minLength": "=if refund > 100 then 10 else null"},
        },
        {"key": "note", "type": "textfield", "label": "Note", "validate": {"maxLength": "=noteLimit"}},
        {
            "key": "approvalCode",
            "type": "textfield",
            "label": "Approval code",
            "validate": {"required": True},
            "conditional": {"hide": "=refund < 200"},
        },
    ],
}


def refund_with_form(key: str) -> tuple[str, bytes]:
    """A Camunda 8 refund task whose embedded form-js form has constraints written as FEEL (`"max": "=amount"`)."""
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="refund_task"/>
    <bpmn:userTask id="refund_task" name="Refund">
      <bpmn:extensionElements><zeebe:formDefinition formKey="camunda-forms:bpmn:refund_form"/></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="b" sourceRef="refund_task" targetRef="e"/><bpmn:endEvent id="e"/>"""
    name, xml = c8(key, body)
    form = f'<zeebe:userTaskForm id="refund_form">{escape(json.dumps(REFUND_FORM))}</zeebe:userTaskForm>'
    form = f"<bpmn:extensionElements>{form}</bpmn:extensionElements>"
    return name, xml.replace(b'isExecutable="true">', b'isExecutable="true">' + form.encode(), 1)


def signal_wait(key: str, signal: str) -> tuple[str, bytes]:
    """A process that waits at an intermediate catch event for the signal `signal`, then ends."""
    name, xml = process(key, """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_signal"/>
    <bpmn:intermediateCatchEvent id="wait_signal"><bpmn:signalEventDefinition signalRef="Sig_Wait"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait_signal" targetRef="done"/>
    <bpmn:endEvent id="done"/>""")  # fmt: skip
    definition = f'<bpmn:signal id="Sig_Wait" name="{signal}"/>'.encode()
    return name, xml.replace(b"<bpmn:process ", definition + b"<bpmn:process ", 1)


def laid_out(key: str, name: str, nodes: list[tuple[str, str, str]], flows: list[tuple[str, str, str]]) -> str:
    """A Camunda 7 diagram with its drawing (BPMN DI), as the modeler opens it: `nodes` are (id, element, name) laid
    out left to right, `flows` are (id, source, target) without conditions."""
    sizes = {"startEvent": (36, 36), "endEvent": (36, 36), "exclusiveGateway": (50, 50)}
    places = {}
    elements, shapes, edges = [], [], []
    for n, (node_id, element, label) in enumerate(nodes):
        width, height = sizes.get(element, (100, 80))
        x, y = 100 + n * 150, 100 + (n % 2) * 120
        places[node_id] = (x, y, width, height)
        elements.append(f'<bpmn:{element} id="{node_id}" name="{escape(label)}"/>')
        shapes.append(f'<bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}">'
                      f'<dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}"/></bpmndi:BPMNShape>')  # fmt: skip
    for flow_id, source, target in flows:
        elements.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>')
        (sx, sy, sw, sh), (tx, ty, _, th) = places[source], places[target]
        edges.append(f'<bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}">'
                     f'<di:waypoint x="{sx + sw}" y="{sy + sh // 2}"/><di:waypoint x="{tx}" y="{ty + th // 2}"/>'
                     "</bpmndi:BPMNEdge>")  # fmt: skip
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        f'id="Definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
        f'<bpmn:process id="{key}" name="{escape(name)}" isExecutable="true">{"".join(elements)}</bpmn:process>\n'
        f'<bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{key}">'
        f"{''.join(shapes)}{''.join(edges)}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n"
    )
