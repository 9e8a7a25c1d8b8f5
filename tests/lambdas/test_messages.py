"""History pages: ordered oldest first, `before` pages back, `after` catches up, nothing repeats."""

from datetime import timedelta

import pytest

from lambdas.errors import InvalidRequest
from lambdas.ids import new_ulid
from lambdas.models import Message, utcnow
from lambdas.protocol import History, message_frame
from lambdas.services.messages import HistoryPage, message_page


@pytest.fixture
def stored(dynamodb, room) -> list[str]:
    """Seven messages in the room, ids in sending order."""
    ids = []
    for n in range(7):
        message = Message(
            room, new_ulid(), user_id="1", username="alice", text=f"m{n}", sent_at=utcnow()
        )
        message.save()
        ids.append(message.message_id)
    return ids


def texts(page: HistoryPage) -> list[str]:
    return [m.text for m in page.messages]


def test_latest_page_is_the_newest_messages_oldest_first(stored, room):
    """Without cursors the page holds the newest `limit` messages, in chronological order."""
    page = message_page(room=room, before=None, after=None, limit=3)
    assert texts(page) == ["m4", "m5", "m6"] and page.has_more is True


def test_before_walks_back_through_every_message_once(stored, room):
    """Paging back with `before` visits every message exactly once and ends with has_more false."""
    seen, before = [], None
    while True:
        page = message_page(room=room, before=before, after=None, limit=3)
        seen = texts(page) + seen
        if not page.has_more:
            break
        before = page.messages[0].message_id
    assert seen == [f"m{n}" for n in range(7)]


def test_after_returns_exactly_the_missing_messages(stored, room):
    """After a given id the page starts right after it, oldest first."""
    page = message_page(room=room, before=None, after=stored[2], limit=10)
    assert texts(page) == ["m3", "m4", "m5", "m6"] and page.has_more is False
    page = message_page(room=room, before=None, after=stored[2], limit=2)
    assert texts(page) == ["m3", "m4"] and page.has_more is True


def test_between_before_and_after_excludes_both_ends(stored, room):
    """With both cursors the page holds only what lies strictly between them."""
    page = message_page(room=room, before=stored[5], after=stored[1], limit=10)
    assert texts(page) == ["m2", "m3", "m4"]


def test_empty_room_has_an_empty_page(dynamodb, room):
    """A room with no messages answers an empty page, not an error."""
    page = message_page(room=room, before=None, after=None, limit=50)
    assert page == HistoryPage(room=room, messages=[], has_more=False)


@pytest.mark.parametrize(
    "frame",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "5"},
        {"limit": True},
        {"limit": 2.5},
        {"before": "x"},
        {"after": 12},
        {"before": {"S": "a"}},
    ],
)
def test_bad_history_frames_are_refused(frame):
    """Limits outside 1-100 and cursors that are not message ids are invalid requests."""
    with pytest.raises(InvalidRequest):
        History.parse(frame)


# -- sending -----------------------------------------------------------------------------------


@pytest.fixture
def member(dynamodb, room):
    """Alice's connection in the room, and the fake @connections it is posted through."""
    from lambdas.services.connections import connection_open
    from lambdas.tokens import User
    from tests.lambdas.fakes import FakeManagementApi

    api = FakeManagementApi()
    connection_open(
        api=api,
        connection_id=f"c-{room}",
        user=User("1", "alice", False),
        room=room,
        connected_at=utcnow(),
    )
    return api, f"c-{room}", User("1", "alice", False)


def test_retry_after_a_half_done_send_completes_it_once(member, room):
    """A receipt without its message (a crash between the writes) is finished by the retry."""
    from lambdas.models import ClientMessage
    from lambdas.services.messages import message_send

    api, connection_id, alice = member
    orphan_id = new_ulid()
    ClientMessage(
        "1", "c-7", room=room, message_id=orphan_id, expires_at=utcnow() + timedelta(days=1)
    ).save()
    send = {"text": "hello", "client_message_id": "c-7"}
    sent = message_send(api=api, connection_id=connection_id, sender=alice, **send)
    assert not sent.duplicate and sent.message.message_id == orphan_id
    assert api.posts[connection_id] == [message_frame(sent.message)]
    again = message_send(api=api, connection_id=connection_id, sender=alice, **send)
    assert again.duplicate and again.message.message_id == orphan_id
    assert len(api.posts[connection_id]) == 1
    assert [m.message_id for m in Message.query(room)] == [orphan_id]
