"""What the OpenAPI spec says beyond what the endpoints' decorators give: every error is application/problem+json
(RFC 9457), any operation may answer 503 with Retry-After when the database is unavailable, and deployments and lint
take multipart/form-data files. Clients generated from the spec, and the fuzzing in CI, rely on it."""

from __future__ import annotations

from typing import Any

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error (RFC 9457). Some carry more members: `errors` (per field), `problems` (lint), "
    "`deadLetterId` (a start kept as a dead letter).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {},
        "problems": {"type": "array", "items": {"type": "object"}},
        "deadLetterId": {"type": "string"},
    },
    "additionalProperties": True,
}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
FILES_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": ".bpmn, .dmn and .form files (any field name is read)",
                    }
                },
                "required": ["files"],
            }
        }
    },
}
MULTIPART_OPERATIONS = {("/api/v1/deployments", "post"), ("/api/v1/lint", "post")}
UNAVAILABLE = {
    "description": "The database is unavailable just now: send the same request again (with the same "
    "Idempotency-Key) after Retry-After seconds. Nothing was kept.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    "content": PROBLEM,
}


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """The APIFlask spec_processor: adds the problem+json errors, 503, and the multipart bodies."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if (path, method) in MULTIPART_OPERATIONS:
                operation["requestBody"] = FILES_BODY
                responses.setdefault("413", {"description": "A file or the upload is over the size limit"})
                responses.setdefault("422", {"description": "Not BPMN or DMN, or problems in the files"})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not valid JSON, or nests too deeply"})
            if operation.get("security"):
                responses.setdefault("403", {"description": "The token's user lacks the role"})
            responses.setdefault("503", UNAVAILABLE)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = PROBLEM
    return spec
