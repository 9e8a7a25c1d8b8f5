"""Logging out ends the chat of that browser, and "Log out everywhere" of every browser: their
tokens refused and sockets closed at once, through the real gateway; failures are told."""

from __future__ import annotations

import json
import uuid
from importlib import import_module

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from websockets.exceptions import ConnectionClosed

from chat.sessions import browser_session_id, user_browser_sessions_delete
from devstack.dynamodb import free_port
from lambdas.models import Revocation
from tests.helpers import DEADLINE, bind_config, recv_json
from tests.local.test_gateway import handshake_status

pytestmark = pytest.mark.django_db


def unique_pk() -> int:
    """A user id no other test has: revocations stay in DynamoDB across tests, while the test
    database hands out the same ids again."""
    return 20_000 + uuid.uuid4().int % 10**9


def closed(tab) -> bool:
    """Whether the tab hears that the server closed its socket (in seconds, however busy)."""
    with pytest.raises(ConnectionClosed):
        while True:
            tab.recv(timeout=DEADLINE)
    return True


@pytest.fixture
def site_keys(settings, keys) -> None:
    """The site signs with the key the gateway's authorizer trusts: its tokens connect."""
    settings.TOKEN_SIGNING_KEY = keys.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def erin(django_user_model):
    """A user of this test's own id: revocations stay in DynamoDB across tests."""
    return django_user_model.objects.create_user("erin", password="pw", pk=unique_pk())


def browser(user) -> Client:
    """A browser of its own (cookies, session) logged in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def token(client: Client) -> str:
    response = client.post(reverse("api_token"))
    assert response.status_code == 200, response.content
    return response.json()["token"]


def claims(issued: str) -> dict:
    return jwt.decode(issued, options={"verify_signature": False})


def live(tab) -> bool:
    tab.send(json.dumps({"action": "ping"}))
    return recv_json(tab)["type"] == "pong"


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# -- tokens --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("dynamodb")
def test_a_browser_sessions_tokens_share_its_id_and_credentials_tokens_have_none(
    erin, verify, settings
):
    """Tokens of one browser session carry the same `sid`, another browser's another; a token
    for credentials carries none and leaves no session behind."""
    laptop, phone = browser(erin), browser(erin)
    first, second = verify(token(laptop)), verify(token(laptop))
    assert first.session_id and first.session_id == second.session_id
    assert verify(token(phone)).session_id not in (None, first.session_id)
    sessions = Session.objects.count()
    cli = Client()
    response = cli.post(
        reverse("api_token"),
        {"username": "erin", "password": "pw"},
        content_type="application/json",
    )
    assert "sid" not in claims(response.json()["token"])
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.count() == sessions


def test_tabs_asking_for_their_first_token_at_once_get_the_same_session_id(erin, rf, settings):
    """Two requests that loaded the session before either saved it store the same id, so a
    logout finds every tab's sockets; it is not the session key."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    key = browser(erin).cookies[settings.SESSION_COOKIE_NAME].value
    ids = []
    for _ in range(2):
        request = rf.post(reverse("api_token"))
        request.user, request.session = erin, store(session_key=key)
        request.session.load()
        ids.append(browser_session_id(request=request, user=erin))
    assert ids[0] == ids[1] and key not in ids[0]


# -- logging out of one browser ------------------------------------------------------------------


