"""The modeler's scenario run over its page session: the diagram as drawn (not deployed) against a scenario file,
answered with pass/fail per scenario and the coverage the canvas draws; a test order recorded as a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.sessions import logged_in

FULFILLMENT = ROOT / "bpmn" / "order_fulfillment.bpmn"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from app import create_app
    from app.setup import prepare

    data = tmp_path_factory.mktemp("scenarios-api")
    app = create_app(
        {
            "ORDERFLOW_DATA_DIR": str(data),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(data) / 'orderflow.db'}",
            "ORDERFLOW_DEPLOY_SHIPPED": True,
            "ORDERFLOW_DEMO_USERS": True,
            "ORDERFLOW_EMBEDDED_WORKERS": False,
        }
    )
    prepare(app)
    return app


def test_the_modeler_runs_the_shipped_scenarios_against_the_drawn_diagram(app) -> None:
    client, csrf = logged_in(app, "anna")
    shipped = client.get("/modeler/api/processes/order_fulfillment/scenarios").json
    assert shipped["name"] == "order_fulfillment.test.yaml" and "process: order_fulfillment" in shipped["text"]
    xml = FULFILLMENT.read_text(encoding="utf-8")

    ran = client.post(
        "/modeler/api/processes/order_fulfillment/scenarios/run",
        json={"xml": xml, "text": shipped["text"]},
        headers={"X-CSRFToken": csrf},
    )

    assert ran.status_code == 200, ran.get_data(as_text=True)
    assert ran.json["passed"] is True and len(ran.json["scenarios"]) == 3
    (coverage,) = ran.json["coverage"]
    assert coverage["flows"]["total"] == 15 and len(coverage["flows"]["covered"]) == 15

    # Drawn, not deployed: a flow whose condition was changed on the canvas fails a scenario.
    drawn = xml.replace("total &gt;= 1000", "total &gt;= 100000")
    failed = client.post(
        "/modeler/api/processes/order_fulfillment/scenarios/run",
        json={"xml": drawn, "text": shipped["text"]},
        headers={"X-CSRFToken": csrf},
    ).json
    assert failed["passed"] is False
    (first,) = [s for s in failed["scenarios"] if not s["passed"]]
    assert "instead of Flow_HighValue" in first["difference"]
    assert "Flow_HighValue" in failed["coverage"][0]["notCovered"]["flows"]


def test_an_invalid_scenario_file_is_a_problem_naming_the_field_and_approvers_may_not_run(app) -> None:
    client, csrf = logged_in(app, "anna")
    bad = client.post(
        "/modeler/api/processes/order_fulfillment/scenarios/run",
        json={"xml": FULFILLMENT.read_text(), "text": "process: order_fulfillment\nscenarios: []\n"},
        headers={"X-CSRFToken": csrf},
    )
    assert bad.status_code == 422
    assert "`scenarios` must list at least one scenario" in bad.json["detail"]

    approver, token = logged_in(app, "sam")
    refused = approver.post(
        "/modeler/api/processes/order_fulfillment/scenarios/run",
        json={"xml": FULFILLMENT.read_text(), "text": ""},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 403


def test_a_test_order_is_recorded_as_a_scenario_file(app) -> None:
    client, csrf = logged_in(app, "anna")
    order = {"items": [{"sku": "SKU-1004", "quantity": 1, "unitPrice": 25.5}], "shippingAddress": {"country": "DE"}}
    started = client.post(
        "/modeler/api/processes/order_fulfillment/test-orders",
        json={"variables": order, "businessKey": "TEST-REC-1"},
        headers={"X-CSRFToken": csrf},
    ).json

    recorded = client.post(f"/modeler/api/test-orders/{started['id']}/scenario", json={}, headers={"X-CSRFToken": csrf})

    assert recorded.status_code == 200
    document = yaml.safe_load(recorded.json["text"])
    assert document["process"] == "order_fulfillment"
    (scenario,) = document["scenarios"]
    assert scenario["start"] == {"businessKey": "TEST-REC-1", "variables": order}
    # No workers run in these tests: the order waits for its first jobs, and the recording says so.
    assert scenario["expect"]["status"] == "running"
    assert "Task_ValidateOrder" in scenario["expect"]["passes"]
