"""What the browser modeler asks of the engine, without a browser: the variables a diagram knows, the differences
between two versions, lint against what is deployed, blank diagrams that deploy; over REST (bearer tokens) and over
the modeler pages' own JSON calls (session login, CSRF header, analyst role)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.instances import start_instance
from processes.modeling import (
    blank_decision,
    blank_process,
    diff_versions,
    key_from_name,
    known_variables,
    lint,
    xml_side_by_side,
)
from processes.modeling.variables import names_read
from tests.support.paths import DIAGRAMS, SHIPPED
from tests.support.sessions import logged_in

TOKEN = "modeling-token"

KNOWS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="knows" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="tier" label="Customer tier" type="enum">
          <camunda:value id="gold" name="Gold"/><camunda:value id="silver" name="Silver"/>
        </camunda:formField>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="price"/>
    <bpmn:scriptTask id="price" name="Price it" scriptFormat="python">
      <bpmn:script>total = sum(line['amount'] for line in lines)</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="price" targetRef="rate"/>
    <bpmn:businessRuleTask id="rate" name="Rate it" camunda:decisionRef="discount" camunda:resultVariable="discount"
        camunda:mapDecisionResult="singleEntry"/>
    <bpmn:sequenceFlow id="f3" sourceRef="rate" targetRef="check"/>
    <bpmn:userTask id="check" name="Check it">
      <bpmn:extensionElements>
        <camunda:formData><camunda:formField id="approved" label="Approve?" type="boolean"/></camunda:formData>
        <camunda:inputOutput><camunda:outputParameter name="checkedBy">${currentUser}</camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="check" targetRef="gate"/>
    <bpmn:exclusiveGateway id="gate" default="f6"/>
    <bpmn:sequenceFlow id="f5" name="big and approved" sourceRef="gate" targetRef="done">
      <bpmn:conditionExpression>${approved &amp;&amp; customer.country == "DE" &amp;&amp; total &gt;= 1000}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="gate" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>
"""


def by_name(variables: list[dict]) -> dict[str, dict]:
    return {v["name"]: v for v in variables}


def test_known_variables_come_from_forms_scripts_decisions_outputs_and_conditions() -> None:
    decisions = [
        {
            "key": "discount",
            "name": "Discount",
            "inputs": [{"expression": "total", "typeRef": "number", "label": "Order total"}],
        }
    ]
    found = by_name(known_variables(None, KNOWS, decisions))
    assert found["tier"]["options"] == [{"id": "gold", "name": "Gold"}, {"id": "silver", "name": "Silver"}]
    assert found["tier"]["startValue"] and found["tier"]["label"] == "Customer tier"  # asked at the start
    assert (
        found["approved"]["type"] == "boolean" and found["approved"]["writes"] and not found["approved"]["startValue"]
    )
    assert found["total"]["sources"][0] == "set by script 'Price it'" and found["total"]["type"] == "number"
    assert "input of decision 'Discount'" in found["total"]["sources"] and not found["total"]["startValue"]
    assert found["lines"]["startValue"]  # the script reads it and nothing sets it: a test order must bring it
    assert found["discount"]["sources"] == ["result of 'Rate it'"]
    assert found["checkedBy"]["sources"] == ["output of 'Check it'"]
    country = found["customer.country"]
    assert (country["type"], country["example"], country["startValue"]) == ("string", "DE", True)
    assert "line" in found and "sum" not in found  # builtins are not variables


def test_names_read_by_expressions_in_each_dialect() -> None:
    assert names_read('${customer.tier == "gold" && total > 10 && !empty note && name.contains("x")}') == [
        "customer.tier",
        "total",
        "note",
        "name",
    ]
    assert names_read('=amount > 100 and customer.tier = "gold"') == ["amount", "customer.tier"]
    assert names_read("total >= 1000 and not blocked") == ["total", "blocked"]
    assert names_read("${orderService.isBig(total)}") == ["total"]  # a bean call is no variable; its argument is


