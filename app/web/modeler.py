"""The modeler pages: what is deployed, the BPMN and DMN editors (bpmn-js, dmn-js), each one's version history and
a side-by-side comparison of two versions. The editors talk to the engine through modeler_api.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from processes import modeling
from processes.errors import InvalidInput, NotFound

from ..services import services
from .args import whole_number
from .people import page_requires

bp = Blueprint("web_modeler", __name__, url_prefix="/modeler")
KINDS = {"processes": "process", "decisions": "decision"}


def _kind(kinds: str) -> str:
    if kinds not in KINDS:
        raise NotFound(f"no page /modeler/{kinds}: processes or decisions")
    return KINDS[kinds]


@bp.get("")
@page_requires("modeler")
def index():
    engine = services().engine
    return render_template(
        "modeler/index.html", processes=modeling.process_catalog(engine), decisions=modeling.decision_catalog(engine)
    )


@bp.get("/<kinds>/new")
@page_requires("modeler")
def new(kinds: str):
    kind = _kind(kinds)
    name = request.args.get("name", "").strip()
    typed = request.args.get("key", "").strip()
    if not name:
        flash(f"Give the new {kind} a name.", "error")
        return redirect(url_for(".index"))
    key = typed or _key_of_its_own(kind, name)
    try:
        modeling.check_key(key)
        modeling.definition_version(services().engine, kind, key)
    except InvalidInput as exc:
        flash(exc.detail, "error")
        return redirect(url_for(".index"))
    except NotFound:
        blank = modeling.blank_process if kind == "process" else modeling.blank_decision
        return _editor(kind, {"key": key, "name": name, "version": None, "xml": blank(key, name)})
    flash(f"A {kind} with the key {key} exists already: here it is. Deploying it makes a new version.", "info")
    return redirect(url_for(".edit", kinds=kinds, key=key))


def _key_of_its_own(kind: str, name: str) -> str:
    """The key made from the name, numbered (`ri_ben_2`) while another name has it already: names that read the
    same in ASCII ('日本', 'Ri Ben') keep apart. A deployed one of the same name is opened instead (below)."""
    base = modeling.key_from_name(name)
    for number in range(1, 1000):
        key = base if number == 1 else f"{base[: modeling.MAX_DERIVED_KEY - 4]}_{number}"
        try:
            deployed = modeling.definition_version(services().engine, kind, key)
        except NotFound:
            return key
        if (deployed.get("name") or "").strip() == name:
            return key
    return base


@bp.get("/<kinds>/<key>")
@page_requires("modeler")
def edit(kinds: str, key: str):
    kind = _kind(kinds)
    definition = modeling.definition_version(
        services().engine, kind, key, request.args.get("version", type=whole_number)
    )
    return _editor(kind, definition)


def _editor(kind: str, definition: dict[str, Any]):
    latest = None
    if definition.get("version") is not None:
        latest = modeling.definition_version(services().engine, kind, definition["key"])["version"]
    return render_template(f"modeler/{kind}.html", definition=definition, latest=latest)


@bp.get("/<kinds>/<key>/versions")
@page_requires("modeler")
def versions(kinds: str, key: str):
    kind = _kind(kinds)
    history = modeling.version_history(services().engine, kind, key)
    return render_template("modeler/versions.html", kind=kind, kinds=kinds, key=key, versions=history)


@bp.get("/<kinds>/<key>/diff")
@page_requires("modeler")
def diff(kinds: str, key: str):
    kind = _kind(kinds)
    engine = services().engine
    base = request.args.get("base", type=whole_number)
    to = request.args.get("to", type=whole_number)
    if base is None or to is None or base == to:
        flash("Pick two different versions to compare.", "error")
        return redirect(url_for(".versions", kinds=kinds, key=key))
    old = modeling.definition_version(engine, kind, key, min(base, to))
    new_ = modeling.definition_version(engine, kind, key, max(base, to))
    return render_template(
        "modeler/diff.html",
        kind=kind,
        kinds=kinds,
        key=key,
        old=old,
        new=new_,
        changes=modeling.diff_versions(old["xml"], new_["xml"]),
        rows=modeling.xml_side_by_side(old["xml"], new_["xml"]),
    )
