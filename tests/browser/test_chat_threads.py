"""Threads in the page: two people reply in a thread beside the room, the parent shows the
count and the repliers, a hidden page is notified, a reply also sent to the room shows there,
the thread is read and its badge goes, a reply lost on its way is repaired into the open
thread; at desktop and phone widths, with axe-core."""

import json

import pytest
from django.contrib.auth import get_user_model

from emulator.settings import PostFaults
from tests.browser.chatpage import (
    DEADLINE_MS,
    axe_violations,
    fake_notifications,
    screenshot,
    send,
    shown,
    wait_until,
)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def serious(page) -> list[dict]:
    return [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]


def open_thread_of(page, text: str) -> None:
    """Reply in thread to the room's message saying `text`, with the keyboard's button."""
    message = page.locator("#messages li.message", has_text=text)
    message.wait_for()
    message.hover()
    message.locator("button.reply").click()
    page.locator("#thread:not([hidden])").wait_for()
    page.locator("#thread-messages li.message", has_text=text).wait_for()  # the parent on top


def reply(page, text: str, *, also_in_room: bool = False) -> None:
    if also_in_room:
        page.check("#thread-also")
    page.fill("#thread-input", text)
    page.press("#thread-input", "Enter")
    page.locator("#thread-messages li.message", has_text=text).wait_for()


def test_two_people_reply_and_see_the_count_and_the_notification(open_chat, room):
    alice = open_chat(room, "alice", setup=fake_notifications("granted"), viewport=DESKTOP)
    bob = open_chat(room, "bob", setup=fake_notifications("granted"), viewport=DESKTOP)
    send(alice, "Shall we ship on Friday?")
    open_thread_of(bob, "Shall we ship on Friday?")
    assert bob.evaluate("document.activeElement.id") == "thread-input"

    # Bob replies while Alice's page is hidden: she follows her message's thread.
    alice.evaluate("window.__setHidden(true)")
    reply(bob, "Yes, after the release notes")
    alice.wait_for_function("window.__notes.length === 1")
    assert alice.evaluate("window.__notes") == [
        {"title": f"bob replied in a thread in #{room}", "body": "Yes, after the release notes"}
    ]
    summary = alice.locator("#messages li.message .thread-summary")
    summary.locator(".thread-unread", has_text="1 new").wait_for()
    assert summary.locator(".thread-count").text_content().startswith("1 reply · last reply")
    assert summary.locator(".thread-people").text_content() == "bob"
    assert not [m for m in shown(alice) if "release notes" in (m["text"] or "")]

    # Alice comes back by the notification, which opens the thread; she replies also to the room.
    alice.evaluate("window.__setHidden(false)")
    alice.evaluate("window.__noteClicks[0]()")
    alice.locator("#thread:not([hidden])").wait_for()
    alice.locator("#thread-messages li.message", has_text="release notes").wait_for()
    summary.locator(".thread-unread").wait_for(state="detached")  # read: the badge goes
    bob.evaluate("window.__setHidden(true)")
    reply(alice, "Agreed, Friday it is @bob", also_in_room=True)
    bob.wait_for_function("window.__notes.length === 1")
    assert (
        bob.evaluate("window.__notes")[0]["title"] == f"alice mentioned you in a thread in #{room}"
    )
    bob.evaluate("window.__setHidden(false)")
    bob.locator("#messages li.message", has_text="Friday it is").wait_for()  # in the room too
    bob.locator("#thread-messages li.message", has_text="Friday it is").wait_for()
    wait_until(
        bob,
        "() => document.querySelector('#messages .thread-count')?.textContent"
        ".startsWith('2 replies')",
    )
    assert bob.locator("#messages .thread-people").text_content() == "alice, bob"
    # In the thread, a line with their number parts the parent from its replies
    wait_until(
        bob, "() => document.querySelector('#thread .thread-divider')?.textContent === '2 replies'"
    )
    assert bob.evaluate(
        "() => document.querySelector('#thread .thread-divider').previousElementSibling"
        ".classList.contains('message')"
    )

    # Both follow it now: "Your threads" in the details lists it.
    bob.locator("#followed-threads .followed-thread", has_text="Shall we ship").wait_for(
        state="attached"  # the details panel is behind the open thread
    )

    screenshot(alice, "threads-desktop")
    assert serious(alice) == []
    alice.press("#thread-input", "Escape")
    alice.locator("#thread").wait_for(state="hidden")
    alice.locator("#followed-threads .followed-thread", has_text="Shall we ship").wait_for()
    screenshot(alice, "threads-followed-desktop")
    assert serious(alice) == []
    # The count under the parent opens it again
    summary.click()
    alice.locator("#thread-messages li.message", has_text="release notes").wait_for()


