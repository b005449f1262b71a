"""Camunda Forms (form-js JSON schemas, Camunda 8 `zeebe:userTaskForm`) as the inbox validates them: each input
component becomes a field in the same shape as a Camunda 7 `camunda:formField`, so one validator serves both."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from processes.errors import InvalidInput, Problem, TooLarge

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


def _components(components: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> Iterator[tuple[dict, tuple]]:
    """Each component with the FEEL conditions under which form-js neither shows nor validates it: its own and its
    groups' (`conditional.hide`, and `readonly` / `disabled` written as expressions)."""
    for component in components or []:
        if not isinstance(component, dict):
            continue
        own = skip + tuple(_skip_conditions(component))
        yield component, own
        yield from _components(component.get("components") or [], own)  # groups and dynamic lists nest them


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("=")


def _skip_conditions(component: dict[str, Any]) -> Iterator[str]:
    conditional = component.get("conditional")
    hide = conditional.get("hide") if isinstance(conditional, dict) else None
    for condition in (hide, component.get("readonly"), component.get("disabled")):
        if _is_expression(condition):
            yield condition.strip()


def formjs_fields(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The input components of a form-js schema as fields. A constraint or condition written as FEEL (`"max":
    "=amount"`, `"conditional": {"hide": "=…"}`) is kept as written and evaluated when the form is submitted
    (inbox/forms.py), with the order's data and the submitted values."""
    fields = []
    for component, skip_when in _components((schema or {}).get("components") or []):
        kind, key = _TYPES.get(component.get("type", "")), component.get("key")
        fixed = [v for v in (component.get("readonly"), component.get("disabled")) if not _is_expression(v)]
        if kind is None or not key or any(fixed):
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
                **({"skipWhen": list(skip_when)} if skip_when else {}),
            }
        )
    return fields


# -- linked forms: `.form` files deployed with the diagrams (Camunda 8 `zeebe:formDefinition formId`) -------------

FORM_SUFFIX = ".form"


@dataclass(frozen=True)
class LoadedForm:
    name: str  # the file name
    id: str  # the form's own id, which `formId` names
    schema: dict[str, Any]
    text: str


def is_form_file(name: str) -> bool:
    return name.lower().endswith(FORM_SUFFIX)


def load_form(name: str, data: bytes, max_bytes: int) -> LoadedForm:
    """A Camunda Form file (form-js JSON) as Camunda Modeler saves it; refused with the reason when it is not one."""
    if len(data) > max_bytes:
        raise TooLarge(f"{name}: {len(data)} bytes is over the limit of {max_bytes} bytes per file")
    try:
        schema = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{name}: not a Camunda Form (form-js JSON): {exc}") from exc
    if not isinstance(schema, dict) or not isinstance(schema.get("components"), list):
        raise InvalidInput(f"{name}: not a Camunda Form: a JSON object with a 'components' list is expected")
    form_id = schema.get("id")
    if not isinstance(form_id, str) or not form_id.strip():
        raise InvalidInput(f"{name}: the form has no 'id'; a user task links a form by its id (formId)")
    return LoadedForm(name=name, id=form_id, schema=schema, text=data.decode("utf-8"))


def link_forms(
    spec, forms: dict[str, LoadedForm], deployed: Callable[[str], dict | None] | None, file: str
) -> list[Problem]:
    """Put each linked form's schema on the user tasks that name it (`formId`), from this deployment's `.form` files
    or the latest deployed version: the task then renders and validates it like a form drawn into the diagram.
    A form found nowhere is an error (offline, with no database to look in, a warning)."""
    problems = []
    for task_spec in spec.task_specs.values():
        extensions = getattr(task_spec, "extensions", None) or {}
        form_id = extensions.get("formId")
        if not form_id or extensions.get("formSchema"):
            continue
        found = forms[form_id].schema if form_id in forms else (deployed(form_id) if deployed else None)
        if found is not None:
            extensions["formSchema"] = found
            continue
        where = "in this deployment nor deployed" if deployed else "in these files (it may be deployed already)"
        problems.append(
            Problem(
                message=f"user task links form '{form_id}', which is neither {where}: deploy its .form file "
                "(saved by Camunda Modeler) with the diagram",
                element_id=task_spec.bpmn_id,
                element_type="bpmn:userTask",
                file=file,
                severity="error" if deployed else "warning",
            )
        )
    return problems
