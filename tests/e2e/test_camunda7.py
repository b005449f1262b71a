"""Camunda 7 diagrams unchanged: JUEL calls of Java beans answered by registered Python functions (pizza-order),
reflective escapes refused, and the engine-level helpers these tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.features import build_engine, default_features
from inbox.tasks import complete_task
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.deployment.deployments import deploy, lint_files
from processes.errors import DeploymentRejected
from processes.expressions import beans, juel
from processes.expressions.beans import BeanError, Execution
from processes.instances import get_instance, start_instance
from processes.jobs.incidents import retry_incident
from processes.jobs.service import JobService
from tests.support.diagrams import process


def engine_with(db_url: str, bean_registry: beans.Beans | None) -> Engine:
    """An engine on an already migrated database, with these beans registered."""
    return build_engine(make_session_factory(make_engine(db_url)), settings=EngineSettings(beans=bean_registry))


def view(engine: Engine, instance_id: str) -> dict[str, Any]:
    return get_instance(engine, instance_id)


def complete_user_task(engine: Engine, instance_id: str, element_id: str, **variables: Any) -> None:
    """What an approver does in the inbox: complete the ready user task of this element."""
    active = view(engine, instance_id)["activeElements"]
    task = next(e for e in active if e["elementId"] == element_id and e.get("humanTaskId"))
    complete_task(engine, task["humanTaskId"], variables, "anna")


# -- pizza-order: a Camunda 7 example whose gateway and service tasks call a Java bean -----------------------------


class PizzaShop:
    """The application behind pizza-order, in Python: what camunda-get-started-javaee's OrderBusinessLogic does."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.rejection_mails: list[str] = []

    def persist_order(self, execution: Execution) -> None:
        order_id = f"P-{len(self.orders) + 1}"
        self.orders[order_id] = {"customer": execution.get_variable("customer"), "approved": False}
        execution.set_variable("orderId", order_id)

    def get_order(self, order_id: str) -> dict[str, Any]:
        return dict(self.orders[order_id])

    def reject_order(self, execution: Execution) -> None:
        order = self.orders[execution.get_variable("orderId")]
        self.rejection_mails.append(f"Sorry {order['customer']}, business key {execution.business_key}")

    def beans(self) -> beans.Beans:
        return {
            "orderBusinessLogic": {
                "persistOrder": self.persist_order,
                "getOrder": self.get_order,
                "rejectOrder": self.reject_order,
            }
        }


@pytest.fixture
def pizza(conformance: Path) -> tuple[str, bytes]:
    return "pizza-order.bpmn", (conformance / "camunda7" / "pizza-order.bpmn").read_bytes()


def test_pizza_order_lints_with_warnings_naming_each_bean_call(pizza) -> None:
    errors, warnings, _ = lint_files([pizza], features=default_features())
    assert errors == []
    by_element = {}
    for warning in warnings:
        by_element.setdefault(warning.element_id, []).append(warning)
    gateway = by_element["ExclusiveGateway_07926wc"]
    assert [(w.line, "orderBusinessLogic.getOrder()" in w.message) for w in gateway] == [(24, True), (31, True)]
    assert "flow 'SequenceFlow_10r7cva'" in gateway[0].message
    assert "orderBusinessLogic.persistOrder()" in by_element["ServiceTask_0lrmoed"][0].message


