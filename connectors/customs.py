"""Customs broker: denied-party screening and the documents an international shipment needs.

Whether a shipment is international is decided here, from the seller's country (setting
``ORDERFLOW_SELLER_COUNTRY``): a domestic order needs nothing and makes no call. Inside the EU customs
union no export declaration is needed, but the broker still screens the consignee and issues the
commercial invoice. Verification: the broker must declare the destination, quantities, value and
currency it was given, and produce a declaration exactly when the goods leave the customs union.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors._values import (
    address,
    country,
    currency,
    customer,
    items,
    money,
    money_or_none,
    order_id,
    quantities,
    response_field,
)
from connectors.errors import ConnectorError
from connectors.verify import Expect, verify

if TYPE_CHECKING:
    from connectors.http import JsonClient
    from connectors.registry import JobContext

# The EU customs union: goods moving between these countries are not declared to customs.
EU = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())


def declaration_required(seller_country: str, destination: str) -> bool:
    return destination != seller_country and not (seller_country in EU and destination in EU)


def documents(
    client: JsonClient, variables: Mapping[str, Any], ctx: JobContext, *, seller_country: str
) -> dict[str, Any]:
    ship_to = address(variables, ctx.topic)
    destination = country(ship_to.get("country"), "shippingAddress.country", ctx.topic)
    if destination == seller_country:
        return {"customsDocuments": [], "customsDeclarationId": None, "customsDeclarationRequired": False}
    lines = items(variables.get("items"), ctx.topic, priced=True)
    value, asked_currency = money(variables.get("total"), "total"), currency(variables)
    body = {
        "orderId": order_id(variables, ctx),
        "exporterCountry": seller_country,
        "destinationCountry": destination,
        "consignee": {**customer(variables), "address": ship_to},
        "items": [{"sku": i.sku, "quantity": i.quantity, "unitPrice": float(i.unit_price or 0)} for i in lines],
        "declaredValue": float(value),
        "currency": asked_currency,
    }
    response = client.post("/documents", body, idempotency_key=ctx.idempotency_key)
    set_id = response_field(response, "documentSetId", client.system)
    declaration_id = response.get("declarationId") or None
    result = {
        "customsDocuments": _documents(response.get("documents"), client.system),
        "customsDeclarationId": declaration_id,
        "customsDeclarationRequired": declaration_id is not None,
    }
    needs_declaration = declaration_required(seller_country, destination)
    verify(
        "CUSTOMS_DISCREPANCY",
        [
            Expect("destinationCountry", destination, response.get("destinationCountry")),
            Expect("items", quantities(lines), quantities(response.get("items"))),
            Expect("declaredValue", value, money_or_none(response.get("declaredValue"))),
            Expect("currency", asked_currency, response.get("currency")),
            Expect("declarationRequired", needs_declaration, declaration_id is not None),
        ],
        topic=ctx.topic,
        variables=result,
        reference=f"document set {set_id}",
    )
    return result


def _documents(value: Any, system: str) -> list[dict[str, str]]:
    """Type, id and URL of each document; a reply without them is malformed, not a discrepancy."""
    if not isinstance(value, list) or not value:
        raise ConnectorError(f"{system}: response lists no documents: {value!r}")
    documents = []
    for document in value:
        if not isinstance(document, Mapping) or not all(document.get(k) for k in ("type", "documentId", "url")):
            raise ConnectorError(f"{system}: malformed document in response: {document!r}")
        documents.append({k: str(document[k]) for k in ("type", "documentId", "url")})
    return documents
