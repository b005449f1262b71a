"""Camunda Forms (form-js JSON schemas, Camunda 8 `zeebe:userTaskForm`) as the inbox validates them: each input
component becomes a field in the same shape as a Camunda 7 `camunda:formField`, so one validator serves both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# form-js component type → the field type the validator knows
_TYPES = {
    "textfield": "string",
    "textarea": "string",
    "number": "double",
    "checkbox": "boolean",
    "radio": "enum",
    "select": "enum",
    "checklist": "list",
    "taglist": "list",
    "datetime": "date",
}
_RULES = {"min": "min", "max": "max", "minLength": "minlength", "maxLength": "maxlength", "pattern": "pattern"}


def _components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components or []:
        if not isinstance(component, dict):
            continue
        yield component
        yield from _components(component.get("components") or [])  # groups and dynamic lists nest them


def formjs_fields(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    fields = []
    for component in _components((schema or {}).get("components") or []):
        kind, key = _TYPES.get(component.get("type", "")), component.get("key")
        if kind is None or not key or component.get("readonly") or component.get("disabled"):
            continue
        validate = component.get("validate") or {}
        rules = {_RULES[name]: value for name, value in validate.items() if name in _RULES and value not in (None, "")}
        if validate.get("required"):
            rules["required"] = None
        options = [{"id": str(v.get("value")), "name": str(v.get("label", v.get("value")))}
                   for v in component.get("values") or [] if isinstance(v, dict)]  # fmt: skip
        fields.append(
            {
                "id": key,
                "type": kind,
                "label": component.get("label") or key,
                "defaultValue": component.get("defaultValue"),
                "required": bool(validate.get("required")),
                "validation": rules,
                "options": options,
            }
        )
    return fields
