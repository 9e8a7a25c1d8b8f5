"""Two people in Chromium talk to each other through the site, the gateway and dynalite."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


@pytest.fixture
def site(live_server, settings, gateway, keys, tmp_path):
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
    return live_server.url


@pytest.fixture
def browser():
    # Started inside the test (after the users exist): Playwright's sync API keeps an event loop
    # in this thread, and Django refuses ORM calls from a thread with a running loop.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_chat(browser, site: str, room: str, username: str):
    page = browser.new_context().new_page()
    page.goto(f"{site}/accounts/login/?next=/rooms/{room}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("form [type=submit]")
    page.wait_for_selector("#status[data-state=live]", timeout=15_000)
    return page


@pytest.mark.django_db(transaction=True)
def test_two_users_talk_in_a_room(site, room, request):
    """Alice's message appears on Bob's page; user text is shown as text, never as HTML."""
    users = get_user_model().objects
    for name in ("alice", "bob"):
        users.create_user(name, password="correct horse battery")
    browser = request.getfixturevalue("browser")

    alice = open_chat(browser, site, room, "alice")
    bob = open_chat(browser, site, room, "bob")
    alice.fill("#message-input", "hi bob, it's alice")
    alice.press("#message-input", "Enter")
    bob.locator("#messages li.message", has_text="hi bob, it's alice").wait_for(timeout=10_000)
    alice.locator("#messages li.message.own", has_text="hi bob, it's alice").wait_for()

    hostile = '<img src=x onerror="document.body.dataset.pwned=1"><script>1</script>'
    bob.fill("#message-input", hostile)
    bob.press("#message-input", "Enter")
    alice.locator("#messages li.message", has_text="<img src=x").wait_for(timeout=10_000)
    assert alice.locator("#messages img, #messages script").count() == 0
    assert alice.evaluate("document.body.dataset.pwned") is None

    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "chat-alice.png"), full_page=True)
    bob.screenshot(path=str(ARTIFACTS / "chat-bob.png"), full_page=True)
