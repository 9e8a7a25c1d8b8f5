"""The deployed site survives a rotation of its database password (dynamowave_site's
rotating_postgres backend): a refused connection is tried once more with the secret's current
credentials, and only then."""

from __future__ import annotations

import pytest
from django.db.backends.postgresql import base as postgresql
from django.test import override_settings

from dynamowave_site.rotating_postgres import base as rotating


@pytest.fixture
def server(monkeypatch) -> list[dict]:
    """A server that accepts only the password "new"; the connection attempts it saw."""
    attempts: list[dict] = []

    def connect(self, conn_params: dict):
        attempts.append(dict(conn_params))
        if conn_params.get("password") != "new":
            raise postgresql.Database.OperationalError("password authentication failed")
        return "connection"

    monkeypatch.setattr(postgresql.DatabaseWrapper, "get_new_connection", connect)
    return attempts


def wrapper() -> rotating.DatabaseWrapper:
    return rotating.DatabaseWrapper({"USER": "dynamowave", "PASSWORD": "old", "OPTIONS": {}})


@override_settings(DATABASE_SECRET_ARN="arn:aws:secretsmanager:us-east-1:1:secret:db")
def test_a_refused_password_is_read_again_from_the_secret_and_kept(server, monkeypatch):
    monkeypatch.setattr(rotating, "database_credentials", lambda arn: ("dynamowave", "new"))
    database = wrapper()
    assert database.get_new_connection({"user": "dynamowave", "password": "old"}) == "connection"
    assert [a["password"] for a in server] == ["old", "new"]
    assert database.settings_dict["PASSWORD"] == "new"  # the instance's later connections


@override_settings(DATABASE_SECRET_ARN="arn:aws:secretsmanager:us-east-1:1:secret:db")
def test_the_same_credentials_are_not_tried_twice(server, monkeypatch):
    monkeypatch.setattr(rotating, "database_credentials", lambda arn: ("dynamowave", "old"))
    with pytest.raises(postgresql.Database.OperationalError):
        wrapper().get_new_connection({"user": "dynamowave", "password": "old"})
    assert len(server) == 1


@override_settings(DATABASE_SECRET_ARN="")
def test_without_a_secret_a_refusal_stands(server, monkeypatch):
    monkeypatch.setattr(rotating, "database_credentials", lambda arn: pytest.fail("read"))
    with pytest.raises(postgresql.Database.OperationalError):
        wrapper().get_new_connection({"user": "dynamowave", "password": "old"})
