"""Fuzz: any body on any route gets a clean answer (a known error code, never a 500), and a
refused frame writes nothing.

Each suite drives the real handler against the test dynalite, with an in-memory @connections,
in a room and as a user of its own. "Nothing written" is checked on the whole state at the end
of the run: the tables must hold exactly what the accepted frames explain, so a single write by
a refused frame (a receipt, a message, an edit, a deletion) fails the suite.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from emulator.events import LambdaContext
from lambdas.handlers import (
    default,
    deletemessage,
    editmessage,
    history,
    ping,
    presence,
    react,
    sendmessage,
    typing,
)
from lambdas.models import ClientMessage, Connection, Message
from lambdas.services.broadcast import room_connection_ids
from lambdas.services.messages import MAX_EDIT_VERSIONS, message_send
from lambdas.tokens import User
from tests.fuzzing import (
    CLIENT_CODES,
    bodies,
    fuzz_settings,
    json_values,
    scaled,
    texts,
    ulid_like,
)
from tests.lambdas.fakes import FakeManagementApi
from tests.lambdas.test_handlers import joined, message_event

CONTEXT = LambdaContext(function_name="fuzz", aws_request_id="req-fuzz")


class Scene:
    """A room with the fuzzing user's connection, someone else's, and a few stored messages."""

    def __init__(self, room: str, api: FakeManagementApi, *, mine: int = 2) -> None:
        self.room, self.api = room, api
        self.user = User(f"fuzz-{uuid.uuid4().hex[:8]}", "fuzzer", False)
        self.other = User(f"other-{uuid.uuid4().hex[:8]}", "bystander", False)
        self.connection_id = joined(room, f"fz-{uuid.uuid4().hex[:8]}", self.user)
        self.other_connection = joined(room, f"ot-{uuid.uuid4().hex[:8]}", self.other)
        self.mine = [self._send(self.user, self.connection_id, f"mine {n}") for n in range(mine)]
        self.theirs = [self._send(self.other, self.other_connection, "theirs")]
        self.seeded = self.snapshot()
        api.posts.clear()
        self.calls = 0  # examples run: each suite checks that all it asked for ran

    def _send(self, user: User, connection_id: str, text: str) -> str:
        sent = message_send(api=self.api, connection_id=connection_id, sender=user, text=text)
        return sent.message.message_id

    def ids(self) -> st.SearchStrategy:
        return st.sampled_from(self.mine + self.theirs) | ulid_like

    def call(self, handler: Callable, body: str, is_base64: bool) -> tuple[int, dict | None]:
        """Invoke the handler as API Gateway would and check the answer's shape."""
        event = message_event(
            body, self.connection_id, user_id=self.user.user_id, username=self.user.username
        )
        event["isBase64Encoded"] = is_base64
        self.calls += 1
        response = handler(event, CONTEXT)
        assert set(response) <= {"statusCode", "body"}, response
        status = response["statusCode"]
        reply = json.loads(response["body"]) if "body" in response else None
        if status == 200:
            assert reply is None or reply.get("type") != "error", response
        else:
            assert 400 <= status < 500, response  # never "Internal server error"
            assert reply["type"] == "error" and reply["code"] in CLIENT_CODES, reply
            assert isinstance(reply["message"], str) and reply["message"]
        return status, reply

    def snapshot(self) -> dict:
        """Everything the fuzzing user's frames could write to."""
        return {
            "messages": {m.message_id: m.attribute_values for m in Message.query(self.room)},
            "receipts": {
                r.client_message_id: r.attribute_values
                for r in ClientMessage.query(self.user.user_id)
            },
            "connections": sorted(room_connection_ids(room=self.room)),
        }


@pytest.fixture
def scene(dynamodb, room, monkeypatch) -> Scene:
    api = FakeManagementApi()
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda endpoint: api)
    return Scene(room, api)


def read_only_suite(scene: Scene, handler: Callable, strategy, examples: int) -> Counter:
    """Fuzz a route that must never write; the state after the run is the seeded state."""
    outcomes: Counter = Counter()

    @fuzz_settings(examples)
    @given(strategy)
    def run(drawn):
        status, reply = scene.call(handler, *drawn)
        outcomes[reply["code"] if status != 200 else "ok"] += 1

    run()
    assert scene.calls == scaled(examples)
    assert scene.snapshot() == scene.seeded
    return outcomes


