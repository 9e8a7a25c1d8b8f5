"""`manage.py search_backfill` (chat/management/commands/search_backfill.py): every stored
message indexed with its last change number, deletions as tombstones, and a second run
changing nothing."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from chat.models import SearchEntry
from lambdas.models import Message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dynamodb")]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's full-text search")


def store(room: str, n: int, text: str, **fields) -> Message:
    message = Message(
        room,
        f"01JBACKFILL{n:015d}",
        user_id="u1",
        username="alice",
        text=text,
        sent_at=datetime(2026, 12, 1, 12, n, tzinfo=UTC),
        **fields,
    )
    message.save()
    return message


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command("search_backfill", *args, stdout=out)
    return out.getvalue()


def rows() -> dict[str, tuple]:
    return {
        entry.message_id: (entry.room, entry.text, entry.rev, entry.deleted)
        for entry in SearchEntry.objects.all()
    }


def test_a_rooms_messages_are_indexed_once_and_a_second_run_changes_nothing():
    room = f"backfill-{uuid.uuid4().hex[:8]}"
    other = f"backfill-{uuid.uuid4().hex[:8]}"
    store(room, 1, "the release is green", seq=1, rev=5)  # edited since: rev 5
    store(room, 2, "gone", seq=2, rev=3, deleted=True)
    store(room, 3, "from before numbering")
    store(room, 4, "numbered once", seq=4)
    store(other, 5, "another room")
    # When the room's messages are backfilled
    first = backfill("--room", room)
    # Then each is indexed with its last change number (rev, else seq, else 0), a deletion as a
    # tombstone, and nothing of the other room
    assert rows() == {
        "01JBACKFILL000000000000001": (room, "the release is green", 5, False),
        "01JBACKFILL000000000000002": (room, "", 3, True),
        "01JBACKFILL000000000000003": (room, "from before numbering", 0, False),
        "01JBACKFILL000000000000004": (room, "numbered once", 4, False),
    }
    assert "4 message(s) read, 4 indexed or updated, 0 already current" in first
    # And a second run finds every row current
    again = backfill("--room", room)
    assert "4 message(s) read, 0 indexed or updated, 4 already current" in again
    assert len(rows()) == 4


def test_a_newer_change_of_a_message_replaces_its_row_and_an_older_index_row_stays():
    room = f"backfill-{uuid.uuid4().hex[:8]}"
    message = store(room, 6, "first words", seq=1, rev=1)
    backfill("--room", room)
    message.update(actions=[Message.text.set("second words"), Message.rev.set(2)])
    assert "1 indexed or updated" in backfill("--room", room)
    assert rows()["01JBACKFILL000000000000006"] == (room, "second words", 2, False)


def test_without_room_the_whole_table_is_scanned():
    room = f"backfill-{uuid.uuid4().hex[:8]}"
    store(room, 7, "scanned too", seq=1)
    out = backfill()
    assert "01JBACKFILL000000000000007" in rows()
    assert "done:" in out
