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
