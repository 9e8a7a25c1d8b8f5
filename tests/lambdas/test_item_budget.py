"""Items stay bounded: an edited message keeps a few versions, and no write passes the budget."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from emulator.events import LambdaContext
from lambdas.handlers import editmessage, sendmessage
from lambdas.models import ITEM_BUDGET_BYTES, ClientMessage, Message, item_bytes
from lambdas.services.messages import MAX_EDIT_VERSIONS
from lambdas.tokens import User
from tests.lambdas.test_handlers import joined, message_event

CONTEXT = LambdaContext(function_name="test", aws_request_id="req-budget")


@pytest.fixture
def author(room) -> tuple[str, dict]:
    user = User(f"u-{uuid.uuid4().hex[:10]}", "writer", False)
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}", user)
    return connection_id, {"user_id": user.user_id, "username": user.username}


def call(handler, frame: dict, connection_id: str, identity: dict) -> dict:
    return handler(message_event(frame, connection_id, **identity), CONTEXT)


def read_units(room: str, message_id: str) -> float:
    """What DynamoDB (dynalite) charges to read the item: its own measure of the item's size."""
    from lambdas.config import get_config

    config = get_config()
    client = boto3.client(
        "dynamodb", endpoint_url=config.dynamodb_endpoint_url, region_name=config.region
    )
    answer = client.get_item(
        TableName=config.table_name("messages"),
        Key={"room": {"S": room}, "message_id": {"S": message_id}},
        ReturnConsumedCapacity="TOTAL",
    )
    return answer["ConsumedCapacity"]["CapacityUnits"]


def test_fifty_edits_of_4000_emoji_keep_the_item_under_the_budget(api, room, author):
    """Every edit is accepted; the message keeps its newest versions and stays within 64 KB
    (dynalite's count: at most 8 read units, against 50 edits × 16 KB = 800 KB unbounded)."""
    connection_id, identity = author
    call(
        sendmessage.handler, {"action": "sendmessage", "message": "short"}, connection_id, identity
    )
    (stored,) = Message.query(room)
    texts = ["😀" * 4000, "🎉" * 4000]
    for n in range(50):
        frame = {"action": "editmessage", "id": stored.message_id, "message": texts[n % 2]}
        response = call(editmessage.handler, frame, connection_id, identity)
        assert response["statusCode"] == 200, response
    edited = Message.get(room, stored.message_id)
    assert edited.text == texts[1]
    assert 1 <= len(edited.edits) <= MAX_EDIT_VERSIONS
    assert [e.text for e in edited.edits][-1] == texts[0]  # the newest version kept
    assert item_bytes(edited) <= ITEM_BUDGET_BYTES
    assert read_units(room, stored.message_id) <= ITEM_BUDGET_BYTES / 4096 / 2


def test_short_edits_keep_the_last_five_versions(api, room, author):
    connection_id, identity = author
    call(sendmessage.handler, {"action": "sendmessage", "message": "v0"}, connection_id, identity)
    (stored,) = Message.query(room)
    for n in range(1, 9):
        frame = {"action": "editmessage", "id": stored.message_id, "message": f"v{n}"}
        assert call(editmessage.handler, frame, connection_id, identity)["statusCode"] == 200
    edited = Message.get(room, stored.message_id)
    assert [e.text for e in edited.edits] == ["v3", "v4", "v5", "v6", "v7"]


def test_a_message_too_large_to_store_is_refused_and_writes_nothing(
    configure,
    api,
    room,
    author,
):
    """With MAX_MESSAGE_CHARS raised to 100,000, 20,000 emoji (80,000 bytes) are refused with a
    clear error frame: no message, no idempotency receipt; an edit to it likewise."""
    configure(MAX_MESSAGE_CHARS=100_000)
    connection_id, identity = author
    huge = "😀" * 20_000
    frame = {"action": "sendmessage", "message": huge, "clientMessageId": "big-1"}
    response = call(sendmessage.handler, frame, connection_id, identity)
    assert response["statusCode"] == 413
    body = json.loads(response["body"])
    assert body["code"] == "message_too_large" and "65,536" in body["message"]
    assert list(Message.query(room)) == []
    assert list(ClientMessage.query(identity["user_id"])) == []
    call(sendmessage.handler, {"action": "sendmessage", "message": "ok"}, connection_id, identity)
    (stored,) = Message.query(room)
    frame = {"action": "editmessage", "id": stored.message_id, "message": huge}
    response = call(editmessage.handler, frame, connection_id, identity)
    assert json.loads(response["body"])["code"] == "message_too_large"
    unchanged = Message.get(room, stored.message_id)
    assert unchanged.text == "ok" and unchanged.edited_at is None and not unchanged.edits