def test_logout_closes_only_that_browsers_sockets_and_refuses_its_tokens(
    site_keys, erin, connect, room, gateway
):
    """Logging out on the laptop closes its room and lobby sockets before the page answers and
    refuses a token it had not used yet; the phone's socket stays, and it still connects."""
    laptop, phone = browser(erin), browser(erin)
    laptop_tabs = [connect(room, token=token(laptop)), connect(token=token(laptop), lobby=True)]
    unused = token(laptop)
    phone_tab = connect(room, token=token(phone))

    response = laptop.post(reverse("logout"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert flash(response) == []  # nothing went wrong
    assert all(closed(tab) for tab in laptop_tabs)
    assert handshake_status(connect, room, token=unused) == 403
    assert laptop.post(reverse("api_token")).status_code == 401
    assert live(phone_tab)
    assert live(connect(room, token=token(phone)))


def test_a_logout_that_cannot_reach_the_sockets_still_logs_out_and_says_so(
    site_keys, erin, connect, room, gateway
):
    """Without an @connections endpoint the logout happens, the session's tokens are refused,
    and the login page says the open tabs could not be closed."""
    laptop = browser(erin)
    connect(room, token=token(laptop))
    unused = token(laptop)
    bind_config(MANAGEMENT_ENDPOINT_URL="")
    try:
        response = laptop.post(reverse("logout"), follow=True)
    finally:
        bind_config()
    assert flash(response) == [
        "You are logged out, but your open chat tabs could not be closed: "
        "this site cannot reach the chat's connections."
    ]
    assert b'id="flash"' in response.content
    assert laptop.post(reverse("api_token")).status_code == 401
    assert handshake_status(connect, room, token=unused) == 403


def test_a_logout_while_the_chats_storage_is_down_still_logs_out_and_says_so(erin, dynamodb):
    """DynamoDB unreachable: the logout happens and the login page says why the chat tabs
    could not be closed."""
    laptop = browser(erin)
    token(laptop)  # the chat was opened: the session has an id to revoke
    bind_config(DYNAMODB_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nobody
    try:
        response = laptop.post(reverse("logout"), follow=True)
    finally:
        bind_config()
    assert flash(response) == [
        "You are logged out, but your open chat tabs could not be closed: "
        "the chat's storage could not be reached."
    ]
    assert laptop.post(reverse("api_token")).status_code == 401


def test_a_logout_of_a_browser_that_never_opened_the_chat_costs_nothing(erin, dynamodb):
    """No token was issued in the session: the logout makes no DynamoDB call at all."""
    laptop = browser(erin)
    client = Revocation._get_connection().connection.client
    calls = []

    def count(model, params, **kwargs):
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", count)
    try:
        response = laptop.post(reverse("logout"), follow=True)
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    assert flash(response) == [] and calls == []
    assert laptop.post(reverse("api_token")).status_code == 401


# -- everywhere ----------------------------------------------------------------------------------


def test_log_out_everywhere_ends_every_browser_of_the_user_and_no_one_elses(
    site_keys, erin, django_user_model, connect, room, gateway
):
    """Every socket of the user closes and every token of theirs is refused; every browser of
    theirs is logged out of the site; another user keeps their socket and session."""
    laptop, phone, tablet = browser(erin), browser(erin), browser(erin)
    tabs = [
        connect(room, token=token(laptop)),
        connect(room, token=token(phone)),
        connect(token=token(phone), lobby=True),
    ]
    unused = [token(laptop), token(phone)]
    gus = browser(django_user_model.objects.create_user("gus", password="pw", pk=unique_pk()))
    gus_tab = connect(room, token=token(gus))

    response = laptop.post(reverse("logout_everywhere"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert flash(response) == [
        "You are logged out everywhere: 2 other browser session(s) ended, "
        "3 chat connection(s) closed."
    ]
    assert all(closed(tab) for tab in tabs)
    assert all(handshake_status(connect, room, token=t) == 403 for t in unused)
    for client in (laptop, phone, tablet):
        assert client.post(reverse("api_token")).status_code == 401
    assert live(gus_tab)
    assert gus.post(reverse("api_token")).status_code == 200


def test_log_out_everywhere_is_a_protected_post(erin, dynamodb):
    """The header offers it as a POST form beside "Log out"; GET is refused, a POST without the
    CSRF token is refused, and a visitor who is not logged in is sent to the login page."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(erin)
    page = client.get(reverse("rooms")).content.decode()
    form = page[page.index(f'action="{reverse("logout_everywhere")}"') :]
    assert 'method="post"' in page and "csrfmiddlewaretoken" in form.split("</form>")[0]
    assert 'id="logout-everywhere"' in form.split("</form>")[0]
    assert client.get(reverse("logout_everywhere")).status_code == 405
    assert client.post(reverse("logout_everywhere")).status_code == 403
    assert client.post(reverse("api_token")).status_code != 401  # still logged in
    anonymous = Client().post(reverse("logout_everywhere"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_sessions_that_cannot_be_listed_are_reported_not_ignored(erin, settings):
    """With signed-cookie sessions there is no list to delete from: None, not 0."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert user_browser_sessions_delete(user=erin, keep=None) is None
