"""The site's tests run on PostgreSQL, the database deployed sites use, unless asked otherwise."""

from __future__ import annotations

import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_site_tests_run_on_the_sessions_postgresql():
    """The test database is PostgreSQL's (SQLite only with TEST_DATABASE=sqlite)."""
    expected = "sqlite" if os.environ.get("TEST_DATABASE") == "sqlite" else "postgresql"
    assert connection.vendor == expected
    if expected == "postgresql":
        # pytest-django names a pytest-xdist worker's database after it: test_dynamowave_gw0.
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        name = f"test_dynamowave_{worker}" if worker else "test_dynamowave"
        assert connection.settings_dict["NAME"] == name
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), inet_server_addr()::text")
            assert cursor.fetchone() == (name, "127.0.0.1/32")
