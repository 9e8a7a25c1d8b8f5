"""A room's storage (Room.file_bytes, Room.file_count): the files of its messages, counted by
the UpdateItem that takes a send's or a delete's change number, once per message even when a
retry, a concurrent delete or a lost race takes a number of its own; no request of its own."""

from __future__ import annotations

import uuid

import pytest

from lambdas.errors import MessageNotFound
from lambdas.models import Room, utcnow
from lambdas.services import messages
from lambdas.services.connections import connection_open
from lambdas.services.messages import message_react, message_remove, message_send
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi
from tests.lambdas.test_message_files import uploaded
from tests.lambdas.test_thumbnails import png

pytestmark = pytest.mark.usefixtures("gateway")  # the thumbnail function checks the uploads


@pytest.fixture
def scene(room, configure):
    """Ada (staff) and Bob connected in the room."""
    configure(RATE_MESSAGES_PER_SECOND=100, RATE_MESSAGES_BURST=100)
    api = FakeManagementApi()
    people = {}
    for name, staff in (("ada", True), ("bob", False)):
        user = User(f"u{uuid.uuid4().hex[:10]}", name, staff)
        connection_id = f"c-{name}-{room}"
        connection_open(
            api=api, connection_id=connection_id, user=user, room=room, connected_at=utcnow()
        )
        people[name] = (user, connection_id)
    return api, people, room


def send_ids(scene, who: str, ids: tuple[str, ...], **options):
    """`who` sends the uploads `ids` (options: thread, client_message_id...): message_send's
    result."""
    api, people, _ = scene
    user, connection_id = people[who]
    return message_send(
        api=api, connection_id=connection_id, sender=user, text="", files=ids, **options
    )


def send(scene, who: str, *files: bytes, **options):
    _, people, room = scene
    ids = tuple(uploaded(data, room=room, user_id=people[who][0].user_id) for data in files)
    return send_ids(scene, who, ids, **options).message


def delete(scene, who: str, message) -> None:
    api, people, room = scene
    message_remove(api=api, room=room, message_id=message.message_id, deleter=people[who][0])


def storage(room: str) -> tuple[int, int]:
    found = Room.get(room, consistent_read=True)
    return int(found.file_bytes or 0), int(found.file_count or 0)


def test_files_sent_and_deleted_move_the_rooms_storage(scene):
    room = scene[2]
    a, b, c = png(40, 20), png(300, 200), png(64, 64)
    two = send(scene, "bob", a, b)
    one = send(scene, "ada", c)
    send(scene, "bob")  # no files: nothing counted
    assert storage(room) == (len(a) + len(b) + len(c), 3)

    delete(scene, "bob", two)
    assert storage(room) == (len(c), 1)
    # A deleted message has no files left to take off: deleting it again changes nothing.
    with pytest.raises(MessageNotFound):
        delete(scene, "ada", two)
    assert storage(room) == (len(c), 1)
    delete(scene, "ada", one)  # staff delete someone's message: the same
    assert storage(room) == (0, 0)


def test_a_reply_with_files_counts_in_its_room(scene):
    room = scene[2]
    parent = send(scene, "ada")
    data = png(50, 50)
    reply = send(scene, "bob", data, thread=parent.message_id)
    assert storage(room) == (len(data), 1)
    delete(scene, "bob", reply)
    assert storage(room) == (0, 0)


def test_a_retried_send_counts_its_files_once(scene):
    _, people, room = scene
    data = png(30, 30)
    upload_id = uploaded(data, room=room, user_id=people["bob"][0].user_id)
    for _ in range(2):
        send_ids(scene, "bob", (upload_id,), client_message_id="retried")
    assert storage(room) == (len(data), 1)


def test_a_send_that_loses_to_its_own_retry_gives_its_count_back(scene, monkeypatch):
    """Both attempts of one send take a number (each counting the files); the retry stores the
    message first, and the first attempt, refused by the store's condition, takes its count
    back."""
    _, people, room = scene
    data = png(30, 30)
    upload_id = uploaded(data, room=room, user_id=people["bob"][0].user_id)
    taking = messages.change_number

    def retry_meanwhile(**kwargs):
        change = taking(**kwargs)
        monkeypatch.setattr(messages, "change_number", taking)
        retry = send_ids(scene, "bob", (upload_id,), client_message_id="raced")
        assert not retry.duplicate  # the retry stored it
        return change

    monkeypatch.setattr(messages, "change_number", retry_meanwhile)
    first = send_ids(scene, "bob", (upload_id,), client_message_id="raced")

    assert first.duplicate
    assert storage(room) == (len(data), 1)


def test_a_delete_that_loses_a_race_counts_its_files_once(scene, monkeypatch):
    """A reaction takes a newer number between the delete's number and its write: the delete
    tries again under another number, which must not take the files off a second time."""
    api, people, room = scene
    kept, gone = png(20, 20), png(90, 40)
    send(scene, "ada", kept)
    message = send(scene, "bob", gone)
    taking = messages.change_number

    def react_meanwhile(**kwargs):
        change = taking(**kwargs)
        monkeypatch.setattr(messages, "change_number", taking)
        user, connection_id = people["ada"]
        message_react(
            api=api,
            connection_id=connection_id,
            reactor=user,
            message_id=message.message_id,
            emoji="👍",
        )
        return change

    monkeypatch.setattr(messages, "change_number", react_meanwhile)
    delete(scene, "bob", message)

    assert storage(room) == (len(kept), 1)


def test_a_delete_someone_else_made_first_gives_the_files_back(scene, monkeypatch):
    """Bob and staff delete the same message at once: staff's lands first, Bob's finds it
    deleted (MessageNotFound) and gives back what its number took off."""
    room = scene[2]
    kept, gone = png(20, 20), png(90, 40)
    send(scene, "ada", kept)
    message = send(scene, "bob", gone)
    taking = messages.change_number

    def staff_first(**kwargs):
        change = taking(**kwargs)
        monkeypatch.setattr(messages, "change_number", taking)
        delete(scene, "ada", message)
        return change

    monkeypatch.setattr(messages, "change_number", staff_first)
    with pytest.raises(MessageNotFound):
        delete(scene, "bob", message)

    assert storage(room) == (len(kept), 1)


def test_the_count_costs_no_request(scene):
    """A send and a delete with files write the rooms table once each, as without files: the
    UpdateItem of their change number, which the two numbers grow by about 30 bytes."""
    from lambdas.models import Member

    tables: list[tuple[str, str]] = []
    events = Member._get_connection().connection.client.meta.events

    def record(params, model, **kwargs) -> None:
        tables.append((model.name, params.get("TableName", "")))

    events.register("provide-client-params.dynamodb", record, unique_id="test-room-storage")
    try:
        message = send(scene, "bob", png(20, 20))
        delete(scene, "bob", message)
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="test-room-storage")
    rooms = [operation for operation, table in tables if table.endswith("rooms")]
    # Each: the room read when the send opens it, then one UpdateItem (the change number).
    assert rooms.count("UpdateItem") == 2, rooms
