"""Fixtures of the handler tests: a recording @connections API (limits set per test: the suite's
`configure`, tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def api(monkeypatch) -> FakeManagementApi:
    fake = FakeManagementApi()
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda endpoint: fake)
    return fake


@pytest.fixture
def dynamodb_calls(dynamodb) -> list[str]:
    """The DynamoDB operations made while the test runs (every model shares one client), by
    name, in order: what a service costs in requests."""
    from lambdas.models import Member

    calls: list[str] = []
    events = Member._get_connection().connection.client.meta.events

    def record(model, **kwargs) -> None:
        calls.append(model.name)

    events.register("before-call.dynamodb", record, unique_id="test-dynamodb-calls")
    yield calls
    events.unregister("before-call.dynamodb", unique_id="test-dynamodb-calls")
