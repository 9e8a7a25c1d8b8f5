"""The rooms directory, live: its "N online" figures follow the rooms, and a status line says
whether the chat is reachable."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.browser.chatpage import ARTIFACTS, DEADLINE_MS
from tests.browser.conftest import FAST_CLIENT

STATUS = "#lobby-status"


@pytest.fixture
def fast_counts(site, settings):
    # The page reads the counts every 30 s; a test waits for one read, not for half a minute.
    settings.CHAT_CLIENT_TIMINGS = {**FAST_CLIENT, "online-every-ms": 250}


@pytest.fixture
def open_rooms(browser, site, users):
    def open_rooms(username: str, query: str = "", **context_options):
        context = browser.new_context(**context_options)
        context.set_default_timeout(DEADLINE_MS)
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": users[username], "url": site}
        context.add_cookies([cookie])
        page = context.new_page()
        page.goto(f"{site}/rooms/{'?q=' + query if query else ''}")
        return page

    return open_rooms


def test_online_counts_follow_people_joining_and_leaving(fast_counts, open_rooms, connect, room):
    """Someone opening the room raises its figure on an open rooms page, without a reload;
    their leaving brings it back to 0."""
    from playwright.sync_api import expect

    alice = open_rooms("alice", room)
    figure = alice.locator(f'#room-list li[data-room="{room}"] .online')
    expect(figure).to_have_text("0 online")
    expect(alice.locator(STATUS)).to_have_text("live")

    # As a chat page does on opening: its `presence` call announces it (and stores the count).
    dana = connect(room, user_id="9001", username="dana")
    dana.send('{"action": "presence"}')
    expect(figure).to_have_text("1 online")
    expect(figure).to_have_attribute("data-count", "1")
    erin = connect(room, user_id="9002", username="erin")
    erin.send('{"action": "presence"}')
    expect(figure).to_have_text("2 online")
    ARTIFACTS.joinpath("h4").mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "h4" / "rooms-live-counts.png"))
    dana.close()
    erin.close()
    expect(figure).to_have_text("0 online")


def test_the_status_says_when_the_chat_is_offline_and_when_it_is_back(own_gateway, open_rooms):
    """With the gateway gone the page says "chat offline, retrying…" in a status region, and
    "live" again once it is back."""
    from playwright.sync_api import expect

    alice = open_rooms("alice")
    status = alice.locator(STATUS)
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_text("live")
    expect(status).to_have_attribute("data-state", "live")

    own_gateway.stop()
    expect(status).to_have_text("chat offline, retrying…")
    ARTIFACTS.joinpath("h4").mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "h4" / "rooms-offline.png"))
    # The page itself still works: its lists and search are plain HTML.
    assert alice.locator("#room-search-input").is_enabled()

    own_gateway.start()
    expect(status).to_have_text("live")
