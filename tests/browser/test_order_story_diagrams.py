"""The shipped diagrams as an analyst meets them: plain BPMN 2.0 and DMN 1.3 with Camunda 7 extensions, every
element drawn (full DI), lint-clean, rendered by the bpmn-js viewer and opened by the modeler and dmn-js without a
warning, and what the modeler saves still deploys."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from app.features import default_features
from processes.core.engine import Engine
from processes.deployment.deployments import deploy, lint_files
from tests.support.browser import Site, scripts, styles
from tests.support.paths import ROOT

SHIPPED_DIR = ROOT / "bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DMNDI = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
DRAWN = ("sequenceFlow", "association", "subProcess", "boundaryEvent", "startEvent", "endEvent", "exclusiveGateway",
         "parallelGateway", "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent", "serviceTask",
         "userTask", "scriptTask", "businessRuleTask", "receiveTask", "callActivity", "task")  # fmt: skip
STORY = ["order_management.bpmn", "order_intake.bpmn"]
DECISIONS = sorted(p.name for p in SHIPPED_DIR.glob("*.dmn"))


def shipped() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(SHIPPED_DIR.glob("*.bpmn")) + sorted(SHIPPED_DIR.glob("*.dmn"))]


def test_the_shipped_files_lint_clean_together() -> None:
    errors, warnings, parsed = lint_files(
        shipped(), features=default_features(), known_processes=lambda key: None, known_decisions=[]
    )
    assert errors == [] and warnings == []
    assert {p.key for p in parsed.processes} == {"order_fulfillment", "order_management", "order_intake"}


@pytest.mark.parametrize("name", STORY)
def test_every_element_of_the_story_is_drawn(name: str) -> None:
    root = etree.parse(str(SHIPPED_DIR / name)).getroot()
    drawn = {e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge")}
    elements = [e.get("id") for tag in DRAWN for e in root.iter(f"{{{BPMN}}}{tag}")]
    assert elements and [e for e in elements if e not in drawn] == []
    namespaces = {etree.QName(e).namespace for e in root.iter() if isinstance(e.tag, str)}
    assert namespaces <= {BPMN, BPMNDI, "http://www.omg.org/spec/DD/20100524/DC",
                          "http://www.omg.org/spec/DD/20100524/DI", "http://camunda.org/schema/1.0/bpmn"}  # fmt: skip


@pytest.mark.parametrize("name", DECISIONS)
def test_every_decision_is_drawn_in_its_drd(name: str) -> None:
    root = etree.parse(str(SHIPPED_DIR / name)).getroot()
    drawn = {e.get("dmnElementRef") for e in root.iter(f"{{{DMNDI}}}DMNShape")}
    decisions = {e.get("id") for e in root if etree.QName(e).localname == "decision"}
    assert decisions and decisions <= drawn


@pytest.mark.parametrize("name", STORY)
def test_the_viewer_renders_the_story_and_the_modeler_round_trips_it(
    page,
    site: Site,
    engine: Engine,
    name: str,
) -> None:
    xml = (SHIPPED_DIR / name).read_text()
    problems = site.open(
        page,
        "story",
        styles("bpmn-viewer.css", "bpmn-modeler.css") + scripts("bpmn-viewer.js", "bpmn-modeler.js"),
        '<div id="canvas" style="width: 1600px; height: 700px"></div>'
        '<div id="edit" style="width: 1600px; height: 700px"></div>',
    )
    rendered = page.evaluate(
        """async (xml) => {
            const viewer = new OrderflowBpmn.NavigatedViewer({ container: '#canvas' });
            const { warnings } = await viewer.importXML(xml);
            viewer.get('canvas').zoom('fit-viewport');
            const modeler = new OrderflowBpmnModeler.Modeler({ container: '#edit' });
            const opened = await modeler.importXML(xml);
            const { xml: saved } = await modeler.saveXML({ format: true });
            return { warnings: warnings.map((w) => w.message), modeler: opened.warnings.map((w) => w.message), saved };
        }""",
        xml,
    )
    assert rendered["warnings"] == [] and rendered["modeler"] == []
    drawn = page.locator("#canvas svg g.djs-element[data-element-id]").count()
    assert drawn >= (200 if name == "order_management.bpmn" else 5)
    if name == "order_management.bpmn":
        task = page.locator('#canvas svg g.djs-element[data-element-id="Task_AuthorizePayment"]')
        assert task.is_visible() and "Authorize payment" in task.text_content()
    # What Camunda Modeler's engine (bpmn-js with the Camunda moddle) saves is still the shipped story.
    others = [(n, d) for n, d in shipped() if n != name]
    result = deploy(engine, [*others, (name, rendered["saved"].encode())])
    assert name.removesuffix(".bpmn") in {d["key"] for d in result.definitions}
    assert problems == []


def test_dmn_js_opens_every_decision_table(page, site: Site) -> None:
    problems = site.open(
        page, "decisions", styles("dmn-modeler.css") + scripts("dmn-modeler.js"),
        '<div id="editor" style="width: 1400px; height: 600px"></div>',
    )  # fmt: skip
    for name in DECISIONS:
        opened = page.evaluate(
            """async (xml) => {
                const modeler = new OrderflowDmn.Modeler({ container: '#editor' });
                const { warnings } = await modeler.importXML(xml);
                const table = modeler.getViews().find((view) => view.type === 'decisionTable');
                await modeler.open(table);
                const rows = document.querySelectorAll('#editor .tjs-table tbody tr').length;
                modeler.destroy();
                return { warnings: warnings.map((w) => w.message), rows };
            }""",
            Path(SHIPPED_DIR / name).read_text(),
        )
        assert opened["warnings"] == [] and opened["rows"] >= 3, (name, opened)
    assert problems == []