def test_start_variables_of_earlier_orders_are_known_with_an_example(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    order = {"items": [{"sku": "A", "quantity": 1, "unitPrice": 5.0}], "shippingAddress": {}, "rush": True}
    start_instance(engine, "order_fulfillment", variables=order, business_key="EARLIER-1")
    found = by_name(known_variables(engine, SHIPPED.read_text(), key="order_fulfillment"))
    assert found["items"]["example"] == order["items"] and found["items"]["type"] == "object"
    assert found["rush"]["startValue"] and found["rush"]["sources"] == ["start variable of earlier orders"]
    assert found["valid"]["writes"] and not found["valid"]["startValue"]


def test_diff_names_what_changed_per_element() -> None:
    old = SHIPPED.read_text()
    new = (
        old.replace('camunda:topic="wms.reserve"', 'camunda:topic="wms.reserve-stock"')
        .replace("total &gt;= 1000", "total &gt;= 2000")
        .replace(
            '<bpmn:scriptTask id="Task_FlagHighValue" name="Flag high-value order"',
            '<bpmn:scriptTask id="Task_FlagHighValue" name="Flag big order"',
        )
        .replace('<dc:Bounds x="152"', '<dc:Bounds x="160"', 1)
    )
    changes = diff_versions(old, new)
    changed = {c["id"]: c["changes"] for c in changes["changed"]}
    assert changed["Task_ReserveInventory"] == ["camunda:topic: wms.reserve → wms.reserve-stock"]
    assert changed["Task_FlagHighValue"] == ["name: Flag high-value order → Flag big order"]
    assert any("total >= 2000" in line for line in changed["Flow_HighValue"])
    assert changes["moved"] == ["StartEvent_OrderReceived"] and changes["added"] == changes["removed"] == []
    assert diff_versions(old, old) == {"added": [], "removed": [], "changed": [], "moved": []}


def test_diff_of_decisions_names_the_rule_of_a_changed_cell_and_added_rules() -> None:
    old = blank_decision("discount", "Discount")
    new = old.replace("<text>5</text>", "<text>7</text>").replace(
        "    </decisionTable>",
        '      <rule id="Rule_3"><inputEntry id="InputEntry_3"><text>&gt; 5000</text></inputEntry>'
        '<outputEntry id="OutputEntry_3"><text>9</text></outputEntry></rule>\n    </decisionTable>',
    )
    changes = diff_versions(old, new)
    assert changes["changed"][-1] == {
        "id": "OutputEntry_2",
        "type": "outputEntry",
        "name": None,
        "in": "Rule_2",
        "changes": ["text: 5 → 7"],
    }
    assert [a["id"] for a in changes["added"]] == ["Rule_3", "InputEntry_3", "OutputEntry_3"]


def test_side_by_side_rows_show_changes_with_context() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 10", "line ten").replace("line 20", "line 20\nline 21")
    rows = xml_side_by_side(old, new)
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "skipped" and kinds.count("changed") == 1 and kinds[-1] == "added"
    changed = next(r for r in rows if r["kind"] == "changed")
    assert (changed["leftNo"], changed["left"], changed["rightNo"], changed["right"]) == (10, "line 10", 10, "line ten")
    assert rows[-1] == {"kind": "added", "leftNo": None, "left": "", "rightNo": 21, "right": "line 21"}
    assert xml_side_by_side(old, old) == []


def test_blank_diagrams_deploy_and_the_decision_decides(engine: Engine) -> None:
    assert (
        key_from_name("Approve big Orders!") == "approve_big_orders" and key_from_name("1st try") == "process_1st_try"
    )
    result = deploy(
        engine,
        [
            ("new.bpmn", blank_process("approve_big", "Approve <big> orders").encode()),
            ("discount.dmn", blank_decision("discount", "Discount").encode()),
        ],
    )
    assert [(d["key"], d["name"]) for d in result.definitions] == [("approve_big", "Approve <big> orders")]
    from processes.features.decisions import evaluate_decision

    assert evaluate_decision(engine, "discount", {"total": 1500})["result"] == 5
    with pytest.raises(Exception, match="key '1x'"):
        blank_process("1x", "x")


def test_lint_checks_references_against_what_is_deployed(engine: Engine) -> None:
    rate = KNOWS.encode()
    report = lint(engine, [("knows.bpmn", rate)])
    assert [(p["elementId"], p["severity"]) for p in report["errors"]] == [("rate", "error")]
    assert "decision 'discount' is not deployed" in report["errors"][0]["message"]
    deploy(engine, [("discount.dmn", blank_decision("discount", "Discount").encode())])
    assert lint(engine, [("knows.bpmn", rate)])["errors"] == []
    broken = lint(engine, [("broken.bpmn", b"<bpmn:definitions")])
    assert broken["errors"][0]["message"].startswith("broken.bpmn: not well-formed XML")
    condition = KNOWS.replace("total &gt;= 1000", "total &gt;=")
    found = lint(engine, [("knows.bpmn", condition.encode())])["errors"]
    assert [p["elementId"] for p in found] == ["gate"] and "condition of flow 'f5'" in found[0]["message"]


# -- over HTTP ---------------------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path):
    from app import create_app
    from app.setup import prepare

    app = create_app(
        {
            "ORDERFLOW_DATA_DIR": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'orderflow.db'}",
            "ORDERFLOW_API_TOKEN": TOKEN,
            "ORDERFLOW_DEPLOY_SHIPPED": True,
            "ORDERFLOW_DEMO_USERS": True,
            "ORDERFLOW_EMBEDDED_WORKERS": False,
        }
    )
    prepare(app)  # what `orderflow serve` does before serving: schema, shipped workflows, demo users
    return app


