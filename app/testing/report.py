"""The reports of a test run: lines for the terminal, JUnit XML for CI, and an HTML page that draws each diagram
with what the scenarios covered (bpmn-js viewer, copied next to the page from app/static/vendor: no network)."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

from app.testing.suite import SuiteResult

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = ("vendor/bpmn-viewer.js", "vendor/bpmn-viewer.css", "coverage.js", "coverage.css")


def text_report(result: SuiteResult) -> str:
    lines = []
    for r in result.results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"{mark}  {r.scenario.title}")
        if not r.passed:
            lines.append(f"      {r.difference}")
    passed = sum(r.passed for r in result.results)
    lines.append("")
    lines.append(f"{passed} of {len(result.results)} scenarios passed")
    for c in result.diagrams:
        lines.append(
            f"coverage {c.diagram.file.name}: flows {len(c.flows)}/{len(c.diagram.flows)} ({c.flow_share:.0%}), "
            f"elements {len(c.elements)}/{len(c.diagram.elements)} ({c.element_share:.0%})"
        )
    for d in result.decisions:
        lines.append(f"rules {d.table.key}: {len(d.hit & set(d.table.rules))}/{len(d.table.rules)} hit")
    return "\n".join(lines)


def junit(result: SuiteResult) -> str:
    """One testsuite per scenario file, one testcase per scenario; a failure carries the first difference."""
    root = ElementTree.Element("testsuites", name="orderflow test")
    by_file: dict[str, list] = {}
    for r in result.results:
        by_file.setdefault(r.scenario.file.name, []).append(r)
    for file, results in by_file.items():
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(results)),
            failures=str(sum(not r.passed for r in results)),
            errors="0",
        )
        for r in results:
            case = ElementTree.SubElement(suite, "testcase", classname=file, name=r.scenario.name)
            if not r.passed:
                failure = ElementTree.SubElement(case, "failure", message=r.difference or "")
                failure.text = "\n".join([r.difference or "", "", "connector calls:", *r.outcome.calls])
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def write_html(result: SuiteResult, directory: Path) -> Path:
    """index.html in `directory`, with the viewer and the drawing script copied beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS:
        shutil.copyfile(STATIC / asset, directory / Path(asset).name)
    sections = []
    for index, coverage in enumerate(result.diagrams):
        name = coverage.diagram.file.name
        data = json.dumps({**coverage.as_json(), "xml": coverage.diagram.xml}).replace("</", "<\\/")
        missing = coverage.as_json()["notCovered"]
        sections.append(
            f"<section><h2>{html.escape(name)}</h2>"
            f"<p>Flows <strong>{len(coverage.flows)}/{len(coverage.diagram.flows)} ({coverage.flow_share:.0%})"
            f"</strong>, elements <strong>{len(coverage.elements)}/{len(coverage.diagram.elements)} "
            f"({coverage.element_share:.0%})</strong>. Covered steps and flows are green; the others red.</p>"
            + (
                f"<p>Not covered: {html.escape(', '.join(missing['flows'] + missing['elements']))}</p>"
                if missing["flows"] or missing["elements"]
                else ""
            )
            + f'<div class="coverage-diagram" id="diagram-{index}"></div>'
            f'<script type="application/json" class="coverage-data" data-for="diagram-{index}">{data}</script>'
            "</section>"
        )
    rows = "".join(
        f"<tr><td>{'pass' if r.passed else '<strong>FAIL</strong>'}</td><td>{html.escape(r.scenario.title)}</td>"
        f"<td>{html.escape(r.difference or '')}</td></tr>"
        for r in result.results
    )
    rules = "".join(
        f"<tr><td>{html.escape(d.table.key)}</td><td>{len(d.hit & set(d.table.rules))}/{len(d.table.rules)}</td>"
        f"<td>{html.escape(', '.join(r for r in d.table.rules if r not in d.hit))}</td></tr>"
        for d in result.decisions
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>orderflow test: coverage</title>
<link rel="stylesheet" href="bpmn-viewer.css"><link rel="stylesheet" href="coverage.css"></head>
<body class="coverage-report"><h1>Scenario coverage</h1>
<table><tr><th></th><th>scenario</th><th>first difference</th></tr>{rows}</table>
{"".join(sections)}
<h2>Decision rules hit</h2><table><tr><th>decision</th><th>rules hit</th><th>not hit</th></tr>{rules}</table>
<script src="bpmn-viewer.js"></script><script src="coverage.js"></script></body></html>"""
    target = directory / "index.html"
    target.write_text(page, encoding="utf-8")
    return target
