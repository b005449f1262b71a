"""Tests for processes.expressions.juel: the JUEL interpreter for Camunda 7 expressions from untrusted diagrams."""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from processes.expressions import juel
from processes.expressions.juel import DateTime, JuelError, check, evaluate, is_juel

FIXED = datetime(2024, 1, 31, 10, 30, tzinfo=UTC)

VARIABLES = {
    "amount": 1500,
    "small": 200,
    "approved": True,
    "rejected": False,
    "customerTier": "gold",
    "total": 600,
    "orderId": 42,
    "customer": {"name": "Ada", "address": {"city": "Berlin"}, "tags": ["vip", "b2b"]},
    "items": ["apple", "pear", "plum"],
    "numbers": [3, 1, 2],
    "emptyList": [],
    "emptyMap": {},
    "emptyText": "",
    "nothing": None,
    "text": "Hello",
    "price": 2.5,
    "money": Decimal("10.00"),
    "numeric": "5",
    "decimalText": "1.5",
    "flag": "true",
    "count": 0,
}
EXECUTION = {"processInstanceId": "pi-1", "businessKey": "order-42", "activityId": "approve"}


def run(text: str, variables: dict | None = None, **kwargs):
    kwargs.setdefault("context", {"execution": EXECUTION})
    kwargs.setdefault("clock", lambda: FIXED)
    return evaluate(text, VARIABLES if variables is None else variables, **kwargs)


