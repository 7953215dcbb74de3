"""schemathesis against the API's own OpenAPI schema, on SQLite and PostgreSQL.

Every operation is called with generated requests (valid and invalid) under an admin key; a
response must never be a 5xx and must conform to the schema (status code, content type, body,
headers), and invalid requests must be refused. "Schema-valid data is accepted" is left out: the
schema cannot say everything the server checks (that an e-mail address or an IANA time zone is
real), and those items are refused one by one, as they should be.

The examples are derandomized (the same every run: CI must not flake); a longer random hunt:
``RETENTIO_SCHEMATHESIS_EXAMPLES=200 pytest tests/integration/test_api_schema.py``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from api_helpers import bearer
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from retentio.api import ApiConfig, create_app


@pytest.fixture()
def api_schema(api_config: ApiConfig, api_keys: dict[str, str]) -> Any:
    """The schema of an app with limits high enough for generated traffic."""
    app = create_app(replace(api_config, rate_per_second=10_000.0, rate_burst=10_000))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


# schemathesis.pytest.from_fixture does not run under pytest 9 (it reads a removed private
# attribute), so the operations are walked here, each with its own hypothesis run.
def test_every_operation_conforms(api_schema: Any, api_keys: dict[str, str]) -> None:
    headers = bearer(api_keys["admin"])
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("RETENTIO_SCHEMATHESIS_EXAMPLES", "15")),
            derandomize=os.environ.get("RETENTIO_SCHEMATHESIS_EXAMPLES") is None,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        conforms()
