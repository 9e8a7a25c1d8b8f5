"""Login attempts are throttled per username and per IP, on the login page and on /api/token/."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.helpers import reconfigure

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def five_failures(monkeypatch):
    """The production defaults: 5 failures per 5 minutes (tests elsewhere run unthrottled)."""
    monkeypatch.setenv("LOGIN_FAILURES_ALLOWED", "5")
    monkeypatch.setenv("LOGIN_FAILURE_WINDOW_SECONDS", "300")
    reconfigure()
    yield
    monkeypatch.undo()
    reconfigure()


@pytest.fixture
def user(django_user_model, password):
    """A user of this test's own: the counters live in dynalite, shared by the whole session."""
    return django_user_model.objects.create_user(
        username=f"u{uuid.uuid4().hex[:10]}", password=password
    )


@pytest.fixture
def client() -> Client:
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


def token(client: Client, username: str, password: str, **extra):
    body = json.dumps({"username": username, "password": password})
    return client.post(reverse("api_token"), body, content_type="application/json", **extra)


def test_api_refuses_after_five_failures_even_the_right_password(client, user, password):
    """Five wrong passwords, then 429 rate_limited with retry_after; the password is not tried."""
    for _ in range(5):
        assert token(client, user.username, "wrong").status_code == 401
    response = token(client, user.username, password)
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "rate_limited" and body["message"]
    assert 0 < body["retry_after"] <= 300
    assert response["Retry-After"] == str(body["retry_after"])


def test_the_username_is_locked_from_other_ips(client, user, password):
    """The per-username counter holds whoever asks (a distributed guess at one account)."""
    for n in range(5):
        token(client, user.username, "wrong", REMOTE_ADDR=f"192.0.2.{n + 1}")
    assert token(client, user.username, password).status_code == 429


def test_the_ip_is_locked_across_usernames(client, user, password):
    """The per-IP counter holds across usernames (one caller spraying many accounts)."""
    for n in range(5):
        token(client, f"nobody-{uuid.uuid4().hex[:6]}-{n}", "wrong")
    assert token(client, user.username, password).status_code == 429
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert token(other, user.username, password).status_code == 200


def test_successful_logins_are_not_counted(client, user, password):
    """Ten successes and four failures leave the fifth failure still answered as 401."""
    for _ in range(10):
        assert token(client, user.username, password).status_code == 200
    for _ in range(5):
        assert token(client, user.username, "wrong").status_code == 401
    assert token(client, user.username, password).status_code == 429


def test_login_page_shows_a_form_error_when_throttled(client, user, password):
    """The login page counts the same failures and then refuses with a message, not a login."""
    url = reverse("login")
    for _ in range(5):
        response = client.post(url, {"username": user.username, "password": "wrong"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(url, {"username": user.username, "password": password})
    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The API shares the counters: the same username is refused there too.
    assert token(Client(REMOTE_ADDR="198.51.100.3"), user.username, password).status_code == 429


def test_login_page_still_logs_in(client, user, password):
    """Below the limit the login page works as before."""
    response = client.post(reverse("login"), {"username": user.username, "password": password})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
