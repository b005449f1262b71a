"""Fuzzing: schemathesis generates requests from the live OpenAPI spec of a real server (bodies, query strings, path
parameters, multipart uploads; valid ones and invalid ones) and none may answer 5xx. The default run tries a few
examples per operation and mode; `make fuzz` runs many more (ORDERFLOW_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support.server import TOKEN, Server

EXAMPLES = int(os.environ.get("ORDERFLOW_FUZZ_EXAMPLES", "6"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _server_errors(operation, mode: GenerationMode) -> list[str]:
    """Requests of one operation that got a 5xx, each with what reproduces it."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure in CI reproduces on a laptop
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case) -> None:
        response = case.call(headers=AUTH, timeout=30)
        if response.status_code >= 500:
            found.append(f"{response.status_code} {case.as_curl_command()} -> {response.text[:300]}")

    try:
        call()
    except Unsatisfiable:  # nothing of this operation can be made invalid (no parameters, no body)
        pass
    return found


def test_no_request_gets_a_server_error(server: Server) -> None:
    spec = schemathesis.openapi.from_url(f"{server.api}/openapi.json")
    errors: list[str] = []
    operations = [result.ok() for result in spec.get_all_operations()]
    assert len(operations) > 50  # the spec was read whole
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            errors += _server_errors(operation, mode)
    assert not errors, "\n".join(errors)


def test_the_spec_documents_problems_and_uploads(server: Server) -> None:
    spec = requests.get(f"{server.api}/openapi.json", timeout=10).json()
    start = spec["paths"]["/api/v1/process-definitions/{key}/instances"]["post"]["responses"]
    assert list(start["422"]["content"]) == ["application/problem+json"]
    assert "Retry-After" in start["503"]["headers"]
    upload = spec["paths"]["/api/v1/deployments"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["files"]["items"]["format"] == "binary"
