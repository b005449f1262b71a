"""What the drawing's flows show before anything runs, in every process and subprocess (all warnings: the orders
that can run still run, as Camunda 7 runs them, but the drawing does not do what its author meant, and nothing
would have told them):

- flows out of an exclusive gateway that no order can take. orderflow runs a flow without a condition as Camunda 7
  does (parser.GatewayParser): the gateway tries its flows in the order the XML lists them and takes the first
  that holds, and a flow without a condition always holds. So after such a flow, every flow listed later and the
  default flow are dead; each of them is named, and so is the flow without a condition that takes their orders
  (one listed last, after flows with conditions, is the "otherwise" of Camunda 7 and fine);
- elements that no flow leads to from a start (a stray task, an end event nobody reaches);
- steps with no way on (a gateway, an event or a task with nothing going out).

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
    problems = [p for i, n in nodes.items() if _local(n) == "exclusiveGateway" for p in _dead_flows(loaded, n,
                outgoing.get(i, []))]  # fmt: skip

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


def _dead_flows(loaded: LoadedFile, gateway: etree._Element, flows: list[etree._Element]) -> list[Problem]:
    """The flows out of an exclusive gateway that no order takes because a flow without a condition is listed before
    them (or, for the default flow, anywhere), and that flow itself."""
    default = gateway.get("default")
    bare = [f for f in flows if f.get("id") != default and not _condition(f)]
    if not bare:
        return []
    first = bare[0]
    after = flows[flows.index(first) + 1 :]
    dead = [f for f in after if f.get("id") != default] + [f for f in flows if f.get("id") == default]
    if not dead:
        return []  # listed last, after flows with conditions: the gateway's "otherwise", as in Camunda 7
    first_label = label_of(first)
    problems = [
        _problem(
            loaded,
            first,
            "it has no condition, so every order that gets here takes it: the gateway tries its flows in the order "
            f"they are listed and takes the first that holds, so {_and(label_of(f) for f in dead)} "
            f"{'is' if len(dead) == 1 else 'are'} never taken: give it a condition, or make it the default flow "
            "(taken when no other condition holds)",
            "warning",
        )
    ]
    for flow in dead:
        why = "it is the default flow, taken only when no other flow holds" if flow.get("id") == default else (
            "it is listed after it")  # fmt: skip
        problems.append(
            _problem(
                loaded,
                flow,
                f"no order ever takes it: {first_label} has no condition, so orders always take that one ({why}): "
                "give that flow a condition, or make it the default flow",
                "warning",
            )
        )
    return problems


def _condition(flow: etree._Element) -> bool:
    condition = flow.find(B + "conditionExpression")
    return condition is not None and bool("".join(condition.itertext()).strip())


def _and(labels) -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _problem(loaded: LoadedFile, element: etree._Element, message: str, severity: str) -> Problem:
    return Problem(
        message=message,
        element_id=element.get("id"),
        element_type=element_type_of(element),
        file=loaded.name,
        line=element.sourceline,
        severity=severity,
    )


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
