"""`orderflow test`: scenario files run on the real engine in process (in-memory SQLite, virtual clock, connectors
answered by the scenario). The shipped story's scenarios pass with every flow covered; a broken gateway condition
fails a scenario with the flow taken instead; reports, exit codes and recording do what a user reads in the README."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from click.testing import CliRunner

from app.cli import main
from app.testing import SuiteResult, junit, load, parse, record, run_paths, run_texts, write_html
from app.testing.runner import Runner
from processes.errors import ScenarioInvalid
from tests.support.paths import ROOT

SHIPPED = ROOT / "bpmn"


@pytest.fixture(scope="module")
def story() -> SuiteResult:
    return run_paths([SHIPPED])


def copy_of_shipped(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "bpmn"
    folder.mkdir()
    for path in SHIPPED.iterdir():
        if not names or path.name in names:
            shutil.copy(path, folder / path.name)
    return folder


def test_the_shipped_scenarios_pass_and_cover_every_flow_of_the_order_story(story: SuiteResult) -> None:
    assert [r.scenario.name for r in story.results if not r.passed] == []
    assert len(story.results) >= 20
    coverage = {c.diagram.file.name: c for c in story.diagrams}
    management = coverage["order_management.bpmn"]
    assert len(management.diagram.flows) == 108
    assert set(management.diagram.flows) - management.flows == set()
    assert set(management.diagram.elements) - management.elements == set()
    rules = {d.table.key: d for d in story.decisions}
    assert {"Rule_Valid", "Rule_BadAddress", "Rule_DoubtfulAddress", "Rule_KeyAccountBadAddress"} <= rules[
        "order_validation"
    ].hit


def test_the_approval_timeout_fires_on_the_virtual_clock(story: SuiteResult) -> None:
    escalated = next(r for r in story.results if r.scenario.name == "an approval left too long escalates to management")
    events = escalated.outcome.events
    started = datetime.fromisoformat(events[0]["at"].rstrip("Z"))
    escalation = next(e for e in events if e["type"] == "task_created" and e["elementId"] == "Task_EscalateApproval")
    # Web orders wait two days for an approval (order_settings.dmn): the escalation came two days later, virtually.
    assert (datetime.fromisoformat(escalation["at"].rstrip("Z")) - started).days >= 2


def test_a_broken_gateway_condition_fails_with_the_flow_taken_instead(tmp_path: Path) -> None:
    folder = copy_of_shipped(tmp_path)
    diagram = folder / "order_management.bpmn"
    text = diagram.read_text(encoding="utf-8")
    # The first such condition is Flow_AllOnHand's (the one after the recheck stays right).
    broken = text.replace('${stockStatus == "in_stock"}', '${stockStatus == "in stock"}', 1)
    assert broken != text
    diagram.write_text(broken, encoding="utf-8")

    result = run_paths([folder], only="a domestic order in stock ships")

    (failed,) = result.results
    assert not failed.passed
    assert "at Gateway_InStock (All on hand?) the order took flow Flow_NotAllOnHand (no)" in failed.difference
    assert "instead of Flow_AllOnHand (yes)" in failed.difference


def test_junit_report_is_xml_with_a_failure_for_each_failing_scenario(tmp_path: Path) -> None:
    folder = copy_of_shipped(tmp_path, "order_fulfillment.bpmn", "order_fulfillment.test.yaml")
    scenarios = folder / "order_fulfillment.test.yaml"
    scenarios.write_text(
        scenarios.read_text().replace(
            "variables: {paymentStatus: captured, trackingNumber: TRK-1}", "variables: {paymentStatus: refunded}"
        ),
        encoding="utf-8",
    )
    result = run_paths([folder])

    suites = ElementTree.fromstring(junit(result))
    cases = suites.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [s.name for s in load(scenarios)]
    failures = [(c.get("name"), c.find("failure").get("message")) for c in cases if c.find("failure") is not None]
    assert failures == [
        ("an order over 1000 is flagged and ships", "variable paymentStatus: expected 'refunded', got 'captured'")
    ]
    assert suites.find("testsuite").get("failures") == "1"


def test_coverage_counts_what_the_scenarios_passed_and_the_report_draws_it(tmp_path: Path) -> None:
    models = [(p.name, p.read_bytes()) for p in [SHIPPED / "order_fulfillment.bpmn"]]
    only_small = yaml.safe_load((SHIPPED / "order_fulfillment.test.yaml").read_text())
    only_small["scenarios"] = [
        s for s in only_small["scenarios"] if s["name"] == "a small order ships without the flag"
    ]

    result = run_texts(models, [("order_fulfillment.test.yaml", yaml.safe_dump(only_small))])

    (coverage,) = result.diagrams
    assert set(coverage.diagram.flows) - coverage.flows == {"Flow_Invalid", "Flow_HighValue", "Flow_HighValueFlagged"}
    assert set(coverage.diagram.elements) - coverage.elements == {"Task_FlagHighValue", "EndEvent_OrderRejected"}
    assert (len(coverage.flows), len(coverage.diagram.flows)) == (12, 15)
    page = write_html(result, tmp_path / "coverage")
    assert {p.name for p in page.parent.iterdir()} >= {"index.html", "bpmn-viewer.js", "coverage.js"}
    assert "Flows <strong>12/15 (80%)</strong>" in page.read_text()


def test_the_cli_exits_0_when_all_pass_1_when_one_fails_2_when_a_file_is_invalid(tmp_path: Path) -> None:
    folder = copy_of_shipped(tmp_path, "order_fulfillment.bpmn", "order_fulfillment.test.yaml")
    runner = CliRunner()
    junit_file = tmp_path / "junit.xml"

    passing = runner.invoke(main, ["test", str(folder), "--junit", str(junit_file), "--coverage", str(tmp_path / "c")])
    assert passing.exit_code == 0, passing.output
    assert "3 of 3 scenarios passed" in passing.output
    assert "coverage order_fulfillment.bpmn: flows 15/15 (100%)" in passing.output
    assert ElementTree.parse(junit_file).getroot().tag == "testsuites"

    scenarios = folder / "order_fulfillment.test.yaml"
    scenarios.write_text(scenarios.read_text().replace("end: EndEvent_OrderRejected", "end: EndEvent_OrderShipped"))
    failing = runner.invoke(main, ["test", str(folder), "--coverage", str(tmp_path / "c")])
    assert failing.exit_code == 1
    assert "FAIL  order_fulfillment.test.yaml: an order without a country is rejected" in failing.output
    assert "at Gateway_OrderValid" in failing.output

    scenarios.write_text(scenarios.read_text().replace("expect:", "expects:", 1))
    invalid = runner.invoke(main, ["test", str(folder)])
    assert invalid.exit_code == 2
    assert "unknown field(s) expects" in invalid.output


def test_an_invalid_scenario_names_the_file_the_scenario_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioInvalid, match="the key 'scenarios' is given twice"):
        parse("process: p\nscenarios: [{name: a}]\nscenarios: [{name: b}]\n", Path("twice.test.yaml"))
    file = tmp_path / "x.test.yaml"
    file.write_text("process: p\nscenarios:\n  - name: one\n    connectors:\n      wms.reserve: {reply: {}}\n")
    with pytest.raises(ScenarioInvalid) as raised:
        load(file)
    assert "x.test.yaml: one.connectors.wms.reserve: an answer is one of result, error, fail, discrepancy" in str(
        raised.value
    )


def test_an_order_walked_through_is_recorded_as_a_scenario_that_passes() -> None:
    models = [(p.name, p.read_bytes()) for p in SHIPPED.iterdir() if p.suffix in (".bpmn", ".dmn")]
    declined = next(s for s in load(SHIPPED / "order_management.test.yaml") if s.name.startswith("a declined card"))
    runner = Runner(models)
    outcome = runner.run(declined)

    text = record(runner.engine, outcome.instance_id)

    recorded = yaml.safe_load(text)["scenarios"][0]
    assert recorded["connectors"]["Task_AuthorizePayment"][0] == {"error": "PAYMENT_DECLINED"}
    assert recorded["steps"] == [
        {"message": "payment-details-updated", "variables": {"paymentMethod": {"type": "card", "last4": "4242"}}}
    ]
    assert recorded["expect"]["variables"] == {"orderOutcome": "readyToShip"}
    replayed = run_texts(models, [("recorded.test.yaml", text)])
    assert [r.difference for r in replayed.results] == [None]


def test_the_readme_example_is_a_scenario_file_orderflow_reads() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The scenario format", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]

    (scenario,) = parse(example, Path("order_management.test.yaml"))

    assert scenario.business_key == "ORDER-7"
    assert [a.kind for a in scenario.answers["payment.authorize"]] == ["error", "result"]
    assert scenario.variables["customer"]["name"] == "Grace Hopper"
    assert scenario.steps[0].when == "Task_AwaitPaymentDetails"


REVIEWS_AND_INCIDENTS = """
process: order_fulfillment
defaults:
  start:
    variables:
      items: [{sku: SKU-1004, quantity: 1, unitPrice: 25.5}]
      shippingAddress: {street: 1 Main St, city: Berlin, postalCode: "10115", country: DE}
  connectors:
    wms.reserve: {result: {reservationId: RES-1}}
    payment.authorize: {result: {paymentAuthorizationId: AUTH-1}}
    payment.capture: {result: {paymentCaptureId: CAP-1, paymentStatus: captured}}
    wms.ship: {result: {shipmentId: SH-1}}
