"""A suspended (inactive) user is told so, on the login page and at /api/token/, whatever the
password; everyone else still gets the usual answers, and failures are still counted."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from chat.accounts import SUSPENDED_MESSAGE
from tests.helpers import bind_config

pytestmark = pytest.mark.django_db

USUAL_MESSAGE = "Please enter a correct username and password."


@pytest.fixture
def user(django_user_model, password):
    """A user of this test's own: the login counters live in dynalite, shared by the session."""
    return django_user_model.objects.create_user(
        username=f"u{uuid.uuid4().hex[:10]}", password=password
    )


@pytest.fixture
def suspended(user, django_user_model):
    """`user`, deactivated without the signals (they would try to close chat sessions)."""
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    return user


@pytest.fixture
def client() -> Client:
    """A caller of its own, so no other test's failures count against it."""
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9")


@pytest.fixture
def five_failures():
    """The production login limit: 5 failures per 5 minutes (tests elsewhere run unthrottled)."""
    bind_config(LOGIN_FAILURES_ALLOWED=5, LOGIN_FAILURE_WINDOW_SECONDS=300)
    yield
    bind_config()


def log_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def login_error_codes(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def token(client: Client, username: str, password: str):
    body = json.dumps({"username": username, "password": password})
    return client.post(reverse("api_token"), body, content_type="application/json")


def assert_suspended(response) -> None:
    assert response.status_code == 403
    assert response.json() == {"error": "account_suspended", "message": SUSPENDED_MESSAGE}


@pytest.fixture(params=["right", "wrong"])
def given_password(request, password) -> str:
    return password if request.param == "right" else "not the password"


@pytest.mark.usefixtures("dynamodb")
def test_login_page_tells_a_suspended_user_so_whatever_the_password(
    client, suspended, given_password
):
    """Right or wrong password, the form says the account is suspended and logs nobody in."""
    response = log_in(client, suspended.username, given_password)
    assert response.status_code == 200
    assert login_error_codes(response) == ["inactive"]
    page = response.content.decode()
    assert SUSPENDED_MESSAGE in page and USUAL_MESSAGE not in page
    assert SESSION_KEY not in client.session


@pytest.mark.usefixtures("dynamodb")
def test_login_page_wrong_password_of_an_active_user_is_the_usual_message(client, user):
    """An active user's wrong password is still answered as a wrong username or password."""
    response = log_in(client, user.username, "not the password")
    assert login_error_codes(response) == ["invalid_login"]
    assert SUSPENDED_MESSAGE not in response.content.decode()


@pytest.mark.usefixtures("dynamodb")
def test_login_page_unknown_username_is_the_usual_message(client, suspended, password):
    """A username nobody has is a wrong username or password, even next to a suspended one."""
    response = log_in(client, f"nobody-{uuid.uuid4().hex[:8]}", password)
    assert login_error_codes(response) == ["invalid_login"]
    assert SUSPENDED_MESSAGE not in response.content.decode()


@pytest.mark.usefixtures("dynamodb")
def test_token_credentials_of_a_suspended_user_are_refused_as_suspended(
    client, suspended, given_password
):
    """Right or wrong password, /api/token/ answers 403 account_suspended and no token."""
    assert_suspended(token(client, suspended.username, given_password))


@pytest.mark.usefixtures("dynamodb")
def test_token_credentials_of_others_are_still_invalid_credentials(client, suspended):
    """An unknown username is still 401 invalid_credentials beside a suspended user."""
    response = token(client, f"nobody-{uuid.uuid4().hex[:8]}", "whatever")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"


@pytest.mark.usefixtures("dynamodb")
def test_token_session_of_a_user_suspended_since_is_refused_as_suspended(user, django_user_model):
    """The chat page's request (session and CSRF header) after a ban gets 403 account_suspended,
    not 401 not_authenticated, so the page can say why the chat ended."""
    # Given a logged-in page holding its CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("room", kwargs={"room": "general"}))
    csrf = client.cookies["csrftoken"].value
    # When the user is deactivated and the page asks for a new token
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    response = client.post(reverse("api_token"), HTTP_X_CSRFTOKEN=csrf)
    # Then it is told the account is suspended, and the session still reads as anonymous
    assert_suspended(response)
    assert client.get(reverse("rooms")).status_code == 302


def test_token_session_no_longer_valid_is_not_authenticated_even_if_suspended(
    user, django_user_model
):
    """A session that the password change ended says nothing about the account: still 401."""
    client = Client()
    client.force_login(user)
    user.set_password("a new password, changed since")
    django_user_model.objects.filter(pk=user.pk).update(password=user.password, is_active=False)
    response = client.post(reverse("api_token"))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.usefixtures("dynamodb")
def test_failures_of_a_suspended_user_are_still_counted(five_failures, client, suspended, password):
    """Five tries at a suspended account, even with its right password, are five failures: the
    login page and /api/token/ then refuse the caller as rate limited."""
    for _ in range(3):
        assert_suspended(token(client, suspended.username, password))
    for _ in range(2):
        assert login_error_codes(log_in(client, suspended.username, password)) == ["inactive"]
    assert token(client, suspended.username, password).status_code == 429
    assert login_error_codes(log_in(client, suspended.username, password)) == ["rate_limited"]
