"""What changed between two versions of a diagram or decision: per element (added, removed, changed with what,
moved on the diagram) and line by line for the side-by-side XML view."""

from __future__ import annotations

import difflib
from typing import Any

from lxml import etree

from processes.deployment.parser import DMN_NAMESPACES, load_xml

DI_NAMESPACES = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DMN/20191111/DMNDI/",
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DI/",
)
CONTEXT_LINES = 3


def _name(element: etree._Element, attribute: str) -> str:
    """An attribute's name as the file writes it: camunda:topic, name."""
    qname = etree.QName(attribute)
    if qname.namespace is None:
        return qname.localname
    prefix = next((p for p, ns in (element.nsmap or {}).items() if ns == qname.namespace and p), None)
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def _is_di(element: etree._Element) -> bool:
    return etree.QName(element).namespace in DI_NAMESPACES


def _text(element: etree._Element) -> str:
    """An element without an id of its own, as one line: its attributes, text and children (without its tag)."""
    attributes = " ".join(f"{_name(element, k)}={v!r}" for k, v in sorted(element.attrib.items()))
    children = " ".join(_child(c) for c in element if isinstance(c.tag, str))
    text = (element.text or "").strip()
    return " ".join(part for part in (attributes, text, children) if part)


def _child(element: etree._Element) -> str:
    if element.get("id"):
        return f"[{element.get('id')}]"
    return f"({etree.QName(element).localname} {_text(element)})"


def _elements(root: etree._Element) -> dict[str, etree._Element]:
    """Every element with an id outside the diagram interchange (DI) part."""
    found = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.get("id") or _is_di(element):
            continue
        if any(_is_di(a) for a in element.iterancestors()):
            continue
        found[element.get("id")] = element
    return found


def _layout(root: etree._Element) -> dict[str, tuple]:
    """Where each element is drawn: its DI shape's or edge's attributes and geometry (bounds and waypoints, as
    numbers: 152 and 152.0 are the same place), by the id of the element it draws."""
    layout = {}
    for element in root.iter():
        drawn = isinstance(element.tag, str) and etree.QName(element).localname.endswith(("Shape", "Edge"))
        target = element.get("bpmnElement") or element.get("dmnElementRef")
        if not drawn or not target or not _is_di(element):
            continue
        attributes = tuple(sorted((k, v) for k, v in element.attrib.items() if k != "id"))
        geometry = tuple(
            (etree.QName(g).localname, tuple((k, float(v)) for k, v in sorted(g.attrib.items())))
            for g in element.iter()
            if isinstance(g.tag, str) and etree.QName(g).localname in ("Bounds", "waypoint")
        )
        layout[target] = (attributes, geometry)
    return layout


def _describe(element: etree._Element) -> dict[str, Any]:
    described = {"id": element.get("id"), "type": etree.QName(element).localname, "name": element.get("name")}
    owner = next((a for a in element.iterancestors() if a.get("id") and not _is_di(a)), None)
    if owner is not None and etree.QName(owner).localname in ("rule", "input", "output"):
        described["in"] = owner.get("id")  # a decision table cell: which rule or column
    return described


def _changes(old: etree._Element, new: etree._Element) -> list[str]:
    changes = []
    for attribute in sorted(set(old.attrib) | set(new.attrib)):
        if attribute == "id" or old.get(attribute) == new.get(attribute):
            continue
        before, after = old.get(attribute, "(none)"), new.get(attribute, "(none)")
        changes.append(f"{_name(new if attribute in new.attrib else old, attribute)}: {before} → {after}")
    if (old.text or "").strip() != (new.text or "").strip():
        changes.append(f"text: {(old.text or '').strip() or '(none)'} → {(new.text or '').strip() or '(none)'}")
    changes += _child_changes(old, new)
    return changes