scenarios:
  - name: a reviewer accepts a reservation that differs from what was asked
    connectors:
      wms.reserve: {discrepancy: {code: RESERVATION_DISCREPANCY, asked: {quantity: 1}, got: {quantity: 2},
                                  variables: {reservationId: RES-9}}}
    steps:
      - review: Task_ReserveInventory
        by: olga
        groups: [reviewers]
    expect:
      end: EndEvent_OrderShipped
      variables: {reservationId: RES-9}
  - name: a warehouse down on every retry is the incident expected
    connectors:
      wms.ship: {fail: warehouse down}
    expect:
      status: incident
      incidents: [{element: Task_ShipOrder, message: warehouse down}]
  - name: a reviewer outside the reviewers group may not decide
    connectors:
      wms.reserve: {discrepancy: {code: RESERVATION_DISCREPANCY, asked: {quantity: 1}, got: {quantity: 2}}}
    steps:
      - review: Task_ReserveInventory
        by: sam
        groups: [sales]
    expect:
      end: EndEvent_OrderShipped
"""


def test_reviews_retries_into_incidents_and_who_may_act_run_as_in_production() -> None:
    models = [("order_fulfillment.bpmn", (SHIPPED / "order_fulfillment.bpmn").read_bytes())]

    result = run_texts(models, [("reviews.test.yaml", REVIEWS_AND_INCIDENTS)])

    accepted, incident, refused = result.results
    assert accepted.passed and incident.passed, (accepted.difference, incident.difference)
    # Retried on the warehouse's own policy (3 attempts) on the virtual clock before the incident opened.
    assert incident.outcome.calls.count("wms.ship at Task_ShipOrder: fail warehouse down") == 3
    assert refused.difference.startswith("Forbidden: ")
