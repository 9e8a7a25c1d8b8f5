"""A suspended user's chat page says so, in Chromium, rather than that their session ended."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth import get_user_model

from tests.browser.chatpage import axe_violations, screenshot


def off_the_loop(work):
    """Run ORM work in a thread of its own: Playwright's sync API keeps an event loop in this
    one, and Django refuses ORM calls from a thread with a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def test_a_suspended_users_page_says_the_account_is_suspended(gateway, open_chat, room):
    """Deactivated, then their socket closed: the page's next token request is refused with
    `account_suspended`, and the page says the account is suspended, with no retry."""
    from chat.services.moderation import user_disconnect
    from lambdas.management import management_api

    alice = open_chat(room, "alice")
    users = get_user_model().objects

    def suspend() -> str:
        users.filter(username="alice").update(is_active=False)  # no signal: the socket is ours
        return str(users.get(username="alice").pk)

    alice_id = off_the_loop(suspend)
    user_disconnect(api=management_api(gateway.management_url), user_id=alice_id)
    notice = alice.locator("#notice")
    notice.filter(has_text="Your account is suspended").wait_for()
    assert "session has ended" not in notice.text_content()
    assert alice.locator("#status").get_attribute("data-state") == "offline"
    assert alice.locator("#message-input").is_disabled()
    screenshot(alice, "chat-suspended")
    assert axe_violations(alice) == []
