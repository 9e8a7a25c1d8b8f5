"""Fuzz: `/api/token/` answers any method, body and content type with JSON and a known code.

Never a 500 or an HTML page, and nothing written: no user, no session (the token endpoint never
logs anyone in). Failed logins do count in the `limits` table; that is its job, not a leak.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import CLIENT_CODES, fuzz_settings, json_values, scaled

pytestmark = pytest.mark.django_db

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=bogus",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=bogus",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data; boundary=",
        "text/plain",
        "",
    ]
) | st.text(max_size=60)


def credentials(password: str) -> st.SearchStrategy[bytes]:
    username = st.sampled_from(["alice", "ALICE", "alice\x00", ""]) | st.text(max_size=30)
    secret = st.sampled_from([password, password + " ", ""]) | st.text(max_size=30)
    field = json_values | st.text(max_size=30)
    shaped = st.fixed_dictionaries(
        {}, optional={"username": username | field, "password": secret | field, "x": field}
    )
    return shaped.map(lambda data: json.dumps(data).encode())


def bodies(password: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        credentials(password),
        credentials(password),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=300),
        st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3).map(
            lambda form: urllib.parse.urlencode(form).encode()
        ),
        st.sampled_from([b"", b"{", b"\xff\xfe", b"[" * 5000, b"9" * 5000, b"x" * 9000]),
    )


@pytest.mark.usefixtures("dynamodb")
def test_token_endpoint_never_fails_or_writes(alice, password):
    """Any request gets JSON with `token` (right credentials) or a known `error`, and no 5xx."""
    client = Client()
    users, sessions = get_user_model().objects.count(), Session.objects.count()
    statuses: list[int] = []

    @fuzz_settings(1500)
    @given(
        method=st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH"]),
        body=bodies(password),
        content_type=CONTENT_TYPES,
    )
    def run(method, body, content_type):
        response = client.generic(
            method, reverse("api_token"), data=body, content_type=content_type
        )
        statuses.append(response.status_code)
        assert response.status_code in {200, 400, 401, 403, 405, 429}, response.content[:300]
        assert response["Content-Type"] == "application/json"
        answer = response.json()
        if response.status_code == 200:
            assert set(answer) == {"token", "expires_at", "websocket_url"}
        else:
            assert answer["error"] in CLIENT_CODES and answer["message"], answer

    run()
    assert len(statuses) == scaled(1500)
    assert (get_user_model().objects.count(), Session.objects.count()) == (users, sessions)
    assert {200, 400, 401, 405} <= set(statuses)
