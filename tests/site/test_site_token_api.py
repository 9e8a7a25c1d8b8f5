"""POST /api/token/: trading credentials or a session (with CSRF) for a WebSocket token."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.test import Client
from django.urls import reverse

from chat.views import MAX_TOKEN_REQUEST_BYTES

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def post_json(client: Client, body: object, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(reverse("api_token"), data=data, content_type="application/json", **extra)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) == {"error", "message"}


@pytest.mark.usefixtures("dynamodb")
def test_credentials_give_a_token_the_authorizer_accepts(client, alice, password, verify, settings):
    """A username and password in JSON give a token that verifies as that user, for the TTL."""
    before = datetime.now(UTC).replace(microsecond=0)
    response = post_json(client, {"username": "alice", "password": password})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at", "websocket_url"}
    assert body["websocket_url"] == settings.WEBSOCKET_URL
    user = verify(body["token"])
    assert (user.user_id, user.username, user.is_staff) == (str(alice.pk), "alice", False)
    assert ISO_UTC.match(body["expires_at"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(seconds=settings.TOKEN_TTL_SECONDS)
    assert before + ttl <= expires_at <= datetime.now(UTC) + ttl
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] == int(expires_at.timestamp())
    assert claims["nbf"] == claims["exp"] - settings.TOKEN_TTL_SECONDS
    # iat to the millisecond, in nbf's second: a token issued just after a ban still connects
    assert claims["nbf"] <= claims["iat"] < claims["nbf"] + 1
    assert claims["jti"]
    assert "no-store" in response["Cache-Control"]


@pytest.mark.usefixtures("dynamodb")
def test_each_token_has_its_own_id(client, alice, password):
    """Two tokens issued in the same second still differ, by their `jti`."""
    first = post_json(client, {"username": "alice", "password": password}).json()["token"]
    second = post_json(client, {"username": "alice", "password": password}).json()["token"]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["jti"] != claims[1]["jti"]


@pytest.mark.usefixtures("dynamodb")
def test_staff_claim_follows_the_user(client, django_user_model, password, verify):
    """A staff user's token says so, because the Lambdas decide staff-only actions from it."""
    django_user_model.objects.create_user(username="root", password=password, is_staff=True)
    response = post_json(client, {"username": "root", "password": password})
    assert verify(response.json()["token"]).is_staff is True


@pytest.mark.usefixtures("dynamodb")
def test_ttl_comes_from_settings(client, alice, password, settings):
    """TOKEN_TTL_SECONDS sets the token's lifetime."""
    settings.TOKEN_TTL_SECONDS = 60
    token = post_json(client, {"username": "alice", "password": password}).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["nbf"] == 60


