"""Task forms: the fields of a Camunda 7 form or a Camunda 8 (form-js) form, and the server-side check of what a
person submits (types, required, min/max, length, pattern, options)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from processes import expressions
from processes.errors import InvalidInput

if TYPE_CHECKING:
    pass


class FormInvalid(InvalidInput):
    """Form data that does not satisfy the task's form; `field_errors` maps each field to what is wrong."""

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        super().__init__("; ".join(f"{name}: {', '.join(errors)}" for name, errors in field_errors.items()))


def form_fields(form) -> list[dict[str, Any]]:
    """Camunda 7 formData fields, as the inbox shows and validates them."""
    fields = []
    for field in getattr(form, "fields", None) or []:
        validation = {v.name: v.config for v in getattr(field, "validation", [])}
        fields.append(
            {
                "id": field.id,
                "type": field.type or "string",
                "label": field.label or field.id,
                "defaultValue": field.default_value or None,
                "required": "required" in validation,
                "validation": validation,
                "options": [{"id": o.id, "name": o.name} for o in getattr(field, "options", [])],
            }
        )
    return fields


def validate_form(
    fields: list[dict[str, Any]], variables: dict[str, Any], context: dict[str, Any] | None = None
) -> None:
    """Raise FormInvalid naming each field's problems. A constraint written as a FEEL expression (form-js
    `"max": "=amount"`) is evaluated, as the form-js viewer does, with the order's data (`context`) and what was
    submitted; one that gives null constrains nothing."""
    scope = {**(context or {}), **variables}
    errors: dict[str, list[str]] = {}
    for field in fields:
        if _skipped(field, scope):  # hidden, read-only or disabled by a FEEL condition: form-js checks nothing
            continue
        name, value, problems = field["id"], variables.get(field["id"]), []
        rules = field.get("validation") or {}
        if value is None or value == "":
            if field.get("required"):
                problems.append("is required")
        else:
            problems += _type_problems(field, value)
            if not problems:
                problems += _rule_problems(_evaluated(rules, scope), value)
        if "readonly" in rules and name in variables:
            problems.append("is read-only")
        if problems:
            errors[name] = problems
    if errors:
        raise FormInvalid(errors)


def _type_problems(field: dict[str, Any], value: Any) -> list[str]:
    kind = field.get("type")
    if kind == "long" and (isinstance(value, bool) or not isinstance(value, int)):
        return ["must be a whole number"]
    if kind == "boolean" and not isinstance(value, bool):
        return ["must be true or false"]
    if kind in ("string", "date") and not isinstance(value, str):
        return ["must be text"]
    if kind == "date":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ["must be a date (YYYY-MM-DD or an ISO date-time)"]
    if kind == "double" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return ["must be a number"]
    if kind == "enum" and value not in {o["id"] for o in field.get("options", [])}:
        return [f"must be one of {', '.join(o['id'] for o in field.get('options', []))}"]
    if kind == "list":
        allowed = {o["id"] for o in field.get("options", [])}
        if not isinstance(value, list) or (allowed and not set(map(str, value)) <= allowed):
            return [f"must be a list of {', '.join(sorted(allowed))}" if allowed else "must be a list"]
    return []


# The constraints form-js evaluates when written as FEEL (a pattern is always a regular expression).
_EXPRESSION_RULES = ("min", "max", "minlength", "maxlength")


def _skipped(field: dict[str, Any], scope: dict[str, Any]) -> bool:
    for condition in field.get("skipWhen") or ():
        try:
            if expressions.evaluate(condition, scope) is True:
                return True
        except expressions.ExpressionError:
            continue  # a condition that cannot be evaluated hides nothing
    return False


def _evaluated(rules: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    """The rules with their FEEL expressions evaluated; one that gives null is left out, one that fails is kept as
    written, so it cannot be checked and says so."""
    evaluated = {}
    for name, config in rules.items():
        if name in _EXPRESSION_RULES and isinstance(config, str) and config.strip().startswith("="):
            try:
                config = expressions.evaluate(config, scope)
            except expressions.ExpressionError:
                pass
            if config is None:
                continue
        evaluated[name] = config
    return evaluated


def _rule_problems(rules: dict[str, Any], value: Any) -> list[str]:
    problems = []
    for name, config in rules.items():
        try:
            if name == "min" and value < float(config):
                problems.append(f"must be at least {config}")
            elif name == "max" and value > float(config):
                problems.append(f"must be at most {config}")
            elif name == "minlength" and len(str(value)) < int(config):
                problems.append(f"must be at least {config} characters")
            elif name == "maxlength" and len(str(value)) > int(config):
                problems.append(f"must be at most {config} characters")
            elif name == "pattern" and not re.fullmatch(str(config), str(value)):
                problems.append(f"must match {config}")
        except (TypeError, ValueError):
            problems.append(f"cannot be checked against {name} {config}")
    return problems
