"""A private room in Chromium: a member adds another from the members page, they talk, and the
one removed sees the room close on their page and cannot come back."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from lambdas.services.rooms import room_create
from tests.browser.chatpage import send


@pytest.fixture
def private_room(users) -> str:
    """A private room of alice's; made before Chromium starts (the ORM is not async-safe)."""
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


def test_a_member_added_then_removed_loses_the_room_at_once(private_room, open_chat):
    name = private_room
    alice = open_chat(name, "alice")
    carol_page = open_chat(name, "carol", wait_live=False)  # not a member yet: a 403 page
    assert "This room is private" in carol_page.content()

    alice.click("#members-link")
    alice.fill("#id_username", "carol")
    alice.click("#member-add-form [type=submit]")
    alice.locator("#member-list .member", has_text="carol").wait_for()

    carol = open_chat(name, "carol")
    alice.click("#members-heading a")  # back to the chat page
    alice.wait_for_selector("#status[data-state=live]")
    send(carol, "hello, members")
    alice.locator("#messages li.message", has_text="hello, members").wait_for(timeout=10_000)

    alice.click("#members-link")
    alice.locator("#member-list .member", has_text="carol").locator(".remove-member").click()
    alice.wait_for_selector("#member-list")
    assert alice.locator("#member-list .member", has_text="carol").count() == 0
    carol.wait_for_selector("#notice:has-text('you are not a member')", timeout=10_000)
    assert carol.locator("#message-input").is_disabled()


def test_two_people_open_a_direct_conversation_and_talk(open_chat):
    """Alice starts it from the rooms page; Bob finds it under Direct messages, named after her."""
    alice = open_chat("general", "alice")
    alice.click("#nav-rooms")
    alice.click("#direct-new")
    alice.fill("#id_people", "bob")
    alice.click("#direct-form [type=submit]")
    alice.wait_for_selector("#status[data-state=live]")
    assert alice.locator(".room-name").text_content() == "bob"
    conversation = alice.url.rstrip("/").rsplit("/", 1)[1]

    bob = open_chat("general", "bob")
    bob.click("#nav-rooms")
    entry = bob.locator(f"#direct-room-list li[data-room='{conversation}']")
    assert entry.locator(".room-title").text_content() == "alice"
    entry.locator("a").click()
    bob.wait_for_selector("#status[data-state=live]")
    send(bob, "hi alice, just us")
    alice.locator("#messages li.message", has_text="hi alice, just us").wait_for(timeout=10_000)
    send(alice, "hi bob")
    bob.locator("#messages li.message", has_text="hi bob").wait_for(timeout=10_000)
    bob.locator("#presence li", has_text="alice").wait_for()
