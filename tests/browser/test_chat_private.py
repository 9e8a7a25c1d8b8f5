"""A private room in Chromium: a member adds another from the members page, they talk, and the
one removed sees the room close on their page and cannot come back."""

import pytest
from django.contrib.auth import get_user_model

from lambdas.models import Member, Room
from lambdas.services.unread import counts_of
from tests.browser.chatpage import fake_notifications, send
from tests.helpers import wait_for


def unread_of(room: str, username: str) -> int:
    """The count the user's badge shows (derived from the room's and their read position)."""
    (member,) = [m for m in Member.query(room) if m.username == username]
    return counts_of(member=member, room=Room.get(room)).unread


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
    alice.get_by_role("link", name=f"Back to #{name}").click()  # back to the chat page
    alice.wait_for_selector("#status[data-state=live]")
    send(carol, "hello, members")
    alice.locator("#messages li.message", has_text="hello, members").wait_for()

    alice.click("#members-link")
    alice.locator("#member-list .member", has_text="carol").locator(".remove-member").click()
    alice.wait_for_selector("#member-list")
    assert alice.locator("#member-list .member", has_text="carol").count() == 0
    carol.wait_for_selector("#notice:has-text('you are not a member')")
    assert carol.locator("#message-input").is_disabled()


def open_conversation(open_chat, who: str, people: str):
    """`who` opens a conversation from the rooms page; their page in it, and its name."""
    page = open_chat("general", who)
    page.click("#nav-rooms")
    page.click("#direct-new")
    page.fill("#id_people", people)
    page.click("#direct-form [type=submit]")
    page.wait_for_selector("#status[data-state=live]")
    return page, page.url.rstrip("/").rsplit("/", 1)[1]


def test_two_people_open_a_direct_conversation_and_talk(open_chat):
    """Alice starts it from the rooms page; Bob finds it under Direct messages, named after her."""
    alice, conversation = open_conversation(open_chat, "alice", "bob")
    assert alice.locator(".room-name").text_content() == "bob"

    bob = open_chat("general", "bob")
    bob.click("#nav-rooms")
    entry = bob.locator(f"#direct-room-list li[data-room='{conversation}']")
    assert entry.locator(".room-title").text_content() == "alice"
    entry.locator("a").click()
    bob.wait_for_selector("#status[data-state=live]")
    send(bob, "hi alice, just us")
    alice.locator("#messages li.message", has_text="hi alice, just us").wait_for()
    send(alice, "hi bob")
    bob.locator("#messages li.message", has_text="hi bob").wait_for()
    bob.locator("#presence li", has_text="alice").wait_for()


def test_an_unread_badge_and_a_mention_reach_another_room_and_clear_on_reading(open_chat):
    """Bob sits in #general; Alice writes to him in their conversation: his room switcher
    shows the count and the mention at once; opening it shows a "New messages" line above her
    message, his name highlighted, and afterwards the badges are gone."""
    alice, conversation = open_conversation(open_chat, "alice", "bob")
    send(alice, "first, before bob looks")
    # Counted just after the message is delivered: wait for both, then open Bob's page.
    alice.locator("#messages li.message.own:not(.pending)").wait_for()
    assert wait_for(lambda: unread_of(conversation, "bob") == 1)

    bob = open_chat("general", "bob")
    entry = bob.locator(f"#switcher li[data-room='{conversation}']")
    assert entry.locator(".badge.unread").text_content() == "1"  # rendered by the site
    send(alice, "@bob are you there?")
    entry.locator(".badge.unread:not([hidden])", has_text="2").wait_for()
    assert entry.locator(".badge.mention").text_content() == "@1"

    entry.locator("a").click()
    bob.wait_for_selector("#status[data-state=live]")
    bob.locator("#messages li.new-messages").wait_for()
    assert bob.locator("#messages li.new-messages ~ li.message .text").first.text_content() == (
        "first, before bob looks"
    )
    assert bob.locator("#messages .mention.me").text_content() == "@bob"
    assert wait_for(lambda: unread_of(conversation, "bob") == 0)  # the page marked it read
    bob.goto(bob.url.replace(f"/rooms/{conversation}/", "/rooms/general/"))
    bob.wait_for_selector("#status[data-state=live]")
    assert bob.locator(f"#switcher li[data-room='{conversation}'] .badge.unread").is_hidden()


