"""Property-based run over the OpenAPI schema (schemathesis): generated requests, valid and not,
never get a 5xx, and every answer matches the schema it documents."""

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from altaviz.accounts.roles import Role
from tests.api.world import SeededOrg

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_no_generated_request_gets_a_server_error(app: FastAPI, org_a: SeededOrg) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    credentials = st.sampled_from(
        [
            {"x-api-key": org_a.api_keys[Role.ADMIN]},
            {"x-api-key": org_a.api_keys[Role.VIEWER]},
            {},
        ]
    )
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 20  # every operation's schema was read
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), headers=credentials)
        def check(case: schemathesis.Case[Any], headers: dict[str, str]) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as error:  # name the operation in the failure
            pytest.fail(f"{operation.method.upper()} {operation.path}: {error}", pytrace=False)