def test_history_frames(scene):
    """`history`: arbitrary before/after/limit values page cleanly or are refused cleanly."""
    fields = {
        "before": scene.ids(),
        "after": scene.ids(),
        "limit": st.integers(min_value=-5, max_value=150),
    }
    outcomes = read_only_suite(scene, history.handler, bodies("history", fields), 800)
    assert outcomes["ok"] and outcomes["invalid_request"] and outcomes["invalid_json"]


def test_typing_frames(scene):
    """`typing`: only {"action": "typing"} is accepted; it is never echoed to the typist."""
    outcomes = read_only_suite(scene, typing.handler, bodies("typing", {}), 700)
    assert outcomes["ok"] and outcomes["invalid_request"]
    assert scene.connection_id not in scene.api.posts


def test_presence_frames(scene, presence_waits):
    """`presence` never reads the frame (API Gateway chose the route): any body gets the list."""
    outcomes = read_only_suite(scene, presence.handler, bodies("presence", {}), 300)
    assert set(outcomes) == {"ok"}


def test_ping_frames(scene):
    """`ping`: a pong, and a `read` that is a message id moves the read position (not a
    message, not the connection's room's: nothing); any other `read` is refused cleanly, the
    messages and the room untouched, and the pinging page is never told its own read."""
    fields = {"read": scene.ids() | json_values}
    outcomes = read_only_suite(scene, ping.handler, bodies("ping", fields), 700)
    assert outcomes["ok"] and outcomes["invalid_request"]
    assert set(outcomes) <= {"ok", "invalid_request", "invalid_json"}
    assert scene.connection_id not in scene.api.posts


def test_default_frames(scene):
    """`$default`: unknown actions of any JSON type get `unknown_action`, never a 500."""
    fields = {"action": json_values | st.text(max_size=100)}
    outcomes = read_only_suite(scene, default.handler, bodies(None, fields), 1200)
    assert outcomes["ok"] and outcomes["unknown_action"]


def test_sendmessage_frames(scene):
    """`sendmessage`: exactly the accepted frames are stored, each once, with their receipts."""
    fields = {
        "message": texts,
        "clientMessageId": st.text(max_size=70) | st.sampled_from(["retry-1", "retry-2"]),
    }
    stored: Counter = Counter()  # (text, clientMessageId) of sends that stored a message
    receipts: set[str] = set()
    outcomes: Counter = Counter()

    @fuzz_settings(1000)
    @given(bodies("sendmessage", fields))
    def run(drawn):
        status, reply = scene.call(sendmessage.handler, *drawn)
        outcomes[reply["code"] if status != 200 else "ok"] += 1
        if status != 200:
            return
        body, is_base64 = drawn
        frame = json.loads(body)  # accepted, so it was a JSON object (and not base64 here)
        assert not is_base64 or frame is not None
        if frame.get("clientMessageId") is not None:
            receipts.add(frame["clientMessageId"])
        if reply is None:  # a new message; a retry answers with the stored one instead
            stored[(frame["message"], frame.get("clientMessageId"))] += 1
        else:
            assert reply["client_message_id"] == frame["clientMessageId"]

    run()
    assert scene.calls == scaled(1000)
    after = scene.snapshot()
    new = [m for i, m in after["messages"].items() if i not in scene.seeded["messages"]]
    assert Counter((m["text"], m.get("client_message_id")) for m in new) == stored
    assert set(after["receipts"]) == receipts
    assert all(after["messages"][i] == m for i, m in scene.seeded["messages"].items())
    assert after["connections"] == scene.seeded["connections"]
    assert outcomes["ok"] and outcomes["empty_message"] and outcomes["invalid_json"]