def test_a_hidden_page_notifies_of_direct_messages_and_counts_them_in_its_title(open_chat):
    """Once Bob allows it (his click), a message in his conversation raises a notification
    while his page is hidden, and the title counts it; a visible page notifies of nothing."""
    alice, conversation = open_conversation(open_chat, "alice", "bob")
    bob = open_chat("general", "bob", setup=fake_notifications())
    title = bob.title()
    bob.click("#notify-toggle")
    bob.locator("#notify-toggle").wait_for(state="hidden")

    bob.evaluate("window.__setHidden(true)")
    send(alice, "are you around?")
    bob.wait_for_function("window.__notes.length === 1")
    assert bob.evaluate("window.__notes") == [{"title": "alice", "body": "sent you a message"}]
    assert bob.title() == f"(1) {title}"

    bob.evaluate("window.__setHidden(false)")
    assert bob.title() == title
    send(alice, "never mind")
    bob.locator(f"#switcher li[data-room='{conversation}'] .badge.unread", has_text="2").wait_for()
    assert bob.evaluate("window.__notes.length") == 1  # looked at: nothing raised


@pytest.fixture
def team_room(private_room) -> str:
    """alice's private room with carol as a member too."""
    from chat.services.members import member_add

    carol = get_user_model().objects.get(username="carol")
    member_add(
        room=Room.get(private_room), user_id=str(carol.pk), username="carol", added_by="alice"
    )
    return private_room


def test_the_composer_suggests_members_to_mention(team_room, open_chat):
    alice = open_chat(team_room, "alice")
    alice.fill("#message-input", "")
    alice.type("#message-input", "lunch, @ca")
    suggestions = alice.locator("#mention-suggestions li")
    suggestions.first.wait_for()
    assert suggestions.all_text_contents() == ["@carol"]
    alice.keyboard.press("Tab")
    assert alice.input_value("#message-input") == "lunch, @carol "
    assert alice.locator("#mention-suggestions").is_hidden()
    alice.type("#message-input", "?")
    alice.keyboard.press("Enter")
    alice.locator("#messages li.message.own:not(.pending) .mention", has_text="@carol").wait_for()


def test_the_rooms_page_counts_live_and_lists_a_new_conversation(open_chat):
    """Bob watches his rooms page: a conversation Alice opens with him and Carol appears on it
    with her message and mention counted, hidden it notifies him (permission given on a chat
    page), and its badges clear when he reads in another tab."""
    bob = open_chat("general", "bob", setup=fake_notifications())
    bob.click("#nav-rooms")
    bob.evaluate("Notification.permission = 'granted'")
    bob.wait_for_selector("#rooms-page[data-live=live]")
    alice, conversation = open_conversation(open_chat, "alice", "bob, carol")
    send(alice, "@bob plans for friday?")
    entry = bob.locator(f"#direct-room-list li[data-room='{conversation}']")
    entry.locator(".badge.unread:not([hidden])", has_text="1").wait_for()
    assert entry.locator(".badge.mention").text_content() == "@1"
    assert entry.locator(".room-title").text_content() == "alice, carol"
    title = bob.title()
    bob.evaluate("window.__setHidden(true)")
    send(alice, "or saturday")
    entry.locator(".badge.unread", has_text="2").wait_for()
    assert bob.evaluate("window.__notes") == [
        {"title": "alice, carol", "body": "sent you a message"}
    ]
    assert bob.title() == f"(1) {title}"
    bob.evaluate("window.__setHidden(false)")

    open_chat(conversation, "bob")  # another tab reads it
    entry.locator(".badge.unread").wait_for(state="hidden")
    assert entry.locator(".badge.mention").is_hidden()
