"""The README's screenshots of the chat page, desktop and phone, taken from a real conversation
through the local stack. `make screenshots` writes them to docs/; in `make test` they go to
test-artifacts/ and the test checks only that the page they show is whole (live, the sidebar's
rooms listed, every message rendered, no serious accessibility violation)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from chat.services.direct import direct_open
from chat.services.rooms import room_create
from lambdas.errors import RoomExists
from tests.browser.chatpage import ARTIFACTS, axe_violations, send, wait_until
from tests.browser.test_chat_threads import open_thread_of, reply

DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

ALICE = [
    "Morning! The **release** is cut: `v2.4.0` is on staging.",
    "Notes for reviewers:\n- every room is in the sidebar\n- drafts stay with their room",
]
BOB = [
    "Thanks @alice, looking now.",
    "One thing I saw:\n```\n$ make run\nsite  http://127.0.0.1:8000/\n```\n> the log is quieter",
    "Ship it 🚀",
]


@pytest.fixture
def rooms(users) -> dict[str, str]:
    """A team's rooms, made before Chromium starts (the ORM is not async-safe)."""
    ids = {u.username: str(u.pk) for u in get_user_model().objects.all()}
    for name, title, description in (
        ("releases", "Releases", "Release plans and rollouts"),
        ("random", "Random", "Anything goes"),
    ):
        with contextlib.suppress(RoomExists):  # the stack's dynalite outlives one test
            room_create(name=name, title=title, description=description, created_by="bob")
    with contextlib.suppress(RoomExists):
        room_create(
            name="design-review",
            title="Design review",
            description="",
            created_by="alice",
            private=True,
            creator_id=ids["alice"],
        )
    conversation = direct_open(
        people=[(ids["alice"], "alice"), (ids["bob"], "bob")], opened_by="alice"
    )
    return {"conversation": conversation.name}


DELIVERED = "(n) => document.querySelectorAll('#messages li.message:not(.pending)').length >= n"


def say(page, text: str) -> None:
    """Send and wait for the server's copy, so the next message (anyone's) comes after it."""
    before = page.locator("#messages li.message:not(.pending)").count()
    send(page, text)
    wait_until(page, DELIVERED, before + 1)


def test_the_readme_screenshots(rooms, open_chat):
    target = DOCS if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS / "docs"
    target.mkdir(parents=True, exist_ok=True)

    bob = open_chat("releases", "bob")
    alice = open_chat("random", "alice", viewport=DESKTOP)
    say(alice, "Lunch at noon?")
    alice.goto(alice.url.replace("/random/", "/releases/"))
    alice.wait_for_selector("#status[data-state=live]")
    for text in ALICE:
        say(alice, text)
    for text in BOB:
        say(bob, text)
    everything = len(ALICE) + len(BOB)
    wait_until(alice, DELIVERED, everything)
    # Bob answers the notes in their thread; Alice has it open beside the room
    open_thread_of(bob, "Notes for reviewers")
    reply(bob, "Drafts per room work for me. One nit on the sidebar, will file it.")
    summary = alice.locator("#messages li.message", has_text="Notes for reviewers").locator(
        ".thread-summary"
    )
    summary.wait_for()
    summary.click()
    alice.locator("#thread-messages li.message", has_text="One nit").wait_for()
    # Read once her page marks it (half a second after the replies arrive): no "1 new"
    summary.locator(".thread-unread").wait_for(state="detached")
    bob.goto(bob.url.replace("/releases/", f"/{rooms['conversation']}/"))
    bob.wait_for_selector("#status[data-state=live]")
    say(bob, "Got a minute after standup?")
    entry = f"#switcher li[data-room='{rooms['conversation']}']"
    alice.locator(f"{entry} .badge.unread:not([hidden])").wait_for()
    alice.mouse.move(20, DESKTOP["height"] - 20)  # no message's hover actions in the picture

    alice.screenshot(path=str(target / "chat-desktop.png"))
    assert not [v for v in axe_violations(alice) if v["impact"] in ("serious", "critical")]

    phone = open_chat("releases", "alice", viewport=PHONE, is_mobile=True, has_touch=True)
    wait_until(
        phone,
        "(n) => document.querySelectorAll('#messages li.message').length >= n",
        everything,
    )
    phone.screenshot(path=str(target / "chat-phone.png"))
    assert not [v for v in axe_violations(phone) if v["impact"] in ("serious", "critical")]
