"""Reconnecting: a restarted gateway, a send lost with its socket, and the planned hand-over."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict

from tests.browser.chatpage import record_frames, screenshot, send, shown, wait_until
from tests.browser.conftest import FAST_CLIENT
from tests.browser.test_chat_features import wait_presence
from tests.helpers import DEADLINE

COUNT = "(n) => document.querySelectorAll('#messages li.message:not(.pending)').length === n"
NONE_PENDING = "() => document.querySelectorAll('#messages li.pending').length === 0"


def stored_texts(room: str) -> list[str]:
    from lambdas.models import Message

    return [message.text for message in Message.query(room)]


def sends_by_text(frames: list[str]) -> dict[str, set[str]]:
    """The clientMessageIds each message text was sent with, from the frames a page sent."""
    ids = defaultdict(set)
    for frame in frames:
        data = json.loads(frame)
        if data.get("action") == "sendmessage":
            ids[data["message"]].add(data["clientMessageId"])
    return ids


def test_gateway_restart_while_alice_keeps_sending(own_gateway, open_chat, room):
    """Messages sent before, during and after an outage are stored once and shown once, in order."""
    frames: list[str] = []
    alice = open_chat(room, "alice", setup=record_frames(frames))
    bob = open_chat(room, "bob")
    texts = [f"msg {i:02d}" for i in range(1, 10)]

    send(alice, texts[0])
    send(alice, texts[1])
    wait_until(bob, COUNT, 2)
    send(alice, texts[2])  # possibly still in flight when the gateway goes
    own_gateway.stop()
    bob.context.set_offline(True)  # bob stays away until alice is done: he must catch up
    alice.wait_for_selector("#status[data-state=reconnecting]")
    assert re.fullmatch(r"reconnecting(?: in \d+s)?…", alice.locator("#status").text_content())
    assert alice.locator("#send").is_enabled()  # a message written now waits in the outbox
    send(alice, texts[3])  # queued: no gateway
    send(alice, texts[4])
    assert alice.locator("#messages li.pending").count() >= 2
    waiting = alice.locator("#messages li.pending.waiting .state")
    assert waiting.last.text_content() == "waiting for the connection…"
    screenshot(alice, "chat-reconnecting")

    own_gateway.start()
    send(alice, texts[5])  # most likely while alice is still waiting to retry
    alice.wait_for_selector("#status[data-state=live]")
    send(alice, texts[6])
    send(alice, texts[7])
    send(alice, texts[8])
    wait_until(alice, COUNT, 9)
    wait_until(alice, NONE_PENDING)
    bob.wait_for_selector("#status[data-state=offline]")
    assert bob.locator("#status").text_content() == "offline"

    bob.context.set_offline(False)
    bob.wait_for_selector("#status[data-state=live]")
    wait_until(bob, COUNT, 9)
    bob.wait_for_timeout(500)  # late duplicates, if any, would land now
    for page in (alice, bob):
        messages = shown(page)
        assert [m["text"] for m in messages] == texts
        ids = [m["id"] for m in messages]
        assert ids == sorted(set(ids))
        assert not any(m["pending"] for m in messages)
    assert [m["id"] for m in shown(alice)] == [m["id"] for m in shown(bob)]
    assert stored_texts(room) == texts
    # A send repeated after the outage kept its clientMessageId.
    assert all(len(ids) == 1 for ids in sends_by_text(frames).values())
    assert sorted(sends_by_text(frames)) == texts
    screenshot(bob, "chat-after-restart")


def test_a_send_lost_with_its_socket_is_resent_with_the_same_id_and_shown_once(open_chat, room):
    """The server stored it but the echo never came: the retry is answered with the stored copy.

    Later sockets deliver every frame twice (as overlapping sockets can): still shown once.
    """
    bob = open_chat(room, "bob")
    sent: list[str] = []
    state = {"connections": 0}

    def route(ws):
        # The first socket delivers "lost one" to the server, then dies before the echo comes.
        state["connections"] += 1
        first = state["connections"] == 1
        server = ws.connect_to_server()
        dropping = {"on": False}

        def to_server(message):
            sent.append(message)
            server.send(message)
            if first and '"lost one"' in str(message):
                dropping["on"] = True
                server.close()
                ws.close(code=1001, reason="link lost")

        def to_page(message):
            if dropping["on"]:
                return
            ws.send(message)
            if not first:
                ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    alice = open_chat(
        room, "alice", setup=lambda page: page.route_web_socket(re.compile(r"^wss?://"), route)
    )
    send(alice, "lost one")
    wait_until(alice, COUNT, 1)
    wait_until(alice, NONE_PENDING)
    bob.locator("#messages li.message", has_text="lost one").wait_for()
    send(alice, "after the drop")  # its echo comes twice
    wait_until(alice, COUNT, 2)
    bob.locator("#messages li.message", has_text="after the drop").wait_for()
    wait_presence(alice, ["alice", "bob"])
    alice.wait_for_timeout(300)  # late duplicates, if any, would land now

    # Usually two sockets; a third when the first one's $disconnect announcement lands on the
    # second during its $connect (see the report: the backend then forgets the new socket).
    assert state["connections"] >= 2
    sends = [json.loads(m) for m in sent if '"sendmessage"' in str(m)]
    retries = [s for s in sends if s["message"] == "lost one"]
    assert 2 <= len(retries) <= state["connections"]  # at most once per socket
    assert len({s["clientMessageId"] for s in retries}) == 1
    assert [m["text"] for m in shown(alice)] == ["lost one", "after the drop"]
    assert [m["text"] for m in shown(bob)] == ["lost one", "after the drop"]
    assert stored_texts(room) == ["lost one", "after the drop"]


def test_planned_hand_over_keeps_the_page_live_and_pings(settings, open_chat, room):
    """With the 2-hour limit shortened, the page opens the next socket, then closes the old one."""
    settings.CHAT_CLIENT_TIMINGS = {
        **FAST_CLIENT,
        "refresh-after-ms": 800,
        "ping-interval-ms": 300,
    }
    sockets = []
    pings = []

    def opened(ws):
        sockets.append(ws)
        ws.on("framesent", lambda payload: pings.append(payload) if "ping" in payload else None)

    alice = open_chat(room, "alice", setup=lambda page: page.on("websocket", opened))
    alice.evaluate(
        "() => { window.states = []; new MutationObserver(() => window.states.push("
        "document.getElementById('status').dataset.state)).observe("
        "document.getElementById('status'), {attributes: true}); }"
    )
    bob = open_chat(room, "bob")
    # Bob talks (8 messages at least) until alice's page has opened two more sockets and pinged:
    # however slow the machine, the messages span hand-overs.
    texts: list[str] = []
    deadline = time.monotonic() + DEADLINE
    while len(texts) < 8 or len(sockets) < 3 or '{"action":"ping"}' not in pings:
        assert time.monotonic() < deadline, (len(texts), len(sockets), pings)
        texts.append(f"during hand-over {len(texts)}")
        send(bob, texts[-1])
        bob.wait_for_timeout(250)  # not time.sleep: Playwright delivers events while waiting
    wait_until(alice, COUNT, len(texts))
    alice.wait_for_timeout(300)

    assert sum(not ws.is_closed() for ws in sockets) <= 2  # old ones are closed after hand-over
    assert set(alice.evaluate("window.states")) == {"live"}
    assert [m["text"] for m in shown(alice)] == texts


def test_archiving_the_room_stops_the_page_with_a_notice(gateway, open_chat, room):
    """Sockets closed by an archive are not retried forever: the page learns the room is gone."""
    from chat.services.moderation import room_archive
    from lambdas.management import management_api

    sockets = []
    alice = open_chat(
        room, "alice", setup=lambda page: page.on("websocket", lambda ws: sockets.append(ws))
    )
    assert room_archive(api=management_api(gateway.management_url), name=room) == 1

    alice.wait_for_selector("#notice:has-text('This room is archived.')")
    assert alice.locator("#status").get_attribute("data-state") == "offline"
    assert alice.locator("#notice a").get_attribute("href") == "/rooms/"
    assert alice.locator("#message-input").is_disabled()
    attempts = len(sockets)
    alice.wait_for_timeout(1500)  # several backoff periods of the test timings
    assert len(sockets) == attempts  # no more attempts