def test_pizza_order_deploys_and_runs_to_its_end_with_a_registered_bean(db_url, engine: Engine, pizza) -> None:
    shop = PizzaShop()
    with_beans = engine_with(db_url, shop.beans())
    result = deploy(with_beans, [pizza])
    assert result.definitions[0]["key"] == "orderPizza"
    assert result.warnings == []  # every bean it calls is registered

    # Approved: Persist Order (the bean sets orderId), Approve Order, the gateway asks the bean, Prepare Pizza.
    started = start_instance(with_beans, "orderPizza", variables={"customer": "Ada"}, business_key="pizza-1")
    instance_id = started.instance["id"]
    assert view(with_beans, instance_id)["variables"]["orderId"] == "P-1"
    shop.orders["P-1"]["approved"] = True  # what the application's approval form saves
    complete_user_task(with_beans, instance_id, "UserTask_0b3v36h")
    complete_user_task(with_beans, instance_id, "UserTask_19diw18")
    done = view(with_beans, instance_id)
    assert done["status"] == "completed", done
    assert shop.rejection_mails == []

    # Rejected: the gateway's other condition, then the rejection service task calls the bean.
    rejected_id = start_instance(with_beans, "orderPizza", variables={"customer": "Bo"}, business_key="pizza-2")
    rejected_id = rejected_id.instance["id"]
    complete_user_task(with_beans, rejected_id, "UserTask_0b3v36h")
    assert view(with_beans, rejected_id)["status"] == "completed"
    assert shop.rejection_mails == ["Sorry Bo, business key pizza-2"]
    events = [e["elementId"] for e in with_beans_events(with_beans, rejected_id)]
    assert "ServiceTask_1w32ybd" in events and "EndEvent_064cd62" in events


def with_beans_events(engine: Engine, instance_id: str) -> list[dict[str, Any]]:
    from processes.instances import instance_events

    return [e for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]


def test_an_unregistered_bean_is_an_incident_on_the_gateway_and_a_retry_with_it_goes_on(
    db_url, engine: Engine, pizza
) -> None:
    result = deploy(engine, [pizza])  # no beans on this server: warnings, not a refusal
    warned = {(w.element_id, w.line) for w in result.warnings}
    assert {("ExclusiveGateway_07926wc", 24), ("ExclusiveGateway_07926wc", 31), ("ServiceTask_0lrmoed", 8)} <= warned

    instance_id = start_instance(engine, "orderPizza", variables={"orderId": "P-7"}).instance["id"]
    # Its service task became an external-worker job named after the expression; a worker does the persisting.
    jobs = JobService(engine, lambda job: {})
    claimed = jobs.claim("worker", topics=["${orderBusinessLogic.persistOrder(execution)}"])
    assert [j.element_id for j in claimed] == ["ServiceTask_0lrmoed"]
    jobs.run(claimed[0])
    complete_user_task(engine, instance_id, "UserTask_0b3v36h")
    stopped = view(engine, instance_id)
    assert stopped["status"] == "incident"
    incident = stopped["incidents"][0]
    assert incident["elementId"] == "ExclusiveGateway_07926wc"
    assert "bean 'orderBusinessLogic' is not registered" in incident["message"]
    assert "getOrder" in incident["message"] and "Traceback" not in incident["message"]

    # The same database, a server with the bean: the operator retries and the order goes on.
    shop = PizzaShop()
    shop.orders["P-7"] = {"customer": "Cy", "approved": True}
    with_beans = engine_with(db_url, shop.beans())
    outcome = retry_incident(with_beans, incident["id"])
    assert outcome.result == "retried", outcome
    assert [e["elementId"] for e in view(with_beans, instance_id)["activeElements"]] == ["UserTask_19diw18"]


