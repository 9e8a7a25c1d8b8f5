"""Every send ends visibly, in Chromium: delivered in order past the rate limit, failed for good
with its text and Retry / Edit / Discard, kept across a reload and sent once; drafts per room."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from emulator.settings import PostFaults
from lambdas.models import Message
from tests.browser.chatpage import (
    axe_violations,
    record_frames,
    screenshot,
    send,
    shown,
    wait_until,
)
from tests.helpers import RestartableGateway, bind_config, wait_for

DELIVERED = "(n) => document.querySelectorAll('#messages li.message:not(.pending)').length === n"
NONE_PENDING = "() => document.querySelectorAll('#messages li.pending').length === 0"


def stored_texts(room: str) -> list[str]:
    return [m.text for m in sorted(Message.query(room), key=lambda m: m.seq)]


@pytest.fixture
def real_limits(site, gateway, settings):
    """The production defaults for sends and typing (the suite lifts them): 5 messages a second
    in bursts of 10, one typing notice a second in bursts of 3; served by a gateway of the
    test's own whose functions run in this process, so the test can hold the limits' clock."""
    names = {
        "RATE_MESSAGES_PER_SECOND": "5",
        "RATE_MESSAGES_BURST": "10",
        "RATE_TYPING_PER_SECOND": "1",
        "RATE_TYPING_BURST": "3",
    }
    own = RestartableGateway(mode="thread")
    settings.WEBSOCKET_URL = own.start().websocket_url  # after `site`, which set the session's
    bind_config(**names)
    yield
    own.restore()
    bind_config()


class HeldClock:
    """The limits' clock, stopped until `release()`, then running on from where it stopped: a
    burst sent while it is held finds no token refilled however slowly the machine sends it."""

    def __init__(self) -> None:
        self.held_at, self.lost = time.time(), 0.0

    def __call__(self) -> float:
        return self.held_at if self.held_at is not None else time.time() - self.lost

    def release(self) -> None:
        self.lost, self.held_at = time.time() - self.held_at, None


def test_a_burst_past_the_rate_limit_arrives_in_order_exactly_once(
    real_limits, monkeypatch, open_chat, room
):
    """14 messages typed faster than the limit allows: the refused ones wait and go by
    themselves, every one is stored and shown once, in the order typed, none left pending; a
    burst of messages never trips the typing limit."""
    from lambdas.services import limits

    frames: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(frames, "framereceived"))
    bob = open_chat(room, "bob")
    texts = [f"burst {n:02d}" for n in range(14)]
    # Faster than the limit allows, whatever the machine's speed: no token comes back until a
    # send has been refused (the page's outbox sends one at a time, so on a busy machine the
    # bucket could otherwise refill as fast as it sends).
    clock = HeldClock()
    monkeypatch.setattr(limits, "clock", clock)
    for text in texts:
        send(alice, text)  # each fill is input: a typing notice may go
    wait_until(alice, "() => document.querySelector('#messages li.pending.waiting') !== null")
    clock.release()
    wait_until(alice, DELIVERED, 14)
    wait_until(alice, NONE_PENDING)
    assert stored_texts(room) == texts
    assert [m["text"] for m in shown(alice)] == texts
    wait_until(bob, DELIVERED, 14)
    assert [m["text"] for m in shown(bob)] == texts
    refusals = [f for f in frames if '"rate_limited"' in f]
    assert refusals, "the burst never reached the limit: the test proves nothing"
    assert not [f for f in refusals if '"typing"' in f], refusals
    assert alice.locator("#notice").is_hidden()


@pytest.fixture
def alice_id(users) -> str:
    return str(get_user_model().objects.get(username="alice").pk)


def test_a_refused_send_fails_with_its_text_and_is_never_sent_again(
    alice_id, gateway, private_room, open_chat
):
    """`@bob` is not a member: the send shows as failed, with its text and Retry / Edit /
    Discard; a reconnect does not send it again; Edit puts it back in the composer."""
    from chat.services.moderation import user_disconnect
    from lambdas.management import management_api

    sent: list[str] = []
    alice = open_chat(private_room, "alice", setup=record_frames(sent))
    send(alice, "hi @bob, look at this")
    failed = alice.locator("#messages li.pending.failed")
    failed.wait_for()
    assert failed.locator(".text").text_content() == "hi @bob, look at this"
    assert "not sent: @bob is not a member of this room" in failed.locator(".state").text_content()
    assert [b.text_content() for b in failed.locator(".send-actions button").all()] == [
        "Retry",
        "Edit",
        "Discard",
    ]
    assert failed.locator("button.retry").get_attribute("aria-label") == (
        "Retry sending your message “hi @bob, look at this”"
    )
    assert "not sent" in alice.locator("#notice").text_content()
    screenshot(alice, "chat-send-failed")
    send(alice, "a message that goes")
    wait_until(alice, DELIVERED, 1)

    # The socket is closed under the page: it reconnects and sends nothing it had refused.
    user_disconnect(api=management_api(gateway.management_url), user_id=alice_id)
    alice.wait_for_selector("#status[data-state=reconnecting]")
    alice.wait_for_selector("#status[data-state=live]")
    # Live means reopened: the new socket's opening frames (and any resends) have gone.
    assert len([f for f in sent if '"presence"' in f]) == 2
    assert len([f for f in sent if "look at this" in f]) == 1
    assert failed.count() == 1

    failed.locator("button.edit-failed").click()
    assert alice.locator("#message-input").input_value() == "hi @bob, look at this"
    assert failed.count() == 0
    assert stored_texts(private_room) == ["a message that goes"]


def test_discard_and_retry(private_room, open_chat):
    """Discard takes a failed send away for good; Retry sends it again (refused again here)."""
    alice = open_chat(private_room, "alice")
    send(alice, "hello @carol")
    failed = alice.locator("#messages li.pending.failed")
    failed.wait_for()
    failed.locator("button.retry").click()
    alice.locator("#messages li.pending.failed .state", has_text="not sent").wait_for()
    failed.locator("button.discard").click()
    assert alice.locator("#messages li.pending").count() == 0
    alice.reload()
    alice.wait_for_selector("#status[data-state=live]")
    assert alice.locator("#messages li.pending").count() == 0  # gone from storage too


@pytest.fixture
def deaf_alice(gateway, users):
    """Every @connections post to alice is dropped (answered 200, never delivered): her sends
    are stored but she never hears of them. Made before Chromium starts."""
    alice = str(get_user_model().objects.get(username="alice").pk)
    saved = gateway.settings.post_faults
    gateway.settings.post_faults = PostFaults(drop=1.0, users=frozenset({alice}))

    def hear_again():
        gateway.settings.post_faults = saved

    yield hear_again
    gateway.settings.post_faults = saved


def test_a_reload_keeps_an_unsent_message_and_sends_it_once(deaf_alice, open_chat, room):
    """A message stored but never echoed is still 'sending…' when the page reloads; the new page
    sends it again with the same clientMessageId: it is stored once and shown once."""
    alice = open_chat(room, "alice")
    send(alice, "exactly once, please")
    wait_for(lambda: stored_texts(room) == ["exactly once, please"])
    assert alice.locator("#messages li.pending .state").text_content() == "sending…"

    deaf_alice()
    alice.reload()
    alice.wait_for_selector("#status[data-state=live]")
    wait_until(alice, DELIVERED, 1)
    wait_until(alice, NONE_PENDING)
    assert [m["text"] for m in shown(alice)] == ["exactly once, please"]
    assert stored_texts(room) == ["exactly once, please"]


def test_a_message_written_offline_survives_a_reload(open_chat, room):
    """Sent while the page has no socket (its token requests fail), then reloaded: it waits
    ("waiting for the connection") and goes out once the new page is live."""
    alice = open_chat(
        room,
        "alice",
        wait_live=False,
        setup=lambda page: page.route("**/api/token/", lambda route: route.abort()),
    )
    alice.wait_for_selector("#status[data-state=reconnecting]")
    send(alice, "written on the train")
    state = alice.locator("#messages li.pending .state")
    assert state.text_content() == "waiting for the connection…"
    screenshot(alice, "chat-send-waiting")
    alice.unroute("**/api/token/")
    alice.reload()
    alice.wait_for_selector("#status[data-state=live]")
    wait_until(alice, DELIVERED, 1)
    assert stored_texts(room) == ["written on the train"]


def test_a_draft_survives_switching_rooms(open_chat, make_room, room):
    """Half a message typed in one room is still there after visiting another and coming back;
    sending it clears it."""
    other = make_room()
    alice = open_chat(room, "alice")
    alice.fill("#message-input", "half a thought")
    alice.goto(alice.url.replace(f"/rooms/{room}/", f"/rooms/{other}/"))
    alice.wait_for_selector("#status[data-state=live]")
    assert alice.locator("#message-input").input_value() == ""
    alice.goto(alice.url.replace(f"/rooms/{other}/", f"/rooms/{room}/"))
    alice.wait_for_selector("#status[data-state=live]")
    assert alice.locator("#message-input").input_value() == "half a thought"
    alice.press("#message-input", "Enter")
    wait_until(alice, DELIVERED, 1)
    alice.reload()
    alice.wait_for_selector("#status[data-state=live]")
    assert alice.locator("#message-input").input_value() == ""


@pytest.mark.parametrize("width", [1280, 390])
def test_a_failed_send_reads_well_and_passes_axe(width, private_room, open_chat):
    """At desktop and phone widths the failed send, its reason and its buttons are on screen,
    and axe-core finds no WCAG A/AA violation on the page."""
    alice = open_chat(private_room, "alice", viewport={"width": width, "height": 760})
    send(alice, "hi @nobody-here")
    failed = alice.locator("#messages li.pending.failed")
    failed.wait_for()
    for button in failed.locator(".send-actions button").all():
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    screenshot(alice, f"chat-send-failed-{width}")
    assert axe_violations(alice) == []


def test_the_room_opens_ready_to_write_and_reads_out_only_new_messages(open_chat, room):
    """The composer has the focus on opening; the message list is not a live region, and a new
    message from someone else (not one's own) is what the polite announcer says; each message's
    buttons say whose message they act on."""
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    assert alice.evaluate("document.activeElement.id") == "message-input"
    assert alice.locator("#messages").get_attribute("aria-live") is None
    send(bob, "hello alice")
    wait_until(alice, DELIVERED, 1)
    assert alice.locator("#announcer").text_content() == "bob: hello alice"
    send(alice, "hi bob")
    wait_until(alice, DELIVERED, 2)
    assert alice.locator("#announcer").text_content() == "bob: hello alice"  # not her own
    labels = alice.locator("#messages li.message .actions button").evaluate_all(
        "(buttons) => buttons.map((b) => b.getAttribute('aria-label'))"
    )
    assert labels == [
        "React to the message from bob",
        "Reply in thread to the message from bob",
        "React to your message",
        "Reply in thread to your message",
        "Edit your message",
        "Delete your message",
    ]
    assert axe_violations(alice) == []
