"""Fixtures of the handler tests: a recording @connections API, and limits set per test."""

from __future__ import annotations

import pytest

from tests.helpers import reconfigure
from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def api(monkeypatch) -> FakeManagementApi:
    fake = FakeManagementApi()
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda endpoint: fake)
    return fake


@pytest.fixture
def configure(monkeypatch, dynamodb):
    """Set limit variables for one test, as a freshly configured Lambda would read them."""

    def configure(**env: object) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        reconfigure()

    yield configure
    monkeypatch.undo()
    reconfigure()