def test_a_failing_bean_in_a_service_task_is_an_incident_there(db_url, engine: Engine) -> None:
    def persist(execution: Execution) -> None:
        raise RuntimeError("database is read-only")

    with_beans = engine_with(db_url, {"orders": {"persist": persist}})
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="save"/>
      <bpmn:serviceTask id="save" camunda:expression="${orders.persist(execution)}"/>
      <bpmn:sequenceFlow id="b" sourceRef="save" targetRef="e"/><bpmn:endEvent id="e"/>"""
    deploy(with_beans, [process("failing_bean", body)])
    stopped = view(with_beans, start_instance(with_beans, "failing_bean").instance["id"])
    assert stopped["status"] == "incident" and stopped["jobs"] == []
    assert stopped["incidents"][0]["elementId"] == "save"
    assert "orders.persist() failed: RuntimeError: database is read-only" in stopped["incidents"][0]["message"]


def test_a_bean_result_variable_is_stored(db_url, engine: Engine) -> None:
    with_beans = engine_with(db_url, {"pricing": {"total": lambda items: sum(i["price"] for i in items)}})
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="sum"/>
      <bpmn:serviceTask id="sum" camunda:expression="${pricing.total(items)}" camunda:resultVariable="total"/>
      <bpmn:sequenceFlow id="b" sourceRef="sum" targetRef="e"/><bpmn:endEvent id="e"/>"""
    deploy(with_beans, [process("bean_result", body)])
    items = [{"price": 2}, {"price": 3.5}]
    done = view(with_beans, start_instance(with_beans, "bean_result", variables={"items": items}).instance["id"])
    assert done["status"] == "completed" and done["variables"]["total"] == 5.5


# -- what an expression can and cannot reach ---------------------------------------------------------------------

ESCAPES = [
    "${''.getClass().forName('java.lang.Runtime')}",
    "${orderBusinessLogic.getClass()}",
    "${orderBusinessLogic.class}",
    "${x.__class__}",
    "${orderBusinessLogic.__init__()}",
    "${orderBusinessLogic._private()}",
    "${execution.getProcessEngineServices().getRuntimeService()}",
    "${Runtime.getRuntime().exec('id')}",
    "${orderBusinessLogic.getOrder(1).getClass()}",
    "${orderBusinessLogic.invoke('x')}",
]


@pytest.mark.parametrize("condition", ESCAPES)
def test_reflective_escapes_stay_refused_at_deploy(engine: Engine, condition: str) -> None:
    body = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>
      <bpmn:exclusiveGateway id="gw" default="no"/>
      <bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="e1">
        <bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="no" sourceRef="gw" targetRef="e2"/>
      <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>"""
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("escape", body)])
    errors = [p for p in rejected.value.problems if p.severity == "error"]
    assert [p.element_id for p in errors] == ["gw"], rejected.value.problems


def run(text: str, variables: dict | None = None, registered: beans.Beans | None = None) -> Any:
    """As the engine evaluates a condition: a read-only execution of business key B-1."""
    variables = variables or {}
    execution = Execution({"businessKey": "B-1"}, variables)
    return juel.evaluate(text, variables, context={"execution": execution}, beans=registered)


def test_a_bean_method_gets_values_and_returns_plain_data() -> None:
    registered = {"orders": {"getOrder": lambda order_id: {"id": order_id, "lines": [{"qty": 2}]}}}
    assert run("${orders.getOrder(orderId).lines[0].qty * 10}", {"orderId": "O-1"}, registered) == 20
    assert juel.bean_calls("${orders.getOrder(a) && stock.has(b).size() > 0}") == [
        ("orders", "getOrder"),
        ("stock", "has"),
    ]


def test_a_variable_of_the_same_name_wins_over_a_bean_as_in_camunda() -> None:
    registered = {"orders": {"size": lambda: 99}}
    assert run("${orders.size()}", {"orders": [1, 2]}, registered) == 2


@pytest.mark.parametrize(
    "text, registered, fragment",
    [
        ("${orders.getOrder(1)}", {}, "bean 'orders' is not registered"),
        ("${orders.remove(1)}", {"orders": {"getOrder": lambda i: i}}, "has no method 'remove' registered"),
        ("${orders.getOrder(1)}", {"orders": {"getOrder": lambda i: object()}}, "returned a object"),
        ("${orders.getOrder(1)}", {"orders": {"getOrder": lambda i: 1 / 0}}, "ZeroDivisionError"),
        ("${orders}", {"orders": {"getOrder": lambda i: i}}, "can only have its methods called"),
        ("${orders.name}", {"orders": {"getOrder": lambda i: i}}, "property 'name' not found on a bean"),
        ("${orders.getOrder(orders)}", {"orders": {"getOrder": lambda i: i}}, "cannot be passed"),
        ("${orders.setFlag(execution)}", {"orders": {"setFlag": lambda e: e.set_variable("x", 1)}}, "must not"),
    ],
)
def test_bean_calls_fail_clearly(text: str, registered, fragment: str) -> None:
    with pytest.raises(juel.JuelError, match=fragment):
        run(text, {}, registered)


def test_a_bean_sees_the_execution_it_is_called_for() -> None:
    seen = []
    registered = {"audit": {"note": lambda execution: seen.append((execution.business_key, execution.variables))}}
    run("${audit.note(execution)}", {"amount": 5}, registered)
    assert seen == [("B-1", {"amount": 5})]


def test_beans_load_from_orderflow_beans_paths(tmp_path, monkeypatch) -> None:
    (tmp_path / "shop_beans.py").write_text("BEANS = {'orderBusinessLogic': {'getOrder': lambda i: {'id': i}}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = beans.load("shop_beans:BEANS")
    assert loaded["orderBusinessLogic"]["getOrder"]("O-9") == {"id": "O-9"}
    with pytest.raises(BeanError, match="must be 'module:attribute'"):
        beans.load("shop_beans")
    with pytest.raises(BeanError, match="cannot be loaded"):
        beans.load("shop_beans:NOPE")
    with pytest.raises(BeanError, match="not callable"):
        beans.check_beans({"b": {"m": 42}})


PIZZA_BEANS = '''
"""What an integrator ships: the pizza shop's bean, registered with ORDERFLOW_BEANS=pizza_beans:BEANS."""

