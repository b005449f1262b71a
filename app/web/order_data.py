"""An order's variables as people read an order: who ordered, where it goes, what (quantities, prices), the totals;
everything else folded away, and the scripts' working variables kept from approvers.

Nothing here knows the order story's variable names. Shapes are recognised by their keys (an address has a street
and a city, an item line has a quantity and a price), and what is internal is read off the diagram (see
`internal_variables`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .internal_variables import internal_names
from .naming import plain_name

ADDRESS_KEYS = {"street", "street1", "line1", "addressline1", "city", "town", "postalcode", "zip", "zipcode",
                "postcode", "country", "countrycode", "region", "state"}  # fmt: skip
PARTY_KEYS = {"name", "email", "phone", "firstname", "lastname", "company"}
QUANTITY_KEYS = ("quantity", "qty", "count", "units")
PRICE_KEYS = ("unitPrice", "unit_price", "price", "unitprice", "amount")
ITEM_NAME_KEYS = ("name", "title", "description", "sku", "productId", "product", "id")
TOTAL_WORDS = re.compile(r"(total|amount|subtotal|tax|due|shipping|discount)", re.IGNORECASE)


def humanise(key: str) -> str:
    """`shippingAddress` reads "Shipping address", `postal_code` "Postal code"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").split()
    return " ".join(words).capitalize() if words else key


def _keys(value: dict) -> set[str]:
    return {k.lower().replace("_", "") for k in value}


def is_address(value: Any) -> bool:
    return isinstance(value, dict) and len(_keys(value) & ADDRESS_KEYS) >= 2


def is_party(value: Any) -> bool:
    return isinstance(value, dict) and not is_address(value) and bool(_keys(value) & PARTY_KEYS)


def _first(value: dict, keys: tuple[str, ...]) -> str | None:
    lower = {k.lower(): k for k in value}
    return next((lower[k.lower()] for k in keys if k.lower() in lower), None)


def is_item_list(value: Any) -> bool:
    lines = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    return bool(lines) and len(lines) == len(value) and all(_first(v, QUANTITY_KEYS) for v in lines)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class ItemTable:
    label: str
    columns: list[str]  # the other keys of the lines, in the order first seen
    lines: list[dict[str, Any]]  # name, quantity, unitPrice, lineTotal, extra {column: value}
    total: float | None


def item_table(label: str, value: list[dict]) -> ItemTable:
    lines, columns, total = [], [], 0.0
    for item in value:
        quantity_key, price_key, name_key = (_first(item, keys) for keys in (QUANTITY_KEYS, PRICE_KEYS, ITEM_NAME_KEYS))
        quantity = item.get(quantity_key) if quantity_key else None
        price = item.get(price_key) if price_key else None
        line_total = None
        if _number(quantity) is not None and _number(price) is not None:
            line_total = round(_number(quantity) * _number(price), 2)
            total = total + line_total if total is not None else None
        else:
            total = None
        extra = {k: v for k, v in item.items() if k not in (quantity_key, price_key, name_key)}
        columns += [k for k in extra if k not in columns]
        lines.append({"name": item.get(name_key) if name_key else None, "quantity": quantity, "unitPrice": price,
                      "lineTotal": line_total, "extra": extra})  # fmt: skip
    return ItemTable(humanise(label), columns, lines, round(total, 2) if total is not None else None)


@dataclass
class OrderView:
    """What a page shows of an order's variables: the recognised parts first, the rest in "All data"."""

    parties: list[tuple[str, dict]] = field(default_factory=list)
    addresses: list[tuple[str, dict]] = field(default_factory=list)
    items: list[ItemTable] = field(default_factory=list)
    totals: list[tuple[str, Any]] = field(default_factory=list)
    facts: list[tuple[str, Any]] = field(default_factory=list)  # the order's own plain values: channel, currency
    rest: dict[str, Any] = field(default_factory=dict)  # everything not internal, for "All data"
    internal: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None

    @property
    def recognised(self) -> bool:
        return bool(self.parties or self.addresses or self.items or self.totals)


def order_view(variables: dict[str, Any], started_with: set[str] | None, internal: set[str]) -> OrderView:
    """Sort an order's variables. Customers, addresses and item lists are looked for among what the order started
    with (`started_with`; every variable when unknown), so copies the process makes later (a list of the items
    that ship now) stay under "All data"; totals are looked for everywhere, because processes compute them."""
    view = OrderView()
    own = started_with if started_with else set(variables)
    for name, value in sorted(variables.items()):
        if name in internal:
            view.internal[name] = value
            continue
        view.rest[name] = value
        if name.lower() == "currency" and isinstance(value, str):
            view.currency = value
        if name in own and is_address(value):
            view.addresses.append((humanise(name), value))
        elif name in own and is_party(value):
            view.parties.append((humanise(name), value))
        elif name in own and is_item_list(value):
            view.items.append(item_table(name, value))
        elif _number(value) is not None and TOTAL_WORDS.search(name):
            view.totals.append((humanise(name), value))
        elif name in own and started_with and isinstance(value, str | int | float | bool):
            view.facts.append((humanise(name), value))
    return view


def address_lines(address: dict) -> list[str]:
    """An address as it is written on a parcel: name, street, postal code and city, region, country."""
    get = {k.lower().replace("_", ""): v for k, v in address.items() if v not in (None, "")}
    lines = [get.get("name"), get.get("company"), get.get("street") or get.get("line1") or get.get("addressline1"),
             get.get("street2") or get.get("line2") or get.get("addressline2")]  # fmt: skip
    postal = get.get("postalcode") or get.get("zip") or get.get("zipcode") or get.get("postcode")
    lines.append(" ".join(str(p) for p in (postal, get.get("city") or get.get("town")) if p))
    lines.append(get.get("region") or get.get("state"))
    lines.append(get.get("country") or get.get("countrycode"))
    return [str(line) for line in lines if line]


def started_with(history: list[dict[str, Any]]) -> set[str] | None:
    """The variables the order was started with (its first audit event records them)."""
    for event in history:
        if event.get("type") == "instance_started":
            variables = (event.get("data") or {}).get("variables")
            return set(variables) if isinstance(variables, dict) else None
    return None


def view_of(instance: dict[str, Any], history: list[dict[str, Any]]) -> OrderView:
    return order_view(instance.get("variables") or {}, started_with(history), internal_names(instance))


def as_text(value: Any, indent: int | None = None) -> str:
    """A value as text, with its real characters ("Zürich", not "Z\\u00fcrich")."""
    if isinstance(value, str) and indent is None:
        return value
    return json.dumps(value, ensure_ascii=False, indent=indent)


def number(value: Any, digits: int | None = None) -> str:
    """1234.5 reads "1,234.50" with two digits; a count reads "40"."""
    if _number(value) is None:
        return "—" if value is None else as_text(value)
    if digits is not None:
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) or not float(value).is_integer() else f"{int(value):,}"


FILTERS = {"humanise": humanise, "as_text": as_text, "number": number, "address_lines": address_lines,
           "plain_name": plain_name}  # fmt: skip
