"""What the drawing's flows show before anything runs, in every process and subprocess:

- an exclusive gateway's flows without a condition that are not its default (every one of them: SpiffWorkflow
  stops at the first), an error: SpiffWorkflow cannot run such a gateway;
- elements that no flow leads to from a start (a stray task, an end event nobody reaches) and steps with no way on
  (a gateway, an event or a task with nothing going out), warnings: the orders that can run still run, but the
  drawing does not say what its author meant, and nothing would have told them.

Each problem names its element by its label (processes/deployment/labels.py) and says what to do."""

from __future__ import annotations

from collections import deque

from lxml import etree

from processes.errors import Problem

from .labels import label_of
from .parser import BPMN_NS, LoadedFile, element_type_of

B = f"{{{BPMN_NS}}}"
ACTIVITIES = {"subProcess", "adHocSubProcess", "transaction", "callActivity"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
CONTAINERS = {"process", "subProcess", "transaction"}  # an ad-hoc subprocess's steps need no flows


def flow_problems(loaded: LoadedFile) -> list[Problem]:
    problems: list[Problem] = []
    for container in loaded.root.iter(*(B + c for c in CONTAINERS)):
        if etree.QName(container).localname == "process" and container.get("isExecutable") == "false":
            continue
        problems.extend(_container_problems(loaded, container))
    return problems


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _is_node(element: etree._Element) -> bool:
    local = _local(element)
    return local in EVENTS or local in GATEWAYS or local in ACTIVITIES or local == "task" or local.endswith("Task")


def _has(element: etree._Element, definition: str) -> bool:
    return element.find(B + definition) is not None


def _container_problems(loaded: LoadedFile, container: etree._Element) -> list[Problem]:
    nodes = {n.get("id"): n for n in container if _is_node(n) and n.get("id")}
    flows = [f for f in container if _local(f) == "sequenceFlow"]
    outgoing: dict[str, list[etree._Element]] = {}
    incoming: dict[str, list[etree._Element]] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        incoming.setdefault(flow.get("targetRef"), []).append(flow)
    problems = [_bare_flow(loaded, nodes[gateway], flow) for gateway, flow in _bare_flows(nodes, outgoing)]

    def quiet(node: etree._Element) -> bool:
        """Elements flows do not concern: event subprocesses and compensation handlers are started otherwise."""
        return node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true"

    # Where orders start, and which link catch events a link throw jumps to (by the link's name).
    starts = [i for i, n in nodes.items() if _local(n) == "startEvent"]
    if not starts or len(nodes) == 1:
        # Nothing starts here (SpiffWorkflow says what is missing, or a caller starts it), or a new diagram that so
        # far is its start event: nothing to say yet.
        return problems
    links = {}
    for i, n in nodes.items():
        if _is_link(n) and _local(n) == "intermediateCatchEvent":
            links.setdefault(_link_name(n), []).append(i)
    attached: dict[str, list[str]] = {}
    for i, n in nodes.items():
        if _local(n) == "boundaryEvent":
            attached.setdefault(n.get("attachedToRef"), []).append(i)
    reached, queue = set(starts), deque(starts)
    while queue:
        here = queue.popleft()
        node = nodes.get(here)
        following = [f.get("targetRef") for f in outgoing.get(here, [])] + attached.get(here, [])
        if node is not None and _is_link(node) and _local(node) == "intermediateThrowEvent":
            following += links.get(_link_name(node), [])
        for target in following:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    for node_id, node in nodes.items():
        if quiet(node) or (_local(node) == "boundaryEvent" and _has(node, "compensateEventDefinition")):
            continue
        if node_id not in reached:
            problems.append(_unreached(loaded, node, bool(incoming.get(node_id))))
        elif not outgoing.get(node_id) and _needs_a_way_on(node):
            problems.append(_dead_end(loaded, node))
    return problems


def _is_link(node: etree._Element) -> bool:
    return _has(node, "linkEventDefinition")


def _link_name(node: etree._Element) -> str:
    return node.find(B + "linkEventDefinition").get("name") or ""


def _needs_a_way_on(node: etree._Element) -> bool:
    local = _local(node)
    if local == "endEvent" or (local == "intermediateThrowEvent" and _is_link(node)):
        return False
    return True


def _bare_flows(nodes: dict[str, etree._Element], outgoing: dict[str, list[etree._Element]]):
    """(gateway id, flow) for each flow out of an exclusive gateway with several ways on that has no condition and
    is not the gateway's default flow."""
    for gateway_id, gateway in nodes.items():
        flows = outgoing.get(gateway_id, [])
        if _local(gateway) != "exclusiveGateway" or len(flows) < 2:
            continue
        for flow in flows:
            condition = flow.find(B + "conditionExpression")
            has_condition = condition is not None and "".join(condition.itertext()).strip()
            if not has_condition and flow.get("id") != gateway.get("default"):
                yield gateway_id, flow


def _problem(loaded: LoadedFile, element: etree._Element, message: str, severity: str) -> Problem:
    return Problem(
        message=message,
        element_id=element.get("id"),
        element_type=element_type_of(element),
        file=loaded.name,
        line=element.sourceline,
        severity=severity,
    )


def _bare_flow(loaded: LoadedFile, gateway: etree._Element, flow: etree._Element) -> Problem:
    message = (
        f"it has no condition and is not the default flow of {label_of(gateway)}, so orderflow cannot tell when "
        "an order should take it: give it a condition (for example "
        "${inStock == true}), or make it the default flow, the way orders take when no other condition holds"
    )
    return _problem(loaded, flow, message, "error")


def _unreached(loaded: LoadedFile, node: etree._Element, has_incoming: bool) -> Problem:
    if _local(node) == "endEvent":
        message = "no flow from a start leads to this end event, so no order ever ends here"
    else:
        message = "no flow from a start leads here, so no order ever gets here"
    if has_incoming:
        message += " (the flows into it come only from steps that are not reached either)"
    message += ": connect it with a flow from the step before it, or delete it"
    return _problem(loaded, node, message, "warning")


def _dead_end(loaded: LoadedFile, node: etree._Element) -> Problem:
    message = (
        "nothing goes out of it, so an order that gets here stops without reaching an end event: draw a flow on "
        "to the next step, or to an end event"
    )
    return _problem(loaded, node, message, "warning")