def same(actual, expected) -> bool:
    """Equal and of the same type (True is not 1, 1.0 is not 1)."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return type(actual) is type(expected) and actual == expected


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${42}", 42),
        ("${0}", 0),
        ("${12345678901234567890}", 12345678901234567890),
        ("${1.5}", 1.5),
        ("${.5}", 0.5),
        ("${1.}", 1.0),
        ("${1e3}", 1000.0),
        ("${2.5E-1}", 0.25),
        ("${'single'}", "single"),
        ('${"double"}', "double"),
        ("${'it\\'s'}", "it's"),
        ('${"say \\"hi\\""}', 'say "hi"'),
        ("${'back\\\\slash'}", "back\\slash"),
        ("${'mixed \"quotes\"'}", 'mixed "quotes"'),
        ("${'a } inside'}", "a } inside"),
        ("${true}", True),
        ("${false}", False),
        ("${null}", None),
        ("${-3}", -3),
        ("${-2.5}", -2.5),
    ],
)
def test_literals(text, expected):
    assert same(run(text), expected)


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # logical, symbols and words
        ("${!approved}", False),
        ("${not approved}", False),
        ("${!rejected}", True),
        ("${approved && rejected}", False),
        ("${approved and rejected}", False),
        ("${approved || rejected}", True),
        ("${approved or rejected}", True),
        ("${rejected or rejected}", False),
        ("${approved and approved and approved}", True),
        # equality and relations, symbols and words
        ("${amount == 1500}", True),
        ("${amount eq 1500}", True),
        ("${amount != 1500}", False),
        ("${amount ne 1500}", False),
        ("${amount < 2000}", True),
        ("${amount lt 2000}", True),
        ("${amount > 2000}", False),
        ("${amount gt 2000}", False),
        ("${amount <= 1500}", True),
        ("${amount le 1499}", False),
        ("${amount >= 1500}", True),
        ("${amount ge 1501}", False),
        # arithmetic
        ("${1 + 2}", 3),
        ("${5 - 7}", -2),
        ("${6 * 7}", 42),
        ("${7 / 2}", 3.5),
        ("${8 / 2}", 4.0),
        ("${7 div 2}", 3.5),
        ("${7 % 3}", 1),
        ("${7 mod 3}", 1),
        ("${-7 % 3}", -1),
        ("${7 % -3}", 1),
        ("${7.5 % 2}", 1.5),
        ("${-amount}", -1500),
        ("${- -amount}", 1500),
        ("${price * 2}", 5.0),
        ("${amount + price}", 1502.5),
        # empty
        ("${empty nothing}", True),
        ("${empty emptyText}", True),
        ("${empty emptyList}", True),
        ("${empty emptyMap}", True),
        ("${empty items}", False),
        ("${empty customer}", False),
        ("${empty text}", False),
        ("${empty 0}", False),
        ("${empty customer.missing}", True),
        ("${!empty items}", True),
        ("${not empty items}", True),
        # ternary
        ("${approved ? 'yes' : 'no'}", "yes"),
        ("${rejected ? 'yes' : 'no'}", "no"),
        ("${rejected ? 1 : approved ? 2 : 3}", 2),
        ("${amount > 1000 ? amount * 2 : 0}", 3000),
        ("${(approved ? 1 : 2) + 10}", 11),
    ],
)
def test_operators(text, expected):
    assert same(run(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${!rejected && rejected || approved}", True),  # ((!rejected) && rejected) || approved
        ("${!approved && approved || rejected}", False),
        ("${!(approved && rejected)}", True),
        ("${approved || rejected && rejected}", True),  # && binds tighter than ||
        ("${(approved || rejected) && rejected}", False),
        ("${1 + 2 * 3}", 7),
        ("${(1 + 2) * 3}", 9),
        ("${10 - 4 - 3}", 3),  # left to right
        ("${100 / 10 / 5}", 2.0),
        ("${2 * 3 % 4}", 2),
        ("${1 + 2 == 3}", True),
        ("${1 < 2 == true}", True),  # relations bind tighter than equality
        ("${amount > 1000 && total >= 500 || rejected}", True),
        ("${-2 * -3}", 6),
        ("${!empty items && items.size() > 2}", True),
        ("${empty items ? 'none' : items[0]}", "apple"),
        ("${1 + 2 > 2 ? 'big' : 'small'}", "big"),
        ("${approved ? 1 : 2 + 10}", 1),  # ?: has the lowest precedence
    ],
)
def test_precedence(text, expected):
    assert same(run(text), expected)


def test_and_or_short_circuit_do_not_evaluate_the_rest():
    assert run("${rejected && undefinedVariable}") is False
    assert run("${approved || undefinedVariable}") is True
    assert run("${approved ? 'ok' : undefinedVariable}") == "ok"
    assert run("${rejected ? undefinedVariable : 'ok'}") == "ok"
    with pytest.raises(JuelError, match="variable 'undefinedVariable' is not defined"):
        run("${approved && undefinedVariable}")


# --------------------------------------------------------------------------- coercions and null rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # + is numeric only; numeric strings are converted
        ("${numeric + 1}", 6),
        ("${'5' + '6'}", 11),
        ("${decimalText + 1}", 2.5),
        ("${'1e2' * 1}", 100.0),
        ("${emptyText + 1}", 1),
        # null in arithmetic is 0
        ("${null + 1}", 1),
        ("${nothing * 5}", 0),
        ("${null + null}", 0),
        ("${null / null}", 0),
        ("${null % null}", 0),
        ("${-null}", 0),
        ("${null / 2}", 0.0),
        # comparisons
        ("${numeric == 5}", True),
        ("${numeric > 4}", True),
        ("${decimalText < 2}", True),
        ("${'10' < '9'}", True),  # two strings compare as text
        ("${'10' < 9}", False),  # a number on one side compares numerically
        ("${1 == 1.0}", True),
        ("${price == 2.5}", True),
        ("${'abc' < 'abd'}", True),
        ("${'b' gt 'a'}", True),
        ("${true == 'true'}", True),
        ("${flag == true}", True),
        ("${true == 'yes'}", False),
        ("${true > false}", True),
        ("${'' == 0}", True),
        # null
        ("${null == null}", True),
        ("${nothing == null}", True),
        ("${amount == null}", False),
        ("${null != amount}", True),
        ("${'' == null}", False),
        ("${null < 1}", False),
        ("${null > 1}", False),
        ("${1 >= null}", False),
        ("${null < null}", False),
        ("${null <= null}", True),
        ("${nothing.anything}", None),
        ("${nothing['key']}", None),
        ("${items[nothing]}", None),
        # booleans from strings and null
        ("${!nothing}", True),
        ("${!emptyText}", True),
        ("${!flag}", False),
        ("${!'TRUE'}", False),
        ("${!'yes'}", True),
        ("${nothing ? 1 : 2}", 2),
        ("${flag && true}", True),
    ],
)
def test_coercions_and_null(text, expected):
    assert same(run(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${1 / 0}", math.inf),
        ("${-1 / 0}", -math.inf),
        ("${0 / 0}", math.nan),
        ("${1.5 % 0}", math.nan),
    ],
)
def test_floating_point_division_follows_java(text, expected):
    assert same(run(text), expected)


def test_decimals_stay_decimal():
    assert same(run("${money + 1}"), Decimal("11.00"))
    assert same(run("${money * price}"), Decimal("25.000"))
    assert same(run("${money / 3}"), Decimal("3.33"))  # BigDecimal.divide keeps the left operand's scale
    assert same(run("${money / 8}"), Decimal("1.25"))
    assert same(run("${-money}"), Decimal("-10.00"))
    assert run("${money == 10}") is True
    assert run("${money > 9.99}") is True
    with pytest.raises(JuelError, match="division by zero"):
        run("${money / 0}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${'abc' + 1}", "cannot use string 'abc' as a number in '\\+'"),
        ("${text + ' world'}", "only adds numbers"),
        ("${true + 1}", "cannot use boolean true as a number"),
        ("${items * 2}", "cannot use a list as a number"),
        ("${-'abc'}", "cannot use string 'abc' as a number in '-'"),
        ("${7 % 0}", "division by zero"),
        ("${7 mod null}", "division by zero"),
        ("${'abc' == 1}", "cannot use string 'abc' as a number"),
        ("${items < 3}", "cannot use a list as a number"),
        ("${items < customer}", "cannot compare a list with a map"),
        ("${true == 1}", "cannot use boolean true as a number"),
        ("${amount && true}", "cannot use number 1500 as a boolean in '&&'"),
        ("${!items}", "cannot use a list as a boolean in '!'"),
        ("${amount ? 1 : 2}", "as a boolean"),
    ],
)
def test_coercion_errors(text, message):
    with pytest.raises(JuelError, match=message):
        run(text)


def test_huge_integers_are_refused_instead_of_growing_without_bound():
    factor = "9" * 900
    with pytest.raises(JuelError, match="number is too large"):
        run("${" + " * ".join([factor] * 5) + "}")
    with pytest.raises(JuelError, match="number literal is too long"):
        check("${" + "9" * 1001 + "}")


# --------------------------------------------------------------------------- templates and plain text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Order ${orderId} for ${customer.name}", "Order 42 for Ada"),
        ("${orderId}${orderId}", "4242"),
        ("Total: ${total * 2}", "Total: 1200"),
        ("Price ${price} / ${7 / 2} / ${1e10} / ${0.0001}", "Price 2.5 / 3.5 / 1.0E10 / 1.0E-4"),
        ("${approved} and ${rejected}", "true and false"),
        ("[${nothing}]", "[]"),
        ("Items: ${items}", "Items: [apple, pear, plum]"),
        ("City: ${customer.address}", "City: {city=Berlin}"),
        ("Amount ${money}", "Amount 10.00"),
        ("due ${dateTime().plusDays(1)}", "due 2024-02-01T10:30:00.000Z"),
        ("now ${now()}", "now 2024-01-31T10:30:00+00:00"),
        ("#{orderId}-${orderId}", "42-42"),
        ("costs $5 or {braces} or # or $", "costs $5 or {braces} or # or $"),
        ("literal \\${orderId} but ${orderId}", "literal ${orderId} but 42"),
        ("${'${not evaluated}'}", "${not evaluated}"),
        ("line one\n${orderId}\n", "line one\n42\n"),
    ],
)
def test_templates_concatenate_text(text, expected):
    assert run(text) == expected


def test_plain_text_is_returned_unchanged():
    assert run("just text") == "just text"
    assert run("") == ""
    assert run("price in $ and {x}") == "price in $ and {x}"


def test_a_single_expression_keeps_its_type_and_surrounding_whitespace_is_ignored():
    assert run("${amount}") == 1500
    assert run("  ${approved}\n") is True
    assert run("#{items}") == ["apple", "pear", "plum"]
    assert run("${customer}") is VARIABLES["customer"]
    assert run("x${approved}") == "xtrue"


def test_is_juel():
    assert is_juel("${a}")
    assert is_juel("#{a}")
    assert is_juel("Order ${id}")
    assert not is_juel("plain text")
    assert not is_juel("$ {a} and # {b}")
    assert not is_juel("\\${escaped}")
    assert not is_juel("amount > 5")
    assert not is_juel(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- property access and methods


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${customer.name}", "Ada"),
        ("${customer['name']}", "Ada"),
        ('${customer["name"]}', "Ada"),
        ("${customer.address.city}", "Berlin"),
        ("${customer['address']['city']}", "Berlin"),
        ("${customer.tags[1]}", "b2b"),
        ("${customer.missing}", None),
        ("${customer.missing.deeper}", None),
        ("${items[0]}", "apple"),
        ("${items[2]}", "plum"),
        ("${items[3]}", None),  # out of range is null, as in JUEL
        ("${items[-1]}", None),  # no Python negative indexing
        ("${items['1']}", "pear"),
        ("${items[numbers[1]]}", "pear"),
        ("${items[1 + 1]}", "plum"),
        ("${items.size()}", 3),
        ("${emptyList.size()}", 0),
        ("${customer.size()}", 3),
        ("${text.size()}", 5),
        ("${text.length()}", 5),
        ("${items.isEmpty()}", False),
        ("${emptyList.isEmpty()}", True),
        ("${emptyText.isEmpty()}", True),
        ("${emptyMap.isEmpty()}", True),
        ("${items.contains('pear')}", True),
        ("${items.contains('fig')}", False),
        ("${numbers.contains(2)}", True),
        ("${numbers.contains('2')}", False),  # List.contains uses equals: no coercion
        ("${text.contains('ell')}", True),
        ("${text.contains('xyz')}", False),
        ("${text.equals('Hello')}", True),
        ("${text.equals('hello')}", False),
        ("${numeric.equals(5)}", False),
        ("${amount.equals(1500)}", True),
        ("${items.equals(items)}", True),
        ("${text.equalsIgnoreCase('HELLO')}", True),
        ("${text.toUpperCase()}", "HELLO"),
        ("${text.toLowerCase()}", "hello"),
        ("${'  padded '.trim()}", "padded"),
        ("${text.startsWith('He')}", True),
        ("${text.endsWith('lo')}", True),
        ("${text.endsWith('He')}", False),
        ("${customer.name.toUpperCase().startsWith('AD')}", True),
        ("${customer.containsKey('name')}", True),
        ("${customer.containsKey('missing')}", False),
        ("${customer.get('name')}", "Ada"),
        ("${items.get(0)}", "apple"),
        ("${items.size() > 2 && items[0] == 'apple'}", True),
    ],
)
def test_property_access_and_whitelisted_methods(text, expected):
    assert same(run(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${nothing.size()}", "cannot call method 'size' on null"),
        ("${amount.size()}", "method 'size' is not available on number 1500"),
        ("${items.toUpperCase()}", "method 'toUpperCase' is not available on a list"),
        ("${text.size(1)}", "method 'size' takes 0 arguments, not 1"),
        ("${text.contains()}", "method 'contains' takes 1 argument, not 0"),
        ("${text.contains(null)}", "the argument of 'contains' must not be null"),
        ("${items.size}", "property 'size' not found on a list \\(did you mean the method size\\(\\)\\?\\)"),
        ("${text.length}", "property 'length' not found on string 'Hello'"),
        ("${amount.value}", "property 'value' not found on number 1500"),
        ("${items['x']}", "cannot use string 'x' as a list index"),
        ("${items[true]}", "cannot use boolean true as a list index"),
        ("${items.get(7)}", "index 7 is out of range for a list of size 3"),
        ("${customer[items]}", "cannot use a list as a map key"),
    ],
)
def test_property_and_method_errors(text, message):
    with pytest.raises(JuelError, match=message):
        run(text)


def test_methods_do_not_change_the_variables():
    variables = {"items": ["b", "a"], "customer": {"name": "Ada"}}
    snapshot = {"items": ["b", "a"], "customer": {"name": "Ada"}}
    for text in ("${items.size()}", "${items.contains('a')}", "${customer.get('name')}", "${customer.isEmpty()}"):
        run(text, variables)
    assert variables == snapshot


# --------------------------------------------------------------------------- execution


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${execution.getVariable('amount')}", 1500),
        ("${execution.getVariable('x') != null}", False),
        ("${execution.getVariable('amount') != null}", True),
        ("${execution.getVariable('x')}", None),
        ("${execution.getVariableLocal('orderId')}", 42),
        ("${execution.hasVariable('amount')}", True),
        ("${execution.hasVariable('x')}", False),
        ("${execution.getProcessInstanceId()}", "pi-1"),
        ("${execution.getBusinessKey()}", "order-42"),
        ("${execution.getProcessBusinessKey()}", "order-42"),
        ("${execution.getCurrentActivityId()}", "approve"),
        ("${execution.getTenantId()}", None),  # not supplied by the caller: null
        ("${execution.processInstanceId}", "pi-1"),
        ("${execution.businessKey}", "order-42"),
        ("${execution.currentActivityId}", "approve"),
        ("Order ${execution.businessKey} in ${execution.getCurrentActivityId()}", "Order order-42 in approve"),
    ],
)
def test_execution(text, expected):
    assert same(run(text), expected)


def test_execution_cannot_change_variables():
    for method in ("setVariable('approved', false)", "setVariableLocal('a', 1)", "removeVariable('amount')"):
        with pytest.raises(JuelError, match="expressions must not change variables here"):
            check("${execution." + method + "}")
    assert VARIABLES["approved"] is True


def test_execution_errors():
    with pytest.raises(JuelError, match="variable 'execution' is not defined"):
        evaluate("${execution.getVariable('amount')}", VARIABLES)
    with pytest.raises(JuelError, match="method 'getVariable' is not available on a map"):
        run("${customer.getVariable('name')}")
    with pytest.raises(JuelError, match="method 'getProcessEngineServices' is not allowed in expressions"):
        run("${execution.getProcessEngineServices()}")
    with pytest.raises(JuelError, match="property 'variables' not found on an execution"):
        run("${execution.variables}")
    with pytest.raises(JuelError, match="a variable name must be a string"):
        run("${execution.getVariable(1)}")


def test_context_names_come_before_variables_and_must_be_plain_data():
    assert evaluate("${execution}", {"execution": "shadowed"}, context={"execution": EXECUTION}) is EXECUTION
    assert evaluate("${tenant.name}", {}, context={"tenant": {"name": "acme"}}) == "acme"
    with pytest.raises(TypeError, match="plain value"):
        evaluate("${thing}", {}, context={"thing": object()})
    with pytest.raises(TypeError, match="must be a mapping"):
        evaluate("${execution}", {}, context={"execution": "not a mapping"})


# --------------------------------------------------------------------------- dates


def test_date_helpers_with_an_injected_clock():
    assert run("${dateTime().plusDays(2).toDate()}") == datetime(2024, 2, 2, 10, 30, tzinfo=UTC)
    assert run("${dateTime().plusDays(2)}") == datetime(2024, 2, 2, 10, 30, tzinfo=UTC)  # unwrapped at the end
    assert run("${dateTime().plusWeeks(1)}") == FIXED + timedelta(weeks=1)
    assert run("${dateTime().plusHours(3)}") == FIXED + timedelta(hours=3)
    assert run("${dateTime().plusMinutes(90)}") == FIXED + timedelta(minutes=90)
    assert run("${dateTime().plusSeconds(5)}") == FIXED + timedelta(seconds=5)
    assert run("${dateTime().minusDays(31)}") == datetime(2023, 12, 31, 10, 30, tzinfo=UTC)
    assert run("${dateTime().minusWeeks(1)}") == FIXED - timedelta(weeks=1)
    assert run("${dateTime().minusHours(1)}") == FIXED - timedelta(hours=1)
    assert run("${dateTime().minusMinutes(30)}") == FIXED - timedelta(minutes=30)
    assert run("${dateTime().minusSeconds(1)}") == FIXED - timedelta(seconds=1)
    assert run("${dateTime().plusMonths(1)}") == datetime(2024, 2, 29, 10, 30, tzinfo=UTC)  # clamped, as Joda does
    assert run("${dateTime().plusYears(1)}") == datetime(2025, 1, 31, 10, 30, tzinfo=UTC)
    assert run("${dateTime().plusDays(numeric)}") == FIXED + timedelta(days=5)
    assert run("${dateTime().plusDays(1).plusHours(2).minusMinutes(30)}") == FIXED + timedelta(hours=25, minutes=30)
    assert run("${dateTime().toString()}") == "2024-01-31T10:30:00.000Z"
    assert run("${dateTime().plusDays(1).isAfter(now())}") is True
    assert run("${dateTime().isBefore(dateTime().plusSeconds(1))}") is True
    assert run("${now()}") == FIXED
    assert run("${now() == dateTime().toDate()}") is True
    assert run("${now() < dateTime().plusDays(1)}") is True
    assert run("${dateTime().plusDays(1) > now()}") is True
    result = run("${now()}")
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)


def test_clock_results_are_normalised_to_utc():
    berlin = timezone(timedelta(hours=1))
    assert run("${now()}", clock=lambda: datetime(2024, 1, 1, 12, tzinfo=berlin)) == datetime(
        2024, 1, 1, 11, tzinfo=UTC
    )
    assert run("${now()}", clock=lambda: datetime(2024, 1, 1, 12)).tzinfo is UTC


def test_module_clock_can_be_replaced(monkeypatch):
    monkeypatch.setattr(juel, "clock", lambda: datetime(2030, 5, 1, tzinfo=UTC))
    assert evaluate("${dateTime().plusDays(1).toDate()}", {}) == datetime(2030, 5, 2, tzinfo=UTC)


def test_the_real_clock_is_used_by_default():
    before = datetime.now(UTC)
    value = evaluate("${now()}", {})
    assert before <= value <= datetime.now(UTC)


def test_date_errors():
    with pytest.raises(JuelError, match="out of range"):
        run("${dateTime().plusYears(10000)}")
    with pytest.raises(JuelError, match="out of range"):
        run("${dateTime().plusDays(99999999999)}")
    with pytest.raises(JuelError, match="dateTime\\(\\).plusDays"):
        run("${now().plusDays(1)}")
    with pytest.raises(JuelError, match="function 'dateTime' takes no arguments"):
        check("${dateTime('2024-01-01')}")
    with pytest.raises(JuelError, match="cannot use a DateTime as a number"):
        run("${dateTime() + 1}")


def test_datetime_wrapper_is_immutable():
    moment = DateTime(FIXED)
    with pytest.raises(AttributeError):
        moment.value = datetime(2000, 1, 1, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- typical Camunda conditions


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${amount > 1000}", {"amount": 1500}, True),
        ("${amount > 1000}", {"amount": 999.99}, False),
        ("${approved}", {"approved": True}, True),
        ("${!approved}", {"approved": True}, False),
        ("${approved == true}", {"approved": False}, False),
        ("${customerTier == 'gold' && total >= 500}", {"customerTier": "gold", "total": 500}, True),
        ("${customerTier == 'gold' && total >= 500}", {"customerTier": "silver", "total": 900}, False),
        ("${customerTier eq 'gold' and total ge 500}", {"customerTier": "gold", "total": 499}, False),
        ("${execution.getVariable('x') != null}", {"x": 0}, True),
        ("${execution.getVariable('x') != null}", {}, False),
        ("${order.lines.size() > 0}", {"order": {"lines": [{"sku": "A"}]}}, True),
        ("${status == 'APPROVED' || status == 'AUTO'}", {"status": "AUTO"}, True),
        ("${riskScore < 0.3}", {"riskScore": "0.25"}, True),
        ("${not empty invoiceNumber}", {"invoiceNumber": "INV-1"}, True),
        ("${paymentMethod != 'invoice'}", {"paymentMethod": None}, True),
    ],
)
def test_typical_camunda_conditions(text, variables, expected):
    assert run(text, variables) is expected


def test_unknown_variable_is_reported_by_name():
    with pytest.raises(JuelError) as info:
        evaluate("${amount > 1000}", {})
    assert str(info.value) == "variable 'amount' is not defined"
    assert info.value.expression == "${amount > 1000}"
    with pytest.raises(JuelError, match="JUEL literals are lower case"):
        run("${approved == True}")


# --------------------------------------------------------------------------- syntax errors and check()


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("${1 + * 2}", 6, "unexpected '\\*'"),
        ("${amount >}", 10, "ends too early"),
        ("${amount", 0, "not closed"),
        ("a ${(1 + 2}", 10, "expected '\\)'"),
        ("${a ? b}", 7, "expected ':'"),
        ("${a = 1}", 4, "use '==' \\(or 'eq'\\) to compare"),
        ("${a & b}", 4, "use '&&'"),
        ("${a | b}", 4, "use '\\|\\|'"),
        ("${'open}", 2, "string is not closed"),
        ("${'bad \\n escape'}", 7, "invalid escape sequence"),
        ("${}", 2, "the expression is empty"),
        ("${1 2}", 4, "two values need an operator"),
        ("${a.}", 4, "property or method name after '.'"),
        ("${a.empty}", 4, "write a\\['empty'\\] instead"),
        ("${a instanceof b}", 4, "'instanceof' is not supported"),
        ("${items[0}", 9, "expected '\\]'"),
        ("${f(1,}", 2, "function 'f' is not available"),
        ("${a.get(1,}", 10, "ends too early"),
        ("${a @ b}", 4, "unexpected character '@'"),
        ("${{1, 2}}", 2, "map and set literals are not supported"),
        ("${x -> x}", 5, "unexpected '>'"),
        ("${a; b}", 3, "';' is not supported"),
    ],
)
def test_syntax_errors_have_a_position_and_a_hint(text, position, fragment):
    with pytest.raises(JuelError, match=fragment) as info:
        check(text)
    error = info.value
    assert error.position == position
    assert f"at position {position}" in str(error)
    assert error.expression == text
    if str(error).startswith("syntax error"):
        assert error.hint and f"Hint: {error.hint}" in str(error)


def test_check_accepts_valid_texts_without_variables():
    for text in ("${amount > 1000}", "Order ${id} for ${customer.name}", "plain", "${execution.getVariable('x')}"):
        check(text)  # unknown variables are an evaluation error, not a syntax error


def test_check_is_cached():
    juel._compile.cache_clear()
    check("${cached + 1}")
    check("${cached + 1}")
    evaluate("${cached + 1}", {"cached": 1})
    info = juel._compile.cache_info()
    assert info.misses == 1 and info.hits >= 2


def test_non_string_text_is_a_type_error():
    with pytest.raises(TypeError):
        check(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hostile input


class Trap(dict):
    """A variable that records any attempt to reach methods or attributes through it."""

    calls: list[str] = []

    def __getattribute__(self, name):
        # `get` is how the interpreter reads keys; dunders are what isinstance() and dict machinery use.
        if name != "get" and not name.startswith("__"):
            Trap.calls.append(name)
        return super().__getattribute__(name)

    def getClass(self):  # noqa: N802 - the Java name is the point
        Trap.calls.append("getClass()")

    def forName(self, name):  # noqa: N802
        Trap.calls.append("forName()")

    def exec(self, command):
        Trap.calls.append("exec()")


HOSTILE = [
    "${''.getClass().forName('java.lang.Runtime')}",
    "${''.getClass().forName('java.lang.Runtime').getMethods()[6].invoke(null).exec('calc')}",
    "${x.__class__}",
    "${x.__class__.__mro__[1].__subclasses__()}",
    "${__import__}",
    "${__import__('os').system('id')}",
    "${x.getClass()}",
    "${x.exec('rm -rf /')}",
    "${x['__class__']}",
    '${x["__dict__"]}',
    "${items.__len__()}",
    "${''.class.forName('java.lang.Runtime')}",
    "${Runtime.getRuntime().exec('calc')}",
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    "${eval('1+1')}",
    "${exec('import os')}",
    "${getattr(x, '__class__')}",
    "${x.pop('a')}",
    "${x.clear()}",
    "${items.append('evil')}",
    "${''.join(items)}",
    "${'{0.__class__}'.format(x)}",
    "${text.format_map(x)}",
    "${execution.setVariable('approved', true)}",
    "${execution.getProcessEngineServices().getRuntimeService()}",
    "${execution.__dict__}",
    "${execution.data}",
    "${execution.variables}",
    "${fn:escapeXml(x)}",
    "${x = 1}",
    "${(y -> y)(1)}",
    "${text.toUpperCase.__self__}",
    "${" + "(" * 500 + "1" + ")" * 500 + "}",
    "${" + "!" * 500 + "true}",
    "${" + "a[" * 300 + "0" + "]" * 300 + "}",
    "${" + "true ? " * 200 + "1" + " : 0" * 200 + "}",
    "${x.get(" * 200 + "'a'" + ")" * 200 + "}",
    "${'" + "a" * 20_000 + "'}",
    "${x}" * 3_000,
    "${" + "9" * 5_000 + "}",
    "${1" + " + 1" * 3_000 + "}",
    "${ 'unterminated",
    "${x}\x00${",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_inputs_raise_juel_error_without_executing_anything(text, monkeypatch):
    executed = []
    monkeypatch.setattr(os, "system", lambda *a, **k: executed.append("os.system"))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: executed.append("Popen"))
    Trap.calls = []
    variables = {"x": Trap(a=1), "items": ["a", "b"], "text": "abc"}
    with pytest.raises(JuelError):
        run(text, variables)
    assert Trap.calls == []
    assert executed == []
    assert variables["x"] == {"a": 1} and variables["items"] == ["a", "b"]


def test_hostile_inputs_are_refused_before_evaluation_unless_they_depend_on_data():
    runtime_only = {"${x['__class__']}", '${x["__dict__"]}', "${execution.data}", "${execution.variables}"}
    # `name.method(…)` may call a registered bean, so it compiles; on a variable it is refused while evaluating.
    runtime_only |= {"${x.pop('a')}", "${x.clear()}", "${items.append('evil')}", "${text.format_map(x)}"}
    for text in HOSTILE:
        if text in runtime_only:
            check(text)  # syntactically fine: refused while evaluating, before any lookup happens
        else:
            with pytest.raises(JuelError):
                check(text)


def test_nesting_limit_is_exactly_max_depth():
    deep = "${" + "(" * juel.MAX_DEPTH + "1" + ")" * juel.MAX_DEPTH + "}"
    assert run(deep) == 1
    with pytest.raises(JuelError, match="nested too deeply"):
        check("${" + "(" * (juel.MAX_DEPTH + 1) + "1" + ")" * (juel.MAX_DEPTH + 1) + "}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${" + "!(" * juel.MAX_DEPTH + "x.a" + ")" * juel.MAX_DEPTH + "}", False),  # !'a' is true, 100 times
        ("${" + "x.get(" * juel.MAX_DEPTH + "'a'" + ")" * juel.MAX_DEPTH + "}", "a"),
        ("${" + "x[" * juel.MAX_DEPTH + "'a'" + "]" * juel.MAX_DEPTH + "}", "a"),
        ("${" + "true ? " * juel.MAX_DEPTH + "'a'" + " : 0" * juel.MAX_DEPTH + "}", "a"),
    ],
)
def test_the_deepest_allowed_expressions_fit_in_a_small_python_stack(text, expected):
    limit = sys.getrecursionlimit()
    juel._compile.cache_clear()
    sys.setrecursionlimit(len(_stack()) + 700)
    try:
        assert run(text, {"x": {"a": "a"}}) == expected
    finally:
        sys.setrecursionlimit(limit)


def _stack() -> list:
    import traceback

    return traceback.extract_stack()


def test_long_but_flat_expressions_are_fine():
    text = "${" + " + ".join(["1"] * 2_400) + "}"
    assert len(text) < juel.MAX_LENGTH
    assert run(text) == 2_400
    chain = "${a" + ".b" * 4_990 + "}"
    assert run(chain, {"a": {}}) is None


def test_template_results_are_bounded():
    with pytest.raises(JuelError, match="text is too long"):
        run("${big}" * 2, {"big": "x" * (juel.MAX_RESULT_LENGTH // 2 + 1)})


def test_the_interpreter_never_calls_eval_exec_or_getattr():
    tree = ast.parse(Path(juel.__file__).read_text())
    forbidden = {"eval", "exec", "compile", "getattr", "setattr", "__import__", "vars", "open"}
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & forbidden
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
    }
    assert not imported & {"importlib", "os", "subprocess", "sys", "builtins", "operator", "pickle"}
