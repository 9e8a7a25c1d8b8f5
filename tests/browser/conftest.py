"""Fixtures of the browser tests: the live site, users, Chromium, and a signed-in chat page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.browser.chatpage import DEADLINE_MS
from tests.helpers import RestartableGateway

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
# Short waits so reconnect tests take seconds, not the production half-minute.
FAST_CLIENT = {"backoff-base-ms": 200, "backoff-max-ms": 1000, "stable-after-ms": 500}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def site(live_server, settings, gateway, keys, tmp_path) -> str:
    """The Django site on a live server, issuing tokens the gateway's authorizer accepts."""
    from cryptography.hazmat.primitives import serialization

    key_file = tmp_path / "token-signing-key.pem"
    key_file.write_bytes(
        keys.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.TOKEN_SIGNING_KEY = ""
    settings.TOKEN_SIGNING_KEY_FILE = str(key_file)
    settings.WEBSOCKET_URL = gateway.websocket_url
    settings.CHAT_CLIENT_TIMINGS = dict(FAST_CLIENT)
    # The real hasher costs ~0.3 s per login; these tests are about the chat, not the hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return live_server.url


@pytest.fixture
def users(site, transactional_db) -> dict[str, str]:
    """alice and carol (members), bob (staff, may delete anyone's messages): session cookies.

    Sessions are made here, before the browser starts (see `browser`), and handed to Chromium
    as cookies: the login form has tests of its own, and skipping it saves a second per page.
    """
    model = get_user_model().objects
    sessions = {}
    for name, staff in (("alice", False), ("bob", True), ("carol", False)):
        client = Client()
        client.force_login(model.create_user(name, password=PASSWORD, is_staff=staff))
        sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return sessions


@pytest.fixture
def browser(users) -> Iterator:
    # Started after the users exist: Playwright's sync API keeps an event loop in this thread,
    # and Django refuses ORM calls from a thread with a running loop.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_chat(browser, site, users) -> Callable:
    """Open a room as a signed-in user, in a browser context of their own; returns the page."""

    def open_chat(room: str, username: str, *, setup=None, wait_live=True, **context_options):
        """`setup(page)` runs before the page loads: to watch or route its WebSockets."""
        context = browser.new_context(**context_options)
        context.set_default_timeout(DEADLINE_MS)
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": users[username], "url": site}
        context.add_cookies([cookie])
        page = context.new_page()
        if setup is not None:
            setup(page)
        page.goto(f"{site}/rooms/{room}/")
        if wait_live:
            page.wait_for_selector("#status[data-state=live]")
        return page

    return open_chat


@pytest.fixture
def own_gateway(site, gateway, settings) -> Iterator[RestartableGateway]:
    """A gateway of the test's own, which it may stop and start again at the same URL; the
    pages' WebSocket URL while the test runs (set after `site`, which points it at the
    session's gateway)."""
    restartable = RestartableGateway()
    settings.WEBSOCKET_URL = restartable.start().websocket_url
    yield restartable
    restartable.restore()


@pytest.fixture
def private_room(users) -> str:
    """A private room of alice's (bob and carol are not members); made before Chromium starts
    (the ORM is not async-safe)."""
    from chat.services.rooms import room_create

    alice_id = get_user_model().objects.get(username="alice").pk
    name = f"priv-{uuid.uuid4().hex[:10]}"
    room_create(
        name=name,
        title="Plans",
        description="",
        created_by="alice",
        private=True,
        creator_id=str(alice_id),
    )
    return name
