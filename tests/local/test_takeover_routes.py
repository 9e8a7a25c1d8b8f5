"""Every route that takes a room's change number takes the room over when another Region took
the last one (docs/multi-region.md: the first number in the new Region jumps TAKEOVER_JUMP past
the highest it holds): an edit, a reaction and a deletion too, through the real gateway, whose
functions run with their roles enforced (the takeover reads the room and Queries by-rev)."""

import json

import pytest

from lambdas.models import Room
from lambdas.services.changes import TAKEOVER_JUMP
from tests.helpers import recv_json

OTHER_REGION = "us-west-2"  # the session's gateway plays us-east-1


def send(client, **frame) -> None:
    client.send(json.dumps(frame))


@pytest.mark.parametrize(
    ("action", "frame", "answer"),
    [
        ("editmessage", {"message": "edited after a failover"}, "message_updated"),
        ("react", {"emoji": "🎉"}, "message_updated"),
        ("deletemessage", {}, "message_deleted"),
    ],
)
def test_a_change_after_another_regions_takes_the_room_over(connect, room, action, frame, answer):
    alice = connect(room, user_id="1", username="alice")
    send(alice, action="sendmessage", message="before the failover")
    sent = recv_json(alice)
    assert sent["type"] == "message"
    # The other Region took the room's last number (its item, as replicated here)
    Room(room).update(actions=[Room.seq_region.set(OTHER_REGION)])
    send(alice, action=action, id=sent["id"], **frame)
    changed = recv_json(alice)
    assert changed["type"] == answer, changed
    assert changed["rev"] == sent["rev"] + TAKEOVER_JUMP
    stored = Room.get(room, consistent_read=True)
    assert (stored.seq, stored.seq_region) == (changed["rev"], "us-east-1")
