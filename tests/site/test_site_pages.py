"""The site's pages: sign-up, log in and out, and the chat page the browser test drives."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-enough-passphrase-42"


def test_home_redirects_to_the_general_room(client):
    """/ sends everyone to #general (which asks anonymous visitors to log in)."""
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/rooms/general/"


def test_signup_creates_the_user_and_logs_them_in(client, dynamodb):
    """A valid sign-up creates the user, starts their session and sends them to /."""
    response = client.post(
        reverse("signup"),
        {"username": "bob", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = get_user_model().objects.get(username="bob")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("room", kwargs={"room": "general"})).status_code == 200


def test_signup_with_mismatched_passwords_shows_the_form_again(client):
    """An invalid sign-up re-renders the form with errors and creates nobody."""
    response = client.post(
        reverse("signup"),
        {"username": "bob", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"},
    )
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not get_user_model().objects.filter(username="bob").exists()


@pytest.mark.parametrize("name", ["\u0430dmin", "ädmin", "Admin"])
def test_a_name_passing_for_another_cannot_sign_up(client, django_user_model, name):
    """`аdmin` (its а Cyrillic), `ädmin` and `Admin` are refused next to `admin`."""
    django_user_model.objects.create_user("admin", password="pw")
    response = client.post(
        reverse("signup"),
        {"username": name, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not django_user_model.objects.filter(username=name).exists()


def test_sign_ups_from_one_address_have_an_hourly_quota(settings, dynamodb):
    """Past SIGNUPS_PER_IP_PER_HOUR accounts from one address the next is refused, unmade."""
    from django.test import Client

    settings.SIGNUPS_PER_IP_PER_HOUR = 2
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    names = [f"s{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for name in names:
        response = Client(REMOTE_ADDR=address).post(
            reverse("signup"),
            {"username": name, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
    assert response.status_code == 200 and "at most 2 sign-ups" in response.content.decode()
    users = get_user_model().objects
    assert [users.filter(username=n).exists() for n in names] == [True, True, False]
    response = Client(REMOTE_ADDR="198.19.0.1").post(
        reverse("signup"),
        {"username": names[2], "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302


def test_signup_page_renders(client):
    """The sign-up page shows its form to anonymous visitors."""
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    assert b'id="signup-form"' in response.content


def test_login_page_renders(client):
    """The login page shows its form with username and password fields."""
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="login-form"' in content
    assert 'name="username"' in content and 'name="password"' in content


@pytest.mark.usefixtures("dynamodb")
def test_login_sends_the_user_to_the_chat(client, alice, password):
    """Logging in redirects to / (and from there to #general)."""
    response = client.post("/accounts/login/", {"username": "alice", "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout_is_a_post_that_ends_the_session(client, alice):
    """Logging out (POST, as in Django 5) ends the session and goes back to the login page."""
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_room_requires_login(client):
    """Anonymous visitors are sent to the login page, with the room as `next`."""
    response = client.get("/rooms/general/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/rooms/general/"


def test_room_page_carries_what_chat_js_needs(client, alice, make_room):
    """The chat page names the room, user, token URL and CSRF token, and has every element."""
    make_room("design-review", title="Design review")
    client.force_login(alice)
    response = client.get("/rooms/design-review/")
    assert response.status_code == 200
    content = response.content.decode()
    root = re.search(r'<div id="chat"[^>]*>', content).group(0)
    assert 'data-room="design-review"' in root
    assert 'data-username="alice"' in root
    assert f'data-user-id="{alice.pk}"' in root
    assert 'data-staff="false"' in root
    assert 'data-max-chars="4000"' in root
    assert 'data-token-url="/api/token/"' in root
    assert 'data-rooms-url="/rooms/"' in root
    assert re.search(r'data-csrf-token="[^"]{32,}"', root)
    assert "data-backoff" not in root  # production timings unless a test shortens them
    for element in (
        '<h1 class="room-name">Design review <span class="room-slug">#design-review</span>',
        '<span id="status"',
        'data-state="connecting"',
        '<ol id="messages"',
        '<ul id="presence"',
        '<p id="typing"',
        '<form id="composer"',
        '<textarea name="message" id="message-input"',
        'id="send"',
        '<span id="char-count" class="char-count" aria-live="polite">0 / 4000</span>',
        'id="notice"',
        '<a href="/rooms/" id="nav-rooms">Rooms</a>',
    ):
        assert element in content
    assert '<script type="module" src="/static/chat/chat.js">' in content
    assert "csrftoken" in response.cookies


def test_room_page_tells_the_script_about_staff(client, django_user_model, make_room, settings):
    """Staff get data-staff="true" (they may delete any message); timings come from settings."""
    room = make_room()
    settings.CHAT_CLIENT_TIMINGS = {"backoff-base-ms": 100}
    staff = django_user_model.objects.create_user(username="sam", is_staff=True)
    client.force_login(staff)
    root = re.search(r'<div id="chat"[^>]*>', client.get(f"/rooms/{room}/").content.decode())
    assert 'data-staff="true"' in root.group(0)
    assert 'data-backoff-base-ms="100"' in root.group(0)


@pytest.mark.parametrize(
    "room", ["General", "-leading-dash", "a" * 65, "dots.here", "space%20y", "general%0A"]
)
def test_bad_room_names_are_not_found(client, alice, room):
    """Rooms the Lambdas would refuse (ROOM_RE, matched whole) are a 404 here too."""
    client.force_login(alice)
    response = client.get(f"/rooms/{room}/")
    assert response.status_code == 404
    assert b"This room does not exist" in response.content


def test_static_files_are_found_and_user_text_never_goes_through_innerhtml():
    """The chat modules and stylesheet are served from static/; none ever writes HTML strings."""
    assert finders.find("chat/chat.css") is not None
    for name in ("chat.js", "connection.js", "render.js", "people.js"):
        script = finders.find(f"chat/{name}")
        assert script is not None, name
        source = Path(script).read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, (name, sink)
    render = Path(finders.find("chat/render.js")).read_text(encoding="utf-8")
    assert "textContent" in render and "createTextNode" in render