@pytest.fixture
def rest(app) -> Iterator[FlaskClient]:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    yield client


def test_rest_lint_versions_diff_and_topics(rest: FlaskClient) -> None:
    shipped = SHIPPED.read_bytes()
    changed = shipped.replace(b'camunda:topic="wms.reserve"', b'camunda:topic="wms.reserve-stock"')
    linted = rest.post("/api/v1/lint", data={"files": (io.BytesIO(changed), "order.bpmn")})
    assert linted.status_code == 200 and linted.json["errors"] == []
    assert rest.get("/api/v1/process-definitions/order_fulfillment/versions").json["items"][0]["version"] == 1

    deployed = rest.post("/api/v1/deployments", data={"files": (io.BytesIO(changed), "order.bpmn")})
    assert deployed.status_code == 201
    versions = rest.get("/api/v1/process-definitions/order_fulfillment/versions").json["items"]
    assert [(v["version"], v["createdBy"]) for v in versions] == [(2, "admin"), (1, "orderflow")]
    diff = rest.get("/api/v1/process-definitions/order_fulfillment/diff?base=1").json
    assert (diff["base"], diff["to"]) == (1, 2)
    assert diff["changed"] == [
        {
            "id": "Task_ReserveInventory",
            "type": "serviceTask",
            "name": "Reserve inventory",
            "changes": ["camunda:topic: wms.reserve → wms.reserve-stock"],
        }
    ]
    assert "payment.authorize" in rest.get("/api/v1/connectors/topics").json["items"]
    variables = by_name(rest.get("/api/v1/process-definitions/order_fulfillment/variables").json["items"])
    assert variables["items"]["startValue"] and variables["valid"]["writes"]
    missing = rest.get("/api/v1/process-definitions/nope/versions")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"


