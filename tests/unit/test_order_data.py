"""How pages read an order's variables (app/web/order_data.py): shapes recognised by their keys, not by the order
story's names, and internal variables read off the diagram."""

from __future__ import annotations

from app.web.internal_variables import working_variables
from app.web.naming import plain_name, without_expressions
from app.web.order_data import address_lines, order_view
from tests.support.paths import ROOT

STORY = ROOT / "bpmn" / "order_management.bpmn"


def _story_working_variables() -> set[str]:
    decisions = [path.read_text() for path in (ROOT / "bpmn").glob("*.dmn")]
    return working_variables(STORY.read_text(), decisions)


def test_the_story_scripts_working_variables_are_internal_and_what_other_steps_read_is_not():
    internal = _story_working_variables()
    # Look-up tables, loop variables and parts taken apart inside one script; the engine's loop bookkeeping.
    assert {"eu", "postalLengths", "part", "item", "loopCounter", "nrOfInstances", "level"} <= internal
    # Read by a decision, a gateway, a mapping or another script: part of the order's story.
    read_elsewhere = {"total", "amountDue", "shippingZone", "orderOutcome", "addressStatus", "category", "shipItems"}
    assert not read_elsewhere & internal
    # Never produced by a script at all.
    assert not {"customer", "items", "shippingAddress", "settings", "validation", "approved"} & internal


def test_a_script_variable_another_script_reads_or_a_string_merely_mentions():
    xml = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">
      <scriptTask id="a"><script>lookup = {'x': 1}
zone = 'lookup'
kept = lookup['x']
for line in lines:
    kept += 1</script></scriptTask>
      <scriptTask id="b"><script>shown = kept + 1</script></scriptTask>
      <sequenceFlow id="f"><conditionExpression>${zone == "x"}</conditionExpression></sequenceFlow>
    </process></definitions>"""
    # `lookup` only in a's own script and in a string literal; `kept` read by b; `zone` read by a condition.
    assert working_variables(xml, []) >= {"lookup", "line"}
    assert not {"kept", "zone"} & working_variables(xml, [])


def test_an_order_of_another_shape_is_still_read_as_an_order():
    variables = {
        "buyer": {"company": "Müller GmbH", "email": "einkauf@mueller.example"},
        "deliveryAddress": {"line1": "Hauptstraße 1", "zip": "8001", "town": "Zürich", "countryCode": "CH"},
        "lines": [{"title": "Grinder", "qty": 3, "price": 19.9}, {"title": "Disc", "qty": 10, "price": 2.5}],
        "grandTotal": 84.7,
        "currency": "CHF",
        "_scratch": 1,
        "lookup": {"CH": 4},
    }
    view = order_view(variables, started_with=None, internal={"lookup", "_scratch"})
    assert [label for label, _ in view.parties] == ["Buyer"]
    assert [(label, address_lines(a)) for label, a in view.addresses] == [
        ("Delivery address", ["Hauptstraße 1", "8001 Zürich", "CH"])
    ]  # fmt: skip
    (table,) = view.items
    assert [(line["name"], line["quantity"], line["lineTotal"]) for line in table.lines] == [
        ("Grinder", 3, 59.7), ("Disc", 10, 25.0)
    ]  # fmt: skip
    assert table.total == 84.7 and view.totals == [("Grand total", 84.7)] and view.currency == "CHF"
    assert set(view.internal) == {"lookup", "_scratch"} and not {"lookup", "_scratch"} & set(view.rest)


def test_copies_made_later_stay_in_all_data():
    items = [{"sku": "A", "quantity": 1, "unitPrice": 2.0}]
    view = order_view({"items": items, "shipItems": items}, started_with={"items"}, internal=set())
    assert [table.label for table in view.items] == ["Items"] and set(view.rest) == {"items", "shipItems"}


def test_names_lose_their_raw_expressions():
    assert plain_name("Approve order: ${level.name}") == "Approve order"
    assert plain_name("Check #{what} now") == "Check now"
    assert plain_name("Plain") == "Plain"
    xml = '<userTask id="t" name="Approve order: ${level.name}"/><task id="u" name="As drawn"/>'
    assert without_expressions(xml) == '<userTask id="t" name="Approve order"/><task id="u" name="As drawn"/>'