def test_the_thread_takes_the_phone_screen_with_a_way_back(open_chat, room):
    alice = open_chat(room, "alice", viewport=DESKTOP)
    send(alice, "Lunch at noon?")
    reply_page = open_chat(room, "bob", viewport=PHONE)
    open_thread_of(reply_page, "Lunch at noon?")
    reply(reply_page, "Count me in")
    box = reply_page.locator("#thread").bounding_box()
    assert (box["x"], box["width"]) == (0, PHONE["width"])
    screenshot(reply_page, "threads-phone")
    assert serious(reply_page) == []
    reply_page.locator("#thread .thread-back").click()
    reply_page.locator("#thread").wait_for(state="hidden")
    reply_page.locator("#messages .thread-count", has_text="1 reply").wait_for()


@pytest.fixture
def bob_id(users) -> str:
    """Bob's user id, read before Chromium starts (the ORM is not async-safe)."""
    return str(get_user_model().objects.get(username="bob").pk)


def test_a_lost_reply_is_repaired_into_the_open_thread(bob_id, gateway, open_chat, room):
    """Alice's reply never reaches Bob's page (its POST answered 200, nothing delivered); her
    next room message's number shows the gap, and `since` brings the reply into the thread he
    has open and the new count onto its parent, never into the room."""
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Release plan?")
    open_thread_of(bob, "Release plan?")
    open_thread_of(alice, "Release plan?")
    saved = gateway.settings.post_faults
    gateway.settings.post_faults = PostFaults(drop=1.0, users=frozenset({bob_id}))
    try:
        reply(alice, "Lost on the way to bob")
    finally:
        gateway.settings.post_faults = saved
    send(alice, "Next, in the room")
    bob.locator("#messages li.message", has_text="Next, in the room").wait_for()
    bob.locator("#thread-messages li.message", has_text="Lost on the way").wait_for()
    bob.locator("#messages .thread-count", has_text="1 reply").wait_for()
    assert not [m for m in shown(bob) if "Lost on the way" in (m["text"] or "")]


def test_a_deleted_message_keeps_its_thread_readable(open_chat, room):
    """Bob (staff) deletes Alice's message while she reads its thread: it says "message
    deleted", its replies stay, the count stays on it in the room, and the thread takes no
    more replies."""
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Soon to go")
    open_thread_of(alice, "Soon to go")
    reply(alice, "A reply that stays")
    message = bob.locator("#messages li.message", has_text="Soon to go")
    message.hover()
    bob.once("dialog", lambda dialog: dialog.accept())
    message.locator("button.delete").click()
    alice.locator("#thread-messages li.message.deleted", has_text="message deleted").wait_for()
    assert alice.locator("#thread-messages li.message", has_text="A reply that stays").count()
    alice.locator("#messages li.message.deleted .thread-count", has_text="1 reply").wait_for()
    assert alice.locator("#thread-input").is_disabled()


# Every "N new" badge a page's room list shows, however briefly (a MutationObserver sees each).
WATCH_BADGES = """
window.__badges = [];
new MutationObserver(() => {
  for (const badge of document.querySelectorAll("#messages .thread-unread")) {
    window.__badges.push(badge.textContent);
  }
}).observe(document.getElementById("messages"), { subtree: true, childList: true,
                                                   characterData: true });
"""