def test_editmessage_frames(scene):
    """`editmessage`: only accepted edits change a text, only of one's own messages."""
    fields = {"id": scene.ids(), "message": texts}
    edits: dict[str, list[str]] = {}
    outcomes: Counter = Counter()

    def edit(message_id: str) -> tuple[str, bool]:
        return json.dumps({"action": "editmessage", "id": message_id, "message": "edited"}), False

    # Each outcome the suite asserts at least once, whatever the generated frames hit (which
    # of them name a seeded message varies with what ran before in the process).
    explicit = [edit(scene.mine[0]), edit(scene.theirs[0]), edit("0" * 26)]

    @fuzz_settings(900)
    @given(bodies("editmessage", fields))
    @example(explicit[0])
    @example(explicit[1])
    @example(explicit[2])
    def run(drawn):
        status, reply = scene.call(editmessage.handler, *drawn)
        outcomes[reply["code"] if status != 200 else "ok"] += 1
        if status == 200:
            frame = json.loads(drawn[0])
            edits.setdefault(frame["id"], []).append(frame["message"])

    run()
    assert scene.calls == scaled(900) + len(explicit)
    after = scene.snapshot()
    assert set(after["messages"]) == set(scene.seeded["messages"])
    assert set(edits) <= set(scene.mine)
    for message_id, before in scene.seeded["messages"].items():
        now = after["messages"][message_id]
        if message_id not in edits:
            assert now == before
            continue
        assert now["text"] == edits[message_id][-1]
        # The texts it replaced, newest last: the last MAX_EDIT_VERSIONS (fewer if large).
        # (Found by hypothesis: a message edited more than 5 times keeps only 5.)
        replaced = [before["text"], *edits[message_id][:-1]]
        kept = [edit.text for edit in now["edits"]]
        assert 1 <= len(kept) <= MAX_EDIT_VERSIONS and kept == replaced[-len(kept) :]
    assert outcomes["ok"] and outcomes["forbidden"] and outcomes["message_not_found"], outcomes


def test_react_frames(scene):
    """`react`: arbitrary ids, emoji and flags react cleanly or are refused cleanly; only the
    fuzzing user's reactions ever change, and nothing else of a message."""
    fields = {
        "id": scene.ids(),
        "emoji": st.sampled_from(["👍", "🎉", "🇫🇷", "1️⃣"]) | texts,
        "remove": st.booleans() | json_values,
    }
    outcomes = Counter()

    def react_to(message_id: str, emoji: object) -> tuple[str, bool]:
        return json.dumps({"action": "react", "id": message_id, "emoji": emoji}), False

    # Each outcome the suite asserts at least once, whatever the generated frames hit (how many
    # of them name a seeded message with a valid emoji varies with the seed, and so with the
    # checkout's path: a fresh clone's CI once drew none).
    explicit = [react_to(scene.theirs[0], "👍"), react_to(scene.mine[0], "")]

    @fuzz_settings(700)
    @given(bodies("react", fields))
    @example(explicit[0])
    @example(explicit[1])
    def run(drawn):
        status, reply = scene.call(react.handler, *drawn)
        outcomes[reply["code"] if status != 200 else "ok"] += 1

    run()
    assert scene.calls == scaled(700) + len(explicit)
    after = scene.snapshot()
    for message_id, before in scene.seeded["messages"].items():
        now = dict(after["messages"][message_id])
        reactions = now.pop("reactions", None)
        reactions = reactions.as_dict() if reactions else {}
        now.pop("reactions_version", None)
        if now.get("rev") != before.get("rev"):  # reacted to: a later change number
            assert now.pop("rev") > before.pop("rev")
            now.pop("rev_at"), before.pop("rev_at")
        assert now == before
        for people in reactions.values():
            assert set(people) == {scene.user.user_id}
    assert outcomes["ok"] and outcomes["invalid_request"], outcomes


def test_deletemessage_frames(scene):
    """`deletemessage`: only one's own messages are deleted, each by exactly one accepted frame."""
    fields = {"id": scene.ids()}
    deleted: list[str] = []
    outcomes: Counter = Counter()

    @fuzz_settings(900)
    @given(bodies("deletemessage", fields))
    def run(drawn):
        status, reply = scene.call(deletemessage.handler, *drawn)
        outcomes[reply["code"] if status != 200 else "ok"] += 1
        if status == 200:
            deleted.append(json.loads(drawn[0])["id"])

    run()
    assert scene.calls == scaled(900)
    after = scene.snapshot()
    assert sorted(deleted) == sorted(scene.mine)  # each own message once; theirs never
    for message_id, before in scene.seeded["messages"].items():
        now = after["messages"][message_id]
        if message_id in deleted:
            assert now["deleted"] is True and now["text"] == ""
        else:
            assert now == before
    assert outcomes["forbidden"] and outcomes["message_not_found"]


def test_connections_are_untouched(scene):
    """The fuzzing user's connection is still registered after all of the above (sanity)."""
    assert Connection.get(scene.connection_id).user_id == scene.user.user_id
