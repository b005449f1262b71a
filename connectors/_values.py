"""Reading process variables into request fields.

A missing or malformed variable is a modelling/data bug, not something the remote
system decided and not something a retry fixes, so it raises plain ConnectorError
(an incident a human resolves) before any network call is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError

if TYPE_CHECKING:
    from connectors.registry import JobContext

CENT = Decimal("0.01")


def order_id(variables: Mapping[str, Any], ctx: JobContext) -> str:
    value = variables.get("orderId") or ctx.business_key
    if not value:
        raise ConnectorError(f"{ctx.topic}: no 'orderId' variable and no business key")
    return str(value)


def money(value: Any, name: str) -> Decimal:
    """A positive amount rounded to cents; Decimal so 19.99 compares equal to 19.99 after JSON."""
    if isinstance(value, bool):  # bool is an int; True must not become 1.00
        raise ConnectorError(f"variable {name!r} must be an amount, got {value!r}")
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ConnectorError(f"variable {name!r} must be an amount, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ConnectorError(f"variable {name!r} must be a positive amount, got {value!r}")
    return amount


def money_or_none(value: Any) -> Decimal | None:
    """Lenient parse for response fields: an unparseable amount is simply 'not what we asked'."""
    try:
        return money(value, "response")
    except ConnectorError:
        return None


def required(variables: Mapping[str, Any], name: str, topic: str) -> Any:
    value = variables.get(name)
    if value is None or value == "":
        raise ConnectorError(f"{topic}: variable {name!r} is required")
    return value


def response_field(response: Mapping[str, Any], name: str, system: str) -> Any:
    value = response.get(name)
    if value is None or value == "":
        raise ConnectorError(f"{system}: response lacks {name!r}: {dict(response)!r}")
    return value