def test_rest_decisions_list_their_columns_and_xml(rest: FlaskClient) -> None:
    dmn = (DIAGRAMS / "approval_rules.dmn").read_bytes()
    assert rest.post("/api/v1/deployments", data={"files": (io.BytesIO(dmn), "rules.dmn")}).status_code == 201
    decisions = {d["key"]: d for d in rest.get("/api/v1/decision-definitions").json["items"]}
    levels = decisions["approval_levels"]
    assert [i["expression"] for i in levels["inputs"]] == ["amount", "category"]
    assert [o["name"] for o in levels["outputs"]] == ["level", "group"] and levels["hitPolicy"] == "COLLECT"
    xml = rest.get("/api/v1/decision-definitions/approval_levels/xml")
    assert xml.status_code == 200 and xml.get_data() == dmn
    assert rest.get("/api/v1/decision-definitions/approval_levels/versions").json["items"][0]["createdBy"] == "admin"


def test_rest_modeling_needs_the_right_role(app, rest: FlaskClient) -> None:
    from processes.identity import create_token

    token = create_token(app.extensions["orderflow"].engine, "ivan", "ci")["token"]  # an integrator
    response = app.test_client().post("/api/v1/lint", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert app.test_client().get("/api/v1/connectors/topics").status_code == 401


def test_pages_deploy_with_the_session_and_a_csrf_header(app) -> None:
    client, csrf = logged_in(app, "anna")
    catalog = client.get("/modeler/api/catalog").json
    assert "sales" in [g["id"] for g in catalog["groups"]] and "payment.authorize" in catalog["topics"]
    assert "order_fulfillment" in [p["key"] for p in catalog["processes"]]  # the shipped ones are deployed

    files = {"files": [{"name": "approve_big.bpmn", "xml": blank_process("approve_big", "Approve big")}]}
    refused = client.post("/modeler/api/deploy", json=files)  # no CSRF header: a forged request
    assert refused.status_code == 400 and "CSRF" in refused.json["detail"]
    linted = client.post("/modeler/api/lint", json=files, headers={"X-CSRFToken": csrf})
    assert linted.status_code == 200 and linted.json == {"errors": [], "warnings": []}
    deployed = client.post("/modeler/api/deploy", json=files, headers={"X-CSRFToken": csrf})
    assert deployed.status_code == 201 and deployed.json["definitions"][0]["version"] == 1
    versions = (
        app.test_client()
        .get("/api/v1/process-definitions/approve_big/versions", headers={"Authorization": f"Bearer {TOKEN}"})
        .json["items"]
    )
    assert versions[0]["createdBy"] == "anna"  # the history says who deployed from the browser

    broken = {
        "files": [
            {
                "name": "x.bpmn",
                "xml": blank_process("x", "x")
                .replace('isExecutable="true"', "")
                .replace("<bpmn:startEvent", "<bpmn:complexGateway id='cg'/><bpmn:startEvent"),
            }
        ]
    }
    rejected = client.post("/modeler/api/deploy", json=broken, headers={"X-CSRFToken": csrf})
    assert rejected.status_code == 422 and rejected.content_type == "application/problem+json"
    assert rejected.json["problems"][0]["elementId"] == "cg"


def test_pages_start_a_test_order_and_follow_it(app) -> None:
    client, csrf = logged_in(app, "anna")
    order = {"items": [{"sku": "SKU-1", "quantity": 0, "unitPrice": 5}], "shippingAddress": {"country": "DE"}}
    started = client.post(
        "/modeler/api/processes/order_fulfillment/test-orders", json={"variables": order}, headers={"X-CSRFToken": csrf}
    )
    assert started.status_code == 201 and started.json["businessKey"].startswith("TEST-")
    progress = client.get(f"/modeler/api/test-orders/{started.json['id']}").json
    assert progress["status"] == "completed"  # no items with a quantity: rejected at once
    assert progress["passed"][:3] == ["StartEvent_OrderReceived", "Task_ValidateOrder", "Gateway_OrderValid"]
    assert "EndEvent_OrderRejected" in progress["passed"] and "Task_ShipOrder" not in progress["passed"]
    variables = client.post(
        "/modeler/api/variables",
        json={"xml": SHIPPED.read_text(), "key": "order_fulfillment"},
        headers={"X-CSRFToken": csrf},
    ).json["items"]
    assert by_name(variables)["items"]["example"] == order["items"]  # the test order is an example now
    bad = client.post(
        "/modeler/api/processes/order_fulfillment/test-orders", json={"variables": [1]}, headers={"X-CSRFToken": csrf}
    )
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"


def test_pages_evaluate_a_deployed_decision(app) -> None:
    client, csrf = logged_in(app, "anna")
    files = {"files": [{"name": "discount.dmn", "xml": blank_decision("discount", "Discount")}]}
    assert client.post("/modeler/api/deploy", json=files, headers={"X-CSRFToken": csrf}).status_code == 201
    decided = client.post(
        "/modeler/api/decisions/discount/evaluate", json={"variables": {"total": 2000}}, headers={"X-CSRFToken": csrf}
    )
    assert (decided.json["result"], decided.json["matchedRules"]) == (5, ["Rule_2"])
    unknown = client.post("/modeler/api/decisions/nope/evaluate", json={}, headers={"X-CSRFToken": csrf})
    assert unknown.status_code == 404


def test_pages_json_is_for_analysts_only(app) -> None:
    assert app.test_client().get("/modeler/api/catalog").status_code == 401
    client, _ = logged_in(app, "sam")  # an approver
    answer = client.get("/modeler/api/catalog")
    assert answer.status_code == 403 and "sam has no role that opens the modeler" in answer.json["detail"]
    assert client.get("/modeler").status_code == 403
    admin, _ = logged_in(app, "admin")
    assert admin.get("/modeler").status_code == 200


def test_diff_ignores_the_order_of_process_elements_but_not_of_rules() -> None:
    shipped = SHIPPED.read_text()
    start = shipped.index("    <bpmn:startEvent")
    end = shipped.index("    <bpmn:scriptTask")
    moved = shipped[:start] + shipped[end:].replace("  </bpmn:process>", shipped[start:end] + "  </bpmn:process>", 1)
    assert diff_versions(shipped, moved)["changed"] == []
    rules = blank_decision("discount", "Discount")
    first, second = rules.index('      <rule id="Rule_1">'), rules.index('      <rule id="Rule_2">')
    end = rules.index("    </decisionTable>")
    swapped = rules[:first] + rules[second:end] + rules[first:second] + rules[end:]
    assert diff_versions(rules, swapped)["changed"][0]["changes"] == ["reordered: Input_1, Output_1, Rule_2, Rule_1"]


def test_new_processes_get_readable_keys_of_their_own(app, rest: FlaskClient) -> None:
    """Keys made from names: other scripts transliterated, long names cut at a word, and numbered while another
    deployed process has the key; a process of the same name is opened instead."""
    client, _ = logged_in(app, "anna")

    def key_of_new(name: str) -> str:
        page = client.get("/modeler/processes/new", query_string={"name": name})
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        return re.search(r'id="process-key"[^>]*>([^<]+)<', page.get_data(as_text=True)).group(1)

    assert key_of_new("日本") == "ri_ben"
    assert key_of_new("Заказ принят") == "zakaz_prinyat"
    long_key = key_of_new("Approve " + "very " * 60 + "big orders")
    assert len(long_key) <= 60 and long_key.startswith("approve_very_") and not long_key.endswith("_")
    deployed = rest.post("/api/v1/deployments", data={"files": (io.BytesIO(blank_process("ri_ben", "日本").encode()),
                                                                  "ri_ben.bpmn")})  # fmt: skip
    assert deployed.status_code == 201, deployed.get_data(as_text=True)
    assert key_of_new("Ri Ben") == "ri_ben_2"  # another name that reads the same in ASCII
    same = client.get("/modeler/processes/new", query_string={"name": "日本"})  # the deployed one itself
    assert same.status_code == 302 and same.headers["Location"].endswith("/modeler/processes/ri_ben")