def _child_changes(old: etree._Element, new: etree._Element) -> list[str]:
    """Children without an id, by tag: "conditionExpression: a → b" when there is one of a tag on each side,
    else what was added and removed ("outgoing: added Flow_2"). Children with an id are elements of their own."""
    changes = []
    tags: dict[str, tuple[list[str], list[str]]] = {}
    for side, parent in enumerate((old, new)):
        for child in parent:
            if isinstance(child.tag, str) and not child.get("id"):
                tags.setdefault(etree.QName(child).localname, ([], []))[side].append(_text(child) or "(empty)")
    for tag, (before, after) in tags.items():
        if before == after:
            continue
        if len(before) == 1 and len(after) == 1:
            changes.append(f"{tag}: {before[0]} → {after[0]}")
            continue
        changes += [f"{tag}: removed {text}" for text in before if text not in after]
        changes += [f"{tag}: added {text}" for text in after if text not in before]
        if sorted(before) == sorted(after):
            changes.append(f"{tag}: reordered")
    # The order of a process's elements means nothing (modelers write them in their own order); the order of a
    # decision table's rules and columns decides FIRST, RULE ORDER and output order.
    if etree.QName(new).namespace in DMN_NAMESPACES:
        ids = [[c.get("id") for c in parent if isinstance(c.tag, str) and c.get("id")] for parent in (old, new)]
        if ids[0] != ids[1] and sorted(ids[0]) == sorted(ids[1]):
            changes.append("reordered: " + ", ".join(ids[1]))
    return changes


def diff_versions(old_xml: str, new_xml: str) -> dict[str, Any]:
    """Elements added, removed and changed (with a line per change) from old to new, and the ones only moved."""
    old_root = load_xml("old.xml", old_xml.encode("utf-8")).root
    new_root = load_xml("new.xml", new_xml.encode("utf-8")).root
    old, new = _elements(old_root), _elements(new_root)
    changed = []
    for element_id in old.keys() & new.keys():
        changes = _changes(old[element_id], new[element_id])
        if changes:
            changed.append({**_describe(new[element_id]), "changes": changes})
    old_layout, new_layout = _layout(old_root), _layout(new_root)
    moved = sorted(
        i for i in old.keys() & new.keys() if i in old_layout and i in new_layout and old_layout[i] != new_layout[i]
    )
    order = {element_id: n for n, element_id in enumerate(new)}
    return {
        "added": [_describe(new[i]) for i in new if i not in old],
        "removed": [_describe(old[i]) for i in old if i not in new],
        "changed": sorted(changed, key=lambda c: order[c["id"]]),
        "moved": moved,
    }


def xml_side_by_side(old_xml: str, new_xml: str, context: int = CONTEXT_LINES) -> list[dict[str, Any]]:
    """Rows for a side-by-side view: kind (same, changed, removed, added, skipped), line numbers and text of each
    side. Unchanged stretches longer than twice `context` lines are cut to a `skipped` row."""
    left, right = old_xml.splitlines(), new_xml.splitlines()
    if left == right:
        return []
    rows: list[dict[str, Any]] = []
    for group in difflib.SequenceMatcher(None, left, right, autojunk=False).get_grouped_opcodes(context):
        if rows or group[0][1] > 0:
            rows.append({"kind": "skipped"})
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [
                    _row("same", i + 1, left[i], j + 1, right[j])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                i, j = i1 + k, j1 + k
                kind = "changed" if i < i2 and j < j2 else ("removed" if i < i2 else "added")
                rows.append(
                    _row(
                        kind,
                        i + 1 if i < i2 else None,
                        left[i] if i < i2 else "",
                        j + 1 if j < j2 else None,
                        right[j] if j < j2 else "",
                    )
                )
    if group[-1][2] < len(left):  # the last change is followed by more than the context
        rows.append({"kind": "skipped"})
    return rows


def _row(kind: str, left_no: int | None, left: str, right_no: int | None, right: str) -> dict[str, Any]:
    return {"kind": kind, "leftNo": left_no, "left": left, "rightNo": right_no, "right": right}