@pytest.mark.usefixtures("dynamodb")
def test_issuer_and_audience_come_from_the_lambdas_config(client, alice, password, verify):
    """The site signs with whatever issuer and audience the Lambdas' config expects."""
    from tests.helpers import bind_config

    bind_config(TOKEN_ISSUER="site-under-test", TOKEN_AUDIENCE="sockets-under-test")
    try:
        token = post_json(client, {"username": "alice", "password": password}).json()["token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["iss"], claims["aud"]) == ("site-under-test", "sockets-under-test")
        assert verify(token).username == "alice"
    finally:
        bind_config()


@pytest.mark.usefixtures("dynamodb")
def test_session_with_csrf_token_gives_a_token(alice, verify):
    """A logged-in browser gets a token with an empty body and the page's CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("room", kwargs={"room": "general"}))
    csrf = re.search(r'data-csrf-token="([^"]+)"', page.content.decode()).group(1)
    response = client.post(reverse("api_token"), HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert verify(response.json()["token"]).user_id == str(alice.pk)


@pytest.mark.usefixtures("dynamodb")
def test_session_with_csrf_cookie_value_gives_a_token(alice, verify):
    """The CSRF cookie's value works as the header too: chat.js prefers it over the page's copy."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("room", kwargs={"room": "general"}))
    response = client.post(reverse("api_token"), HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 200
    assert verify(response.json()["token"]).username == "alice"


@pytest.mark.usefixtures("dynamodb")
def test_session_with_a_bodiless_post_gives_a_token(alice, verify):
    """What chat.js sends (no body, no Content-Type, the CSRF header) is the session path."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("room", kwargs={"room": "general"}))
    response = client.generic(
        "POST", reverse("api_token"), HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )
    assert response.status_code == 200
    assert verify(response.json()["token"]).username == "alice"


def test_form_encoded_credentials_are_a_bad_request(client, alice, password):
    """Credentials must come as JSON; a form carrying them is refused, not ignored."""
    response = client.post(reverse("api_token"), {"username": "alice", "password": password})
    assert_error(response, 400, "invalid_request")


@pytest.mark.usefixtures("dynamodb")
def test_session_without_csrf_token_is_refused(alice):
    """A session request without a CSRF token gets 403 csrf_failed, not a token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("room", kwargs={"room": "general"}))  # the CSRF cookie alone is not enough
    assert_error(client.post(reverse("api_token")), 403, "csrf_failed")


@pytest.mark.usefixtures("dynamodb")
def test_session_from_another_origin_is_refused(alice):
    """A valid CSRF token does not help a request whose Origin is another site."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("room", kwargs={"room": "general"}))
    response = client.post(
        reverse("api_token"),
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        HTTP_ORIGIN="https://evil.example",
    )
    assert_error(response, 403, "csrf_failed")


@pytest.mark.usefixtures("dynamodb")
def test_credentials_need_no_csrf_token(alice, password):
    """JSON credentials carry no ambient authority, so they work without any CSRF token."""
    client = Client(enforce_csrf_checks=True)
    response = post_json(client, {"username": "alice", "password": password})
    assert response.status_code == 200


@pytest.mark.usefixtures("dynamodb")
def test_wrong_password_is_refused(client, alice):
    """A wrong password gets 401 invalid_credentials."""
    assert_error(
        post_json(client, {"username": "alice", "password": "nope"}), 401, "invalid_credentials"
    )


@pytest.mark.usefixtures("dynamodb")
def test_unknown_user_is_refused(client):
    """An unknown username gets the same 401 as a wrong password."""
    response = post_json(client, {"username": "nobody", "password": "whatever"})
    assert_error(response, 401, "invalid_credentials")


@pytest.mark.usefixtures("dynamodb")
def test_inactive_user_is_refused(client, alice, password):
    """A deactivated user gets no token, even with the right password: 403 account_suspended."""
    alice.is_active = False
    alice.save()
    response = post_json(client, {"username": "alice", "password": password})
    assert_error(response, 403, "account_suspended")


def test_inactive_users_session_is_not_enough(alice):
    """A session of a since-deactivated user gives no token: 403 account_suspended."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    alice.is_active = False
    alice.save()
    assert_error(client.post(reverse("api_token")), 403, "account_suspended")


def test_no_body_and_no_session_is_refused(client):
    """Without credentials or a session the answer is 401 not_authenticated."""
    assert_error(client.post(reverse("api_token")), 401, "not_authenticated")


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"username": "alice", "password": ',
        b"\xff\xfe\x00garbage",
        "[" * 4000 + "]" * 4000,
        '{"username": ' + "1" * 5000 + ', "password": "x"}',
    ],
    ids=["malformed", "truncated", "bad-utf8", "deeply-nested", "huge-integer"],
)
def test_malformed_json_is_a_bad_request(client, body):
    """A body that is not valid JSON gets 400 invalid_request, never a 500."""
    assert_error(post_json(client, body), 400, "invalid_request")


@pytest.mark.parametrize("body", [[], ["alice", "pw"], "alice", 1, None, True])
def test_json_that_is_not_an_object_is_a_bad_request(client, body):
    """Only a JSON object can carry credentials."""
    assert_error(post_json(client, json.dumps(body)), 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "pw"},
        {"username": None, "password": "pw"},
        {"username": "alice", "password": 123},
        {"username": ["alice"], "password": "pw"},
        {"username": "ali\x00ce", "password": "pw"},
    ],
    ids=["empty", "no-password", "no-username", "null", "number", "list", "nul-char"],
)
def test_missing_or_wrong_typed_fields_are_a_bad_request(client, alice, body):
    """username and password must both be strings when a body is sent."""
    assert_error(post_json(client, body), 400, "invalid_request")


def test_oversized_body_is_a_bad_request(client):
    """A body over the cap is refused before it is parsed."""
    body = {"username": "alice", "password": "x" * MAX_TOKEN_REQUEST_BYTES}
    assert_error(post_json(client, body), 400, "invalid_request")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_not_allowed(client, method):
    """Only POST issues tokens; everything else gets a JSON 405 naming POST."""
    response = getattr(client, method)(reverse("api_token"))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_token_api_url_is_stable():
    """The browser and the docs rely on the token endpoint living at /api/token/."""
    assert reverse("api_token") == "/api/token/"