ORDERS = {}


def persist_order(execution):
    order_id = f"P-{len(ORDERS) + 1}"
    ORDERS[order_id] = {"pizzas": execution.get_variable("pizzas")}
    execution.set_variable("orderId", order_id)


def get_order(order_id):
    return {"id": order_id, "approved": ORDERS[order_id]["pizzas"] <= 3}  # the shop bakes at most three at once


BEANS = {"orderBusinessLogic": {"persistOrder": persist_order, "getOrder": get_order, "rejectOrder": lambda e: None}}
'''


def test_a_server_with_orderflow_beans_runs_pizza_order_over_rest(tmp_path, sandbox_url, pizza) -> None:
    from tests.support.rest import complete, task_of
    from tests.support.rest import deploy as deploy_over_http
    from tests.support.server import start_server, stop
    from tests.support.waiting import wait_until_ended

    (tmp_path / "pizza_beans.py").write_text(PIZZA_BEANS)
    server = start_server(tmp_path / "data", sandbox_url, ORDERFLOW_BEANS="pizza_beans:BEANS", PYTHONPATH=str(tmp_path))
    try:
        deployed = deploy_over_http(server, pizza)
        assert deployed.status_code == 201, deployed.text
        assert not [w for w in deployed.json()["warnings"] if "orderBusinessLogic" in w["message"]]
        outcomes = {}
        for pizzas in (2, 5):
            started = server.post("/process-definitions/orderPizza/instances", json={"variables": {"pizzas": pizzas}})
            instance_id = started.json()["id"]
            assert complete(server, task_of(server, instance_id)["id"], "anna").status_code == 200
            view = server.get(f"/process-instances/{instance_id}").json()
            if pizzas <= 3:  # approved: the pizza is prepared
                assert complete(server, task_of(server, instance_id)["id"], "anna").status_code == 200
            outcomes[pizzas] = wait_until_ended(server, instance_id)
        assert outcomes[2]["status"] == outcomes[5]["status"] == "completed"
        assert view["variables"]["orderId"] == "P-2"
        ends = {
            p: [e["elementId"] for e in server.get(f"/process-instances/{v['id']}/events").json()["items"]]
            for p, v in outcomes.items()
        }
        assert "EndEvent_1ccb1zj" in ends[2] and "EndEvent_064cd62" in ends[5]
    finally:
        stop(server.proc)
