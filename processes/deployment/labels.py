"""How problems name an element to a person: by the label drawn on it, the id only when it has none. A sequence flow
is named by the steps it joins ("the flow from 'Check stock' to 'Ship'"), since flows rarely carry names."""

from __future__ import annotations

from lxml import etree

# What a person calls each kind of element (the XML's local name); kinds not listed are "the element".
KINDS = {
    "startEvent": "start event",
    "endEvent": "end event",
    "intermediateCatchEvent": "event",
    "intermediateThrowEvent": "event",
    "boundaryEvent": "boundary event",
    "exclusiveGateway": "gateway",
    "inclusiveGateway": "inclusive gateway",
    "parallelGateway": "parallel gateway",
    "eventBasedGateway": "event gateway",
    "complexGateway": "gateway",
    "subProcess": "subprocess",
    "adHocSubProcess": "subprocess",
    "transaction": "transaction",
    "callActivity": "call activity",
    "process": "process",
    "participant": "pool",
    "decision": "decision",
    "businessKnowledgeModel": "business knowledge model",
    "inputData": "input",
    "decisionTable": "decision table",
}


def kind_of(element: etree._Element) -> str:
    local = etree.QName(element).localname
    if local == "task" or local.endswith("Task"):
        return "task"
    return KINDS.get(local, "element")


def name_of(element: etree._Element) -> str:
    """The element's label in quotes, or its id when nothing is written on it."""
    name = " ".join((element.get("name") or "").split())
    return f"'{name}'" if name else f"'{element.get('id') or '?'}'"


def label_of(element: etree._Element) -> str:
    """ "the task 'Check stock'", "the flow from 'Check stock' to 'Ship'", "rule 3 of decision 'Discount'"."""
    local = etree.QName(element).localname
    if local == "sequenceFlow":
        root = element.getroottree().getroot()
        ends = [_by_id(root, element.get(end)) for end in ("sourceRef", "targetRef")]
        source, target = (_end(e, element.get(ref)) for e, ref in zip(ends, ("sourceRef", "targetRef"), strict=True))
        named = f" {name_of(element)}" if element.get("name") else ""
        return f"the flow{named} from {source} to {target}"
    if local == "rule":
        table = element.getparent()
        rows = [r for r in table if isinstance(r.tag, str) and etree.QName(r).localname == "rule"]
        decision = table.getparent()
        where = f" of decision {name_of(decision)}" if decision is not None and decision.get("id") else ""
        return f"rule {rows.index(element) + 1}{where}"
    return f"the {kind_of(element)} {name_of(element)}"


def _end(element: etree._Element | None, element_id: str | None) -> str:
    """One end of a flow: its label when it has one, else its kind and id."""
    if element is None:
        return f"'{element_id}'"
    return name_of(element) if (element.get("name") or "").strip() else f"the {kind_of(element)} {name_of(element)}"


def _by_id(root: etree._Element, element_id: str | None) -> etree._Element | None:
    if not element_id:
        return None
    found = root.xpath("//*[@id=$id]", id=element_id)
    return found[0] if found else None
