"""Login attempts are throttled per (username, caller), and slowed per username and per caller,
on the login page and on /api/token/; never a lock-out of the account."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.helpers import bind_config

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def five_failures():
    """The production defaults: 5 failures per 5 minutes (tests elsewhere run unthrottled)."""
    bind_config(LOGIN_FAILURES_ALLOWED=5, LOGIN_FAILURE_WINDOW_SECONDS=300)
    yield
    bind_config()


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


@pytest.mark.usefixtures("dynamodb")
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


@pytest.mark.usefixtures("dynamodb")
def test_guesses_from_one_address_leave_the_right_password_working_from_another(
    client, user, password
):
    """Five wrong passwords lock that caller out of that username only: the owner logs in at
    once from elsewhere, and other users from the same address too (everyone is 127.0.0.1
    locally: a developer's typos lock nobody else out)."""
    for _ in range(5):
        assert token(client, user.username, "wrong").status_code == 401
    assert token(client, user.username, password).status_code == 429
    assert token(Client(REMOTE_ADDR="203.0.113.9"), user.username, password).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_same_address_other_users_still_log_in(client, user, password, django_user_model):
    other = django_user_model.objects.create_user(f"o{uuid.uuid4().hex[:8]}", password=password)
    for _ in range(5):
        token(client, user.username, "wrong")
    assert token(client, other.username, password).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_a_distributed_guess_at_one_account_is_slowed_not_locked(
    client, user, password, monkeypatch
):
    """Past 10 failures from anywhere, each attempt at the username waits a delay that doubles
    (up to a minute), and the right password still works once it has passed. (The limiter's
    clock stands still between requests: a slow machine must not wait the delay out.)"""
    from lambdas.services import limits

    now = [time.time()]
    monkeypatch.setattr(limits, "clock", lambda: now[0])
    for n in range(10):
        token(client, user.username, "wrong", REMOTE_ADDR=f"192.0.2.{n + 1}")
    elsewhere = Client(REMOTE_ADDR="198.51.100.77")
    refused = token(elsewhere, user.username, password)
    assert refused.status_code == 429
    assert 0 < refused.json()["retry_after"] <= 1
    now[0] += refused.json()["retry_after"]
    assert token(elsewhere, user.username, password).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_spraying_from_one_address_is_slowed(client, user, password):
    """20 failures across usernames from one address delay its next attempt; others are fine."""
    for n in range(20):
        token(client, f"nobody-{uuid.uuid4().hex[:6]}-{n}", "wrong")
    refused = token(client, user.username, password)
    assert refused.status_code == 429 and refused.json()["retry_after"] <= 1
    assert token(Client(REMOTE_ADDR="203.0.113.10"), user.username, password).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_ipv6_addresses_count_by_their_64(user, password):
    """A host rotating through its /64 is one caller; the next /64 is another."""
    for n in range(5):
        token(Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1}"), user.username, "wrong")
    assert (
        token(Client(REMOTE_ADDR="2001:db8:1:2::abcd"), user.username, password).status_code == 429
    )
    assert token(Client(REMOTE_ADDR="2001:db8:1:3::1"), user.username, password).status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_deployed_the_caller_is_api_gateways_source_ip_not_a_header(settings, user, password):
    """Under Zappa the address comes from the request context (copied into
    X-Dynamowave-Source-Ip by Zappa): a forged X-Forwarded-For per attempt changes nothing."""
    settings.CLIENT_IP_HEADER = "X-Dynamowave-Source-Ip"
    caller = Client(HTTP_X_DYNAMOWAVE_SOURCE_IP="198.51.100.200")
    for n in range(5):
        token(caller, user.username, "wrong", HTTP_X_FORWARDED_FOR=f"10.9.8.{n}, 198.51.100.200")
    assert token(caller, user.username, password, HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429


def test_with_the_table_unavailable_logins_stay_limited(client, user, password, monkeypatch):
    """DynamoDB away (connection refused): the limits hold in memory; never open, and below the
    limit the right password still works."""
    from botocore.exceptions import EndpointConnectionError

    from chat import throttle

    def down(**kwargs):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    monkeypatch.setattr(throttle, "login_check", down)
    monkeypatch.setattr(throttle, "login_failure_record", down)
    monkeypatch.setattr(throttle, "fallback", throttle._Fallback())
    assert token(client, user.username, password).status_code == 200
    for _ in range(5):
        assert token(client, user.username, "wrong").status_code == 401
    assert token(client, user.username, password).status_code == 429


@pytest.mark.usefixtures("dynamodb")
def test_successful_logins_are_not_counted(client, user, password):
    """Ten successes and four failures leave the fifth failure still answered as 401."""
    for _ in range(10):
        assert token(client, user.username, password).status_code == 200
    for _ in range(5):
        assert token(client, user.username, "wrong").status_code == 401
    assert token(client, user.username, password).status_code == 429


@pytest.mark.usefixtures("dynamodb")
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
    # The API shares the counters: the same caller is refused there too.
    assert token(client, user.username, password).status_code == 429


@pytest.mark.usefixtures("dynamodb")
def test_login_page_still_logs_in(client, user, password):
    """Below the limit the login page works as before."""
    response = client.post(reverse("login"), {"username": user.username, "password": password})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize(
    ("viewer", "caller"),
    [("198.51.100.10:46532", "198.51.100.10"), ("2001:db8::1:46532", "2001:db8::1")],
)
def test_behind_cloudfront_the_caller_is_the_viewer_its_edge_header_vouches_for(
    settings, rf, viewer, caller
):
    """At a custom domain (DEPLOY.md) the caller is CloudFront-Viewer-Address without its
    port, IPv4 or IPv6, when CloudFront's edge header is right; without it, or with a wrong
    one (a caller going around CloudFront), API Gateway's sourceIp as before."""
    from chat.edge import edge_secret
    from chat.throttle import client_ip

    settings.BEHIND_CLOUDFRONT = True
    settings.CLIENT_IP_HEADER = "X-Dynamowave-Source-Ip"
    edge = edge_secret(secret_key=settings.SECRET_KEY)
    source = {"HTTP_X_DYNAMOWAVE_SOURCE_IP": "203.0.113.7"}
    through = rf.get("/", HTTP_CLOUDFRONT_VIEWER_ADDRESS=viewer, HTTP_X_DYNAMOWAVE_EDGE=edge)
    assert client_ip(through) == caller
    forged = rf.get("/", HTTP_CLOUDFRONT_VIEWER_ADDRESS=viewer, **source)
    assert client_ip(forged) == "203.0.113.7"
    wrong = rf.get(
        "/", HTTP_CLOUDFRONT_VIEWER_ADDRESS=viewer, HTTP_X_DYNAMOWAVE_EDGE="0" * 64, **source
    )
    assert client_ip(wrong) == "203.0.113.7"
