"""The committed browser bundles in app/static/vendor work in a real browser (Debian chromium through Playwright).

Each test loads the bundles the way a page will (script and link tags under /static/vendor), served by a small local
HTTP server, and fails on any script error, console error or failed request (a missing font or stylesheet included).
What the modelers save is read back by the engine, so a diagram edited in the browser is one orderflow can run.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.dmn import evaluate, parse
from tests.support.browser import Site, scripts, styles
from tests.support.paths import ROOT, SHIPPED

VENDOR = ROOT / "app" / "static" / "vendor"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
APPLICANT = {"Age": 30, "RiskCategory": "Low", "isAffordable": True}


def test_bundles_are_committed_with_their_licences() -> None:
    for name in ("bpmn-viewer.js", "bpmn-modeler.js", "dmn-modeler.js", "form-viewer.js", "htmx.min.js", "chart.js"):
        assert (VENDOR / name).stat().st_size > 10_000, name
        assert not (VENDOR / f"{name}.map").exists()
    index = (VENDOR / "LICENSES" / "INDEX.txt").read_text()
    for package in ("bpmn-js", "dmn-js", "@bpmn-io/form-js-viewer", "htmx.org", "uplot", "diagram-js"):
        assert f"\n{package}@" in index, package
    assert "watermark" in (VENDOR / "LICENSES" / "bpmn-js.txt").read_text()  # the bpmn.io terms travel with the code


def test_viewer_renders_the_shipped_workflow_and_marks_a_task(page, site: Site) -> None:
    problems = site.open(
        page,
        "viewer",
        styles("bpmn-viewer.css") + scripts("bpmn-viewer.js"),
        '<div id="canvas" style="width: 1200px; height: 600px"></div>',
    )
    warnings = page.evaluate(
        """async (xml) => {
            const viewer = new OrderflowBpmn.NavigatedViewer({ container: '#canvas' });
            const { warnings } = await viewer.importXML(xml);
            viewer.get('canvas').zoom('fit-viewport');
            viewer.get('canvas').addMarker('Task_ReserveInventory', 'orderflow-active');
            return warnings.map((warning) => warning.message);
        }""",
        SHIPPED.read_text(),
    )
    assert warnings == []
    task = page.locator('#canvas svg g.djs-element[data-element-id="Task_ReserveInventory"]')
    assert task.is_visible()
    assert "orderflow-active" in task.get_attribute("class").split()
    assert "Reserve inventory" in task.text_content()
    assert page.locator("#canvas .bjs-powered-by").is_visible()  # the bpmn.io licence requires the watermark
    assert problems == []


def test_modeler_edits_a_topic_in_the_properties_panel_and_the_engine_deploys_the_export(
    page, site: Site, engine: Engine
) -> None:
    problems = site.open(
        page,
        "modeler",
        styles("bpmn-modeler.css") + scripts("bpmn-modeler.js"),
        '<div id="canvas" style="width: 1000px; height: 600px; float: left"></div>'
        '<div id="properties" style="width: 320px; float: left"></div>',
    )
    warnings = page.evaluate(
        """async (xml) => {
            window.modeler = new OrderflowBpmnModeler.Modeler({
                container: '#canvas', propertiesPanel: { parent: '#properties' },
            });
            const { warnings } = await modeler.importXML(xml);
            modeler.get('canvas').zoom('fit-viewport');
            return warnings.map((warning) => warning.message);
        }""",
        SHIPPED.read_text(),
    )
    assert warnings == []
    assert page.evaluate("OrderflowBpmnModeler.camundaModdle.prefix") == "camunda"

    # as an analyst would: click the task, open its Camunda 7 implementation, change the topic
    page.click('#canvas [data-element-id="Task_ReserveInventory"]')
    assert "Reserve inventory" in page.inner_text("#properties .bio-properties-panel-header")
    page.click('#properties .bio-properties-panel-group-header:has-text("Implementation")')
    topic = page.locator("#properties #bio-properties-panel-externalTopic")
    assert topic.input_value() == "wms.reserve"
    topic.fill("wms.reserve-stock")
    topic.blur()
    page.wait_for_function("modeler.get('commandStack').canUndo()")
    assert page.evaluate("document.fonts.check('16px bpmn')")  # the palette's icon font loaded
    exported = page.evaluate("modeler.saveXML({ format: true }).then((result) => result.xml)")

    root = etree.fromstring(exported.encode())
    topics = {task.get("id"): task.get(f"{{{CAMUNDA}}}topic") for task in root.iter(f"{{{BPMN}}}serviceTask")}
    assert topics["Task_ReserveInventory"] == "wms.reserve-stock"
    assert topics["Task_AuthorizePayment"] == "payment.authorize"  # the rest is as it was
    result = deploy(engine, [("order_fulfillment.bpmn", exported.encode())])
    assert [d["key"] for d in result.definitions] == ["order_fulfillment"]

    reimported = page.evaluate(
        """async (xml) => {
            const again = new OrderflowBpmnModeler.Modeler({ container: '#canvas' });
            const { warnings } = await again.importXML(xml);
            return warnings.map((warning) => warning.message);
        }""",
        exported,
    )
    assert reimported == []
    assert problems == []


def test_dmn_modeler_opens_a_dmn_15_table_and_saves_an_edit_the_engine_evaluates(
    page, site: Site, conformance: Path
) -> None:
    original = (conformance / "dmn-tck" / "0004-simpletable-U.dmn").read_text()  # DMN 1.5, read only
    assert evaluate(parse(original), "Approval Status", APPLICANT).result == "Approved"
    problems = site.open(
        page,
        "dmn",
        styles("dmn-modeler.css") + scripts("dmn-modeler.js"),
        '<div id="editor" style="width: 1200px; height: 600px"></div>',
    )
    opened = page.evaluate(
        """async (xml) => {
            window.modeler = new OrderflowDmn.Modeler({ container: '#editor' });
            const { warnings } = await modeler.importXML(xml);
            const table = modeler.getViews().find((view) => view.type === 'decisionTable');
            await modeler.open(table);
            return { warnings: warnings.map((warning) => warning.message), name: table.name };
        }""",
        original,
    )
    assert opened == {"warnings": [], "name": "Approval Status"}
    assert page.locator("#editor .tjs-table tbody tr").count() == 4  # the table's four rules
    assert page.locator("#editor .bjs-powered-by").is_visible()

    approved = page.locator('#editor tbody td.output-cell:has-text("\\"Approved\\"")').first
    approved.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"Declined"')  # rule 1 now declines affordable low-risk adults
    page.click("#editor .decision-table-name")  # leave the cell
    page.wait_for_function("modeler.getActiveViewer().get('commandStack').canUndo()")
    saved = page.evaluate("modeler.saveXML({ format: true }).then((result) => result.xml)")

    assert etree.QName(etree.fromstring(saved.encode())).namespace == DMN13  # what dmn-js writes
    assert evaluate(parse(saved), "Approval Status", APPLICANT).result == "Declined"
    assert problems == []


def test_form_viewer_reports_a_missing_required_field(page, site: Site) -> None:
    problems = site.open(page, "form", styles("form-viewer.css") + scripts("form-viewer.js"), '<div id="form"></div>')
    schema = {
        "type": "default",
        "id": "approve_order",
        "components": [
            {"type": "textfield", "id": "reason", "key": "reason", "label": "Reason", "validate": {"required": True}},
            {"type": "button", "id": "submit", "key": "submit", "label": "Approve", "action": "submit"},
        ],
    }
    page.evaluate(
        """async (schema) => {
            window.submitted = null;
            const form = new OrderflowForms.Form({ container: document.querySelector('#form') });
            await form.importSchema(schema);
            form.on('submit', (event) => { window.submitted = { data: event.data, errors: event.errors }; });
        }""",
        schema,
    )
    page.get_by_role("button", name="Approve").click()
    page.wait_for_function("window.submitted !== null")
    assert list(page.evaluate("window.submitted.errors")) == ["reason"]
    assert page.locator(".fjs-form-field-error").inner_text().strip() == "Field is required."

    page.evaluate("window.submitted = null")
    page.get_by_label("Reason").fill("known customer")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_function("window.submitted !== null")
    assert page.evaluate("window.submitted") == {"data": {"reason": "known customer"}, "errors": {}}
    assert page.locator(".fjs-powered-by").count() == 1
    assert problems == []


def test_uplot_draws_a_chart(page, site: Site) -> None:
    problems = site.open(page, "chart", styles("chart.css") + scripts("chart.js"), '<div id="chart"></div>')
    page.evaluate(
        """() => {
            const options = {
                width: 400, height: 200, series: [{}, { label: 'orders', stroke: 'red', width: 2 }],
                hooks: { draw: [(chart) => { window.chart = chart; }] },
            };
            new uPlot(options, [[1, 2, 3, 4], [5, 1, 7, 3]], document.querySelector('#chart'));
        }"""
    )
    page.wait_for_function("window.chart !== undefined")  # uPlot draws on the next frame
    painted = page.evaluate(
        """() => {
            const canvas = chart.ctx.canvas;
            const pixels = chart.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let red = 0;
            for (let i = 0; i < pixels.length; i += 4) if (pixels[i] > 200 && pixels[i + 1] < 80) red++;
            return red;
        }"""
    )
    assert painted > 100  # the series line is on the canvas
    assert page.locator("#chart .u-legend").inner_text().count("orders") == 1
    assert problems == []


def test_htmx_swaps_in_a_fetched_fragment(page, site: Site) -> None:
    (site.root / "fragment.html").write_text("<p id='fragment'>three orders waiting</p>")
    problems = site.open(
        page,
        "htmx",
        scripts("htmx.min.js"),
        '<button hx-get="/fragment.html" hx-target="#inbox">Refresh</button><div id="inbox"></div>',
    )
    assert page.evaluate("htmx.version").startswith("2.")
    page.get_by_role("button", name="Refresh").click()
    assert page.locator("#inbox #fragment").inner_text() == "three orders waiting"
    assert problems == []
