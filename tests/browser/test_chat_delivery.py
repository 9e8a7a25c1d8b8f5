"""Delivery you can count on, in Chromium: a page whose @connections posts are dropped (answered
200, never delivered) still shows every message, in the room's order, without reconnecting. A
lost message followed by another is found by that one's number; a lost last one by the pong of
the page's next keep-alive ping (every second here, every 7 minutes by default)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from emulator.settings import PostFaults
from lambdas.models import Message
from tests.browser.chatpage import send, shown
from tests.browser.conftest import FAST_CLIENT


@pytest.fixture
def lossy_bob(gateway, users):
    """Two posts in five to bob's connections are dropped; made before Chromium starts."""
    bob = str(get_user_model().objects.get(username="bob").pk)
    saved = gateway.settings.post_faults
    gateway.settings.post_faults = PostFaults(drop=0.4, users=frozenset({bob}), seed=5)
    yield
    gateway.settings.post_faults = saved


def test_a_page_losing_posts_still_shows_every_message_in_order(
    lossy_bob, settings, open_chat, room
):
    settings.CHAT_CLIENT_TIMINGS = {**FAST_CLIENT, "ping-interval-ms": 1000}
    sockets = []
    alice = open_chat(room, "alice")
    bob = open_chat(
        room, "bob", setup=lambda page: page.on("websocket", lambda ws: sockets.append(ws))
    )
    for n in range(12):
        send(alice, f"note {n}")
        alice.wait_for_timeout(150)
    alice.wait_for_function(
        "document.querySelectorAll('#messages li.message.own:not(.pending)').length === 12"
    )
    stored = [m.text for m in sorted(Message.query(room), key=lambda m: m.seq)]
    assert sorted(stored) == sorted(f"note {n}" for n in range(12))
    bob.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('#messages li.message .text')]"
        ".map((t) => t.textContent)) === JSON.stringify(want)",
        arg=stored,
    )
    assert [m["text"] for m in shown(bob)] == stored
    assert len(sockets) == 1  # repaired on the same socket, never by reconnecting
    assert bob.locator("#status").get_attribute("data-state") == "live"
