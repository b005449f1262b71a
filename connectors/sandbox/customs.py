"""Simulated customs broker: screens the consignee and prepares the documents an export shipment needs.

``POST /customs/documents`` {orderId, exporterCountry, destinationCountry, consignee: {id?, name?, address?},
items: [{sku, quantity, unitPrice}], declaredValue, currency} -> 201 with the document set.
Inside the EU customs union only a commercial invoice is needed; leaving it also needs an export
declaration, whose MRN is the ``declarationId``. A consignee on the denied-party list is 403 DENIED_PARTY.
Runs under the state lock (via ``SandboxState.execute``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.sandbox.reference import (
    DENIED_PARTY_IDS,
    DENIED_PARTY_NAMES,
    EU,
    PRODUCTS,
    SCREENING_LIST,
)
from connectors.sandbox.state import (
    Reply,
    SandboxState,
    error,
    is_country,
    is_currency,
    skew_first_quantity,
    valid_items,
)


def documents(state: SandboxState, body: Mapping[str, Any], base_url: str) -> Reply:
    problem = _invalid(body)
    if problem:
        return error(422, "INVALID_REQUEST", problem)
    consignee = body.get("consignee") if isinstance(body.get("consignee"), Mapping) else {}
    hit = denied_party(consignee)
    if hit is not None:
        state.stats["deniedParties"] += 1
        return error(
            403,
            "DENIED_PARTY",
            f"the consignee matches an entry of the {SCREENING_LIST}; the goods must not be shipped",
            matchedEntry=hit,
            screeningList=SCREENING_LIST,
        )
    unknown = next((i["sku"] for i in body["items"] if i["sku"] not in PRODUCTS), None)
    if unknown is not None:
        return error(422, "UNKNOWN_SKU", f"no customs data for SKU {unknown}", sku=unknown)

    exporter, destination = body["exporterCountry"], body["destinationCountry"]
    number = len(state.document_sets) + 1
    set_id = f"CDS-{number:08d}"
    declaration_id = _mrn(exporter, number) if not (exporter in EU and destination in EU) else None
    declared = [_declared_line(line, exporter) for line in body["items"]]
    declared = skew_first_quantity(declared, state.controls.quantitySkew)
    value = state.skewed(Decimal(str(body["declaredValue"])))
    docs = [_document(state, base_url, "commercial_invoice", f"INV-{number:08d}", body, value)]
    if declaration_id is not None:
        docs.append(_document(state, base_url, "export_declaration", declaration_id, body, value))
    state.document_sets[set_id] = record = {
        "documentSetId": set_id,
        "orderId": body["orderId"],
        "exporterCountry": exporter,
        "destinationCountry": destination,
        "declarationRequired": declaration_id is not None,
        "declarationId": declaration_id,
        "documents": docs,
        "items": declared,
        "declaredValue": float(value),
        "currency": body["currency"],
        "screening": {"result": "clear", "list": SCREENING_LIST},
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    state.stats["customsDocumentSets"] += 1
    return 201, dict(record)


def denied_party(consignee: Mapping[str, Any]) -> str | None:
    """The list entry the consignee matches (by customer id or by normalised name), else None."""
    if str(consignee.get("id") or "") in DENIED_PARTY_IDS:
        return str(consignee["id"])
    names = [consignee.get("name")]
    address = consignee.get("address")
    if isinstance(address, Mapping):
        names.append(address.get("name"))
    for name in names:
        normalised = " ".join(str(name or "").lower().replace(".", " ").replace(",", " ").split())
        if normalised in DENIED_PARTY_NAMES:
            return str(name)
    return None


def _invalid(body: Mapping[str, Any]) -> str | None:
    for field in ("exporterCountry", "destinationCountry"):
        if not is_country(body.get(field)):
            return f"{field} must be a two-letter country code"
    if not isinstance(body.get("orderId"), str) or not body["orderId"]:
        return "orderId is required"
    if not valid_items(body.get("items"), priced=True):
        return "items must be [{sku, quantity > 0, unitPrice >= 0}]"
    value = body.get("declaredValue")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return "declaredValue must be a positive amount"
    if not is_currency(body.get("currency")):
        return "currency must be a 3-letter code"
    return None


def _declared_line(line: Mapping[str, Any], exporter: str) -> dict[str, Any]:
    hs_code, description, _category, _grams = PRODUCTS[line["sku"]]
    return {
        "sku": line["sku"],
        "quantity": line["quantity"],
        "unitPrice": line["unitPrice"],
        "description": description,
        "hsCode": hs_code,
        "originCountry": exporter,
    }


def _mrn(exporter: str, number: int) -> str:
    """Movement Reference Number shape: year, exporting country, 13 serial characters, a check digit."""
    serial = f"{datetime.now(UTC):%y}{exporter}{number:013d}"
    return serial + str(sum(ord(c) for c in serial) % 10)


def _document(
    state: SandboxState, base_url: str, kind: str, document_id: str, body: Mapping[str, Any], value: Decimal
) -> dict[str, Any]:
    state.pdfs[document_id] = [
        kind.replace("_", " ").upper(),
        f"Document {document_id}",
        f"Order {body['orderId']}: {body['exporterCountry']} -> {body['destinationCountry']}",
        f"Declared value {value} {body['currency']}",
        *(f"{line['quantity']} x {line['sku']}" for line in body["items"]),
    ]
    return {"type": kind, "documentId": document_id, "url": f"{base_url}/customs/documents/{document_id}.pdf"}
