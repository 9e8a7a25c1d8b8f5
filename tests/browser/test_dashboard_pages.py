"""A superuser walks through every "Live chat" page in Chromium and disconnects a chat tab."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.browser.chatpage import screenshot
from tests.helpers import wait_for


@pytest.fixture
def boss_session(site, transactional_db) -> str:
    """A superuser's session cookie, made before the browser starts."""
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", password="x"))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_staff_opens_every_dashboard_page_and_disconnects_a_tab(
    boss_session, browser, site, open_chat, room
):
    """Each page renders in the admin layout; disconnecting closes the chosen chat tab."""
    sockets = []
    open_chat(room, "alice", setup=lambda page: page.on("websocket", lambda ws: sockets.append(ws)))
    context = browser.new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": boss_session, "url": site}]
    )
    admin = context.new_page()

    admin.goto(f"{site}/admin/")
    assert admin.locator("text=Live chat").first.is_visible()
    for path, name, marker in [
        ("live/", "overview", "#room-stats"),
        (f"live/connections/?room={room}", "connections", "#connections"),
        ("live/messages/", "messages", "#messages"),
        ("live/rooms/", "rooms", "#rooms"),
        ("live/audit/", "audit", "#audit"),
    ]:
        admin.goto(f"{site}/admin/{path}")
        admin.wait_for_selector(marker)
        assert admin.locator("#site-name").is_visible()  # the admin's own header and layout
        screenshot(admin, f"dashboard-{name}")

    admin.goto(f"{site}/admin/live/connections/?room={room}")
    admin.locator("#connections input[name=ids]").first.check()
    admin.click("#disconnect-selected")
    admin.wait_for_selector("text=1 connection(s) closed")
    assert wait_for(lambda: sockets[0].is_closed())  # the tab's socket was closed by the server
    admin.goto(f"{site}/admin/live/audit/")
    assert admin.locator("#audit td[data-action=disconnect]").count() == 1
    screenshot(admin, "dashboard-audit-after-disconnect")
