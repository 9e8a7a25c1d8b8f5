"""A large room's batches in Chromium (BATCH_ROOM_SIZE lowered to 1, so two people online make a
room large): the page shows what arrives in `changes` frames in order, its own messages once
(their copy at once, then in a batch), and the reactions of others."""

from __future__ import annotations

import json

import pytest

from lambdas.models import Message, Room
from tests.browser.chatpage import record_frames, screenshot, send, shown, wait_until
from tests.helpers import wait_for

SHOWN_TEXTS = (
    "(want) => JSON.stringify([...document.querySelectorAll('#messages li.message .text')]"
    ".map((t) => t.textContent)) === JSON.stringify(want)"
)


@pytest.fixture
def large(configure):
    configure(BATCH_ROOM_SIZE=1)


def _stored(room: str) -> list[Message]:
    return sorted(Message.query(room), key=lambda m: m.seq)


def test_a_large_rooms_batches_show_every_message_once_in_order(large, open_chat, room):
    frames: list[str] = []
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob", setup=record_frames(frames, "framereceived"))
    assert wait_for(lambda: (Room.get(room).online or 0) == 2)
    for n in range(6):
        send(alice, f"batched {n}")
        send(bob, f"reply {n}")
    assert wait_for(lambda: len(_stored(room)) == 12)
    stored = [m.text for m in _stored(room)]
    for page in (alice, bob):
        wait_until(page, SHOWN_TEXTS, arg=stored)
        assert [m["text"] for m in shown(page)] == stored
        assert not any(m["pending"] for m in shown(page))
    kinds = [json.loads(f).get("type") for f in frames if f.startswith("{")]
    assert "changes" in kinds and "message_updated" not in kinds
    assert kinds.count("message") == 6  # bob's own copies, at once; the rest came in batches

    # A reaction by bob reaches alice in a batch.
    message = bob.locator("#messages li.message", has_text="batched 0")
    message.hover()
    message.locator("button.react").click()
    message.locator(".palette button.pick", has_text="🎉").click()
    alice.locator("#messages .reaction[data-emoji='🎉']", has_text="🎉 1").wait_for()
    assert alice.locator("#status").get_attribute("data-state") == "live"


def test_a_large_rooms_people_list_names_some_and_counts_all(open_chat, room):
    """A presence list of a room with more online than it names (PRESENCE_LIST_MAX) ends with
    "and N more", and the page counts everyone (its typing policy reads the count)."""
    for width, height, name in ((1440, 900, "desktop"), (390, 844, "phone")):
        page = open_chat(room, "alice", viewport={"width": width, "height": height})
        # The room's own list first (the page asks once open), so it cannot replace this one.
        wait_until(page, "() => document.getElementById('presence').dataset.count === '1'")
        page.evaluate(
            """async () => {
                const chat = document.querySelector("script[type=module][src*='chat/chat']").src;
                const { Presence } = await import(chat.replace(/chat\\.[^/]*js$/, "people.js"));
                const list = document.getElementById("presence");
                new Presence(list, { userId: "1" }).show(
                    [{ id: "1", username: "alice" }, { id: "2", username: "bob" }], 1500);
            }"""
        )
        more = page.locator("#presence li.more")
        assert more.text_content() == "and 1,498 more"
        assert page.locator("#presence").get_attribute("data-count") == "1500"
        if name == "desktop":
            screenshot(page, "chat-large-room-people")
        page.context.close()
