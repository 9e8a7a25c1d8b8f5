"""Logging out in one tab ends the chat of every tab of that browser, in Chromium: the socket
closes, the page says the session has ended, and nothing it sends reaches the room; the same
user's other browser stays connected."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from lambdas.models import Message
from tests.browser.chatpage import axe_violations, screenshot, send

# Every socket the page opens, kept where the test can reach it: after the logout, the test
# sends through them what a tampered page would.
RECORD_SOCKETS = """
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


@pytest.fixture
def alice_elsewhere(users) -> str:
    """A second browser session of alice's (her phone), made before Chromium starts; its
    name in `users` opens a page with it."""
    client = Client()
    client.force_login(get_user_model().objects.get(username="alice"))
    users["alice's phone"] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return "alice's phone"


def send_through_every_socket(page, frame: dict) -> None:
    page.evaluate(
        """(frame) => { for (const ws of window.__sockets) {
            try { ws.send(JSON.stringify(frame)); } catch {}
        } }""",
        frame,
    )


def stored(room: str) -> list[str]:
    return [message.text for message in Message.query(room)]


def test_logout_in_one_tab_ends_that_browsers_chat_and_not_the_other_browsers(
    alice_elsewhere, open_chat, site, room
):
    """Logout in one tab closes another tab's socket, whose page then says its session has
    ended and whose frames no longer reach the room, while her other browser stays live."""
    # Given: alice's chat tab, her phone in the same room, and carol listening.
    tab = open_chat(room, "alice", setup=lambda page: page.add_init_script(RECORD_SOCKETS))
    phone = open_chat(room, alice_elsewhere)
    carol = open_chat(room, "carol")
    send(tab, "before logout")
    carol.locator("#messages li.message", has_text="before logout").wait_for()

    # When: alice logs out in a second tab of the same browser.
    other_tab = tab.context.new_page()
    other_tab.goto(f"{site}/rooms/")
    other_tab.click("#logout")
    other_tab.wait_for_url("**/accounts/login/**")

    # Then: the first tab's socket is closed and the page says the session has ended.
    tab.wait_for_selector("#status:not([data-state=live])")
    tab.locator("#notice", has_text="Your session has ended.").wait_for()
    assert tab.locator("#notice a").text_content() == "Log in again"
    assert tab.locator("#status").get_attribute("data-state") == "offline"
    assert tab.locator("#message-input").is_disabled()
    assert axe_violations(tab) == []
    screenshot(tab, "chat-logged-out")

    # A frame sent through any socket the tab ever had reaches nobody.
    send_through_every_socket(
        tab,
        {"action": "sendmessage", "message": "after logout", "clientMessageId": "after-1"},
    )
    # Her phone is still live, and what it sends arrives after what the tab tried to send.
    assert phone.locator("#status").get_attribute("data-state") == "live"
    send(phone, "from the phone")
    carol.locator("#messages li.message", has_text="from the phone").wait_for()
    carol.wait_for_timeout(500)  # a late delivery of the tab's frame would land now
    assert carol.locator("#messages li.message", has_text="after logout").count() == 0
    assert "after logout" not in stored(room)
    assert sorted(stored(room)) == ["before logout", "from the phone"]
    assert phone.locator("#status").get_attribute("data-state") == "live"
    states = tab.evaluate("window.__sockets.map((ws) => ws.readyState)")
    assert states and all(state == 3 for state in states)  # CLOSED: none open or opening