def test_a_reply_in_the_thread_being_read_is_never_new(open_chat, room):
    """Alice reads her message's thread while Bob replies: its parent in the room never shows
    "1 new", not even until her page marks the reply read; with the thread closed, it does."""
    alice = open_chat(room, "alice", viewport=DESKTOP)
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Which font for the slides?")
    open_thread_of(alice, "Which font for the slides?")
    open_thread_of(bob, "Which font for the slides?")
    alice.evaluate(WATCH_BADGES)

    # When Bob replies twice while Alice's thread is open
    reply(bob, "Inter, as on the site")
    reply(bob, "or Source Sans")
    alice.locator("#thread-messages li.message", has_text="or Source Sans").wait_for()
    alice.locator("#messages .thread-count", has_text="2 replies").wait_for()
    # (her page's read mark went out, and the server's count of it came back)
    wait_until(alice, "() => window.__badges !== undefined")
    alice.wait_for_timeout(1500)
    # Then the parent never said "new", and "Your threads" does not either
    assert alice.evaluate("window.__badges") == []
    assert alice.locator("#followed-threads .thread-unread").count() == 0

    # When she closes the thread and Bob replies again: now it is new
    alice.press("#thread-input", "Escape")
    alice.locator("#thread").wait_for(state="hidden")
    reply(bob, "Final answer: Inter")
    alice.locator("#messages .thread-unread", has_text="1 new").wait_for()


def read_told(payload) -> bool:
    """A frame telling a follower's tabs that a thread of theirs has nothing unread."""
    frame = json.loads(payload)
    return frame.get("type") == "thread_unread" and frame.get("unread") == 0


def test_a_thread_opened_by_its_summary_is_read(open_chat, room):
    """A reply comes while Alice's thread is closed ("1 new" on its parent); she opens it by
    the parent's summary and sees the reply: the badge goes, and after a reload the server
    agrees. She had opened and closed that thread a moment before (a read mark still waiting
    when it closed must not keep the next opening from marking)."""
    sockets = []
    alice = open_chat(
        room,
        "alice",
        viewport=DESKTOP,
        setup=lambda page: page.on("websocket", lambda ws: sockets.append(ws)),
    )
    bob = open_chat(room, "bob", viewport=DESKTOP)
    send(alice, "Notes for reviewers")
    open_thread_of(bob, "Notes for reviewers")
    # Given Alice glanced at the thread and closed it at once (its replies had just arrived)
    open_thread_of(alice, "Notes for reviewers")
    alice.locator("#thread .history-marker", has_text="The start of the thread.").wait_for()
    alice.press("#thread-input", "Escape")
    alice.locator("#thread").wait_for(state="hidden")

    # When Bob replies while her thread is closed, and she opens it by the parent's summary
    reply(bob, "One nit on the sidebar")
    summary = alice.locator("#messages li.message", has_text="Notes for reviewers").locator(
        ".thread-summary"
    )
    summary.locator(".thread-unread", has_text="1 new").wait_for()
    # (the server tells her tabs once her read mark is stored: the reload waits for that, as a
    # reload sooner may come before the mark's write)
    with sockets[-1].expect_event("framereceived", predicate=read_told, timeout=DEADLINE_MS):
        summary.click()
        alice.locator("#thread-messages li.message", has_text="One nit").wait_for()

    # Then the badge goes, and the server holds it read: a reload shows no "1 new"
    summary.locator(".thread-unread").wait_for(state="detached")
    alice.reload()
    alice.wait_for_selector("#status[data-state=live]")
    summary.locator(".thread-count", has_text="1 reply").wait_for()
    alice.wait_for_function("document.querySelector('#followed-threads li') !== null")
    assert summary.locator(".thread-unread").count() == 0
