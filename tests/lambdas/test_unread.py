"""Unread counts and mentions in every room a user reads: derived from the room's `posted` and
the reader's `read_n` (O(1) writes per message), moved forward by reading, told to the reader's
other connections; mentions of members (private) or of readers who joined (public); @here only
for staff or the room's creator, and never in a room too large to ping."""

from __future__ import annotations

import uuid

import pytest

from chat.selectors.members import member_list, member_positions
from chat.selectors.unread import sidebar_counts
from chat.services.members import member_add, reader_leave, reader_mute
from chat.services.rooms import room_create
from lambdas.errors import (
    HereNotAllowed,
    HereTooLarge,
    InvalidMention,
    InvalidRequest,
    NotAMember,
    NotJoined,
    TooManyMentions,
)
from lambdas.models import JOINED, PRIVATE, Member, Message, Room, utcnow
from lambdas.services import messages as messages_service
from lambdas.services.connections import connection_open
from lambdas.services.members import member_check, reader_join
from lambdas.services.messages import message_send
from lambdas.services.unread import LIVE_UNREAD_MEMBERS, unread_read
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


def new_user(name: str, staff: bool = False) -> User:
    return User(f"u{uuid.uuid4().hex[:10]}", name, staff)


def tab(api, user: User, room: str | None, lobby: bool = False) -> str:
    connection_id = f"c-{uuid.uuid4().hex[:8]}"
    connection_open(
        api=api,
        connection_id=connection_id,
        user=user,
        room=room,
        lobby=lobby,
        connected_at=utcnow(),
    )
    return connection_id


@pytest.fixture
def team(dynamodb, make_room):
    """A private room of ada, bob and cy; ada and bob connected in it, bob also in a public
    room elsewhere (another tab); returns (api, room, users, connections)."""
    users = {n: new_user(n) for n in ("ada", "bob", "cy")}
    room = room_create(
        name=f"team-{uuid.uuid4().hex[:8]}",
        title="",
        description="",
        created_by="ada",
        private=True,
        creator_id=users["ada"].user_id,
    )
    for name in ("bob", "cy"):
        member_add(room=room, user_id=users[name].user_id, username=name, added_by="ada")
    api = FakeManagementApi()
    tabs = {
        "ada": tab(api, users["ada"], room.name),
        "bob": tab(api, users["bob"], room.name),
        "bob-elsewhere": tab(api, users["bob"], make_room()),
    }
    return api, room.name, users, tabs


@pytest.fixture
def town(dynamodb, make_room):
    """A public room made by ada; ada and bob opened it (joined), bob also has the rooms list
    open (a lobby connection); cy never opened it. Returns (api, room, users, connections)."""
    users = {n: new_user(n) for n in ("ada", "bob", "cy")}
    room = make_room(created_by="ada")
    api = FakeManagementApi()
    tabs = {
        "ada": tab(api, users["ada"], room),
        "bob": tab(api, users["bob"], room),
        "bob-lobby": tab(api, users["bob"], None, lobby=True),
        "cy-elsewhere": tab(api, users["cy"], make_room()),
    }
    return api, room, users, tabs


def counts(room: str, user: User) -> tuple[int, int]:
    """The user's counts in the room as the sidebar reads them; (0, 0) if not listed."""
    for _member, found, counted in sidebar_counts(user_id=user.user_id, username=user.username):
        if found.name == room:
            return counted.unread, counted.mentions
    return 0, 0


def send(team, who: str, text: str) -> Message:
    api, room, users, tabs = team
    return message_send(api=api, connection_id=tabs[who], sender=users[who], text=text).message


def unread_frames(api, connection_id: str) -> list[dict]:
    return [f for f in api.posts.get(connection_id, []) if f["type"] == "unread"]


def test_messages_count_for_the_others_and_reach_their_other_tabs(team):
    api, room, users, tabs = team
    send(team, "ada", "one")
    last = send(team, "ada", "two")
    assert counts(room, users["bob"]) == (2, 0) and counts(room, users["cy"]) == (2, 0)
    assert counts(room, users["ada"]) == (0, 0)  # the sender has read what she sent
    assert Member.get(room, users["ada"].user_id).last_read == last.message_id
    assert Member.get(room, users["ada"].user_id).read_n == last.n == 2
    told = unread_frames(api, tabs["bob-elsewhere"])
    assert told[-1] == {
        "type": "unread",
        "room": room,
        "unread": 2,
        "mentions": 0,
        "kind": "private",
        "label": f"#{room}",
    }
    assert not unread_frames(api, tabs["bob"])  # has the messages
    # No per-reader counter any more: the count is derived from the room's `posted`.
    assert Member.get(room, users["bob"].user_id).unread is None
    assert Room.get(room).posted == 2


def test_reading_moves_forward_only_and_every_tab_hears(team):
    api, room, users, tabs = team
    first = send(team, "ada", "one")
    second = send(team, "ada", "two")
    send(team, "ada", "three")
    unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=second.message_id)
    assert counts(room, users["bob"]) == (1, 0)
    for where in ("bob", "bob-elsewhere"):
        assert api.posts[tabs[where]][-1] == {
            "type": "unread",
            "room": room,
            "unread": 1,
            "mentions": 0,
            "kind": "private",
            "label": f"#{room}",
        }
    assert (
        unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=first.message_id)
        is None
    )  # backwards: nothing changes
    assert counts(room, users["bob"]) == (1, 0)
    send(team, "ada", "four")
    assert counts(room, users["bob"]) == (2, 0)  # kept in DynamoDB: a reconnect finds it


def test_mentions_are_counted_and_delivered_with_the_message(team):
    api, room, users, tabs = team
    sent = send(team, "ada", "@bob and @cy: lunch? (mail me at ada@example.com)")
    assert counts(room, users["bob"]) == (1, 1) and counts(room, users["cy"]) == (1, 1)
    told = api.posts[tabs["bob-elsewhere"]][-1]
    assert told["mentions"] == 1 and told["mention"]["id"] == sent.message_id
    send(team, "ada", "no names here")
    assert counts(room, users["bob"]) == (2, 1)
    unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=sent.message_id)
    assert counts(room, users["bob"]) == (1, 0)  # the mention is seen


def test_mentioning_someone_who_is_not_a_member_is_refused(team):
    api, room, users, tabs = team
    with pytest.raises(InvalidMention):
        send(team, "ada", "hey @eve, join us")
    assert list(Message.query(room)) == []
    assert counts(room, users["bob"]) == (0, 0)


def test_items_from_before_ordinals_keep_their_count_until_read(team):
    """Fallback: an item without `read_n` counts its old counter plus what came since."""
    api, room, users, tabs = team
    Member(room, users["cy"].user_id).update(actions=[Member.unread.set(3), Member.mentions.set(1)])
    sent = send(team, "ada", "new")
    assert counts(room, users["cy"]) == (4, 1)
    unread_read(api=api, room=room, user_id=users["cy"].user_id, message_id=sent.message_id)
    assert counts(room, users["cy"]) == (0, 0)


def test_opening_a_public_room_joins_it_and_counts_what_comes_after(town):
    api, room, users, tabs = town
    bob = Member.get(room, users["bob"].user_id)
    assert bob.kind == JOINED and bob.read_n == 0
    assert counts(room, users["cy"]) == (0, 0)  # never opened it: not listed
    sent = [send(town, "ada", f"message {i}") for i in range(3)]
    assert counts(room, users["bob"]) == (3, 0) and counts(room, users["ada"]) == (0, 0)
    assert unread_frames(api, tabs["bob-lobby"])[-1] == {
        "type": "unread",
        "room": room,
        "unread": 3,
        "mentions": 0,
        "kind": "public",
        "label": f"#{room}",
    }
    assert not unread_frames(api, tabs["cy-elsewhere"])
    unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=sent[1].message_id)
    assert counts(room, users["bob"]) == (1, 0)
    # A later opener starts having read everything so far.
    tab(api, users["cy"], room)
    assert counts(room, users["cy"]) == (0, 0)
    send(town, "ada", "one more")
    assert counts(room, users["cy"]) == (1, 0) and counts(room, users["bob"]) == (2, 0)


def test_a_public_room_mentions_joined_readers_and_nobody_else(town):
    api, room, users, tabs = town
    sent = send(town, "ada", "@bob and @cy and @nobody: look")  # no error for strangers
    assert counts(room, users["bob"]) == (1, 1)
    told = unread_frames(api, tabs["bob-lobby"])[-1]
    assert told["mentions"] == 1 and told["mention"]["id"] == sent.message_id
    assert counts(room, users["cy"]) == (0, 0)  # not joined: not notified
    assert not unread_frames(api, tabs["cy-elsewhere"])
    assert Member.get(room, users["bob"].user_id).mentions == 1


def test_too_many_mentions_store_nothing(town):
    api, room, users, tabs = town
    names = " ".join(f"@p{i}" for i in range(messages_service.MAX_MENTIONS + 1))
    with pytest.raises(TooManyMentions):
        send(town, "ada", names)
    assert list(Message.query(room)) == []


def test_muted_rooms_count_but_never_notify_except_mentions(town):
    api, room, users, tabs = town
    reader_mute(room=Room.get(room), user_id=users["bob"].user_id, muted=True)
    send(town, "ada", "quiet")
    told = unread_frames(api, tabs["bob-lobby"])[-1]
    assert told["unread"] == 1 and told["muted"] is True and "mention" not in told
    send(town, "ada", "@bob this one matters")
    told = unread_frames(api, tabs["bob-lobby"])[-1]
    assert told["mentions"] == 1 and told["muted"] is True and "mention" in told
    assert counts(room, users["bob"]) == (2, 1)
    reader_mute(room=Room.get(room), user_id=users["bob"].user_id, muted=False)
    assert Member.get(room, users["bob"].user_id).muted is None
    with pytest.raises(NotJoined):
        reader_mute(room=Room.get(room), user_id=users["cy"].user_id, muted=True)


def test_leaving_a_public_room_drops_it_from_the_sidebar(town):
    api, room, users, tabs = town
    send(town, "ada", "one")
    reader_leave(room=Room.get(room), user_id=users["bob"].user_id)
    assert counts(room, users["bob"]) == (0, 0)
    assert room not in member_positions(user_id=users["bob"].user_id)
    with pytest.raises(NotJoined):
        reader_leave(room=Room.get(room), user_id=users["bob"].user_id)
    send(town, "ada", "@bob gone?")
    assert Member.count(room, Member.user_id == users["bob"].user_id) == 0


def test_a_join_never_grants_access_once_the_room_is_private(town):
    api, room, users, tabs = town
    Room(room).update(actions=[Room.status.set(PRIVATE), Room.private.set(True)])
    with pytest.raises(NotAMember):
        member_check(room=room, user=users["bob"])
    with pytest.raises(NotAMember):
        tab(api, users["bob"], room)
    assert member_list(room=room) == []
    assert counts(room, users["bob"]) == (0, 0)  # the join counts as nothing
    assert room not in {
        r for r, m in member_positions(user_id=users["bob"].user_id).items() if not m.joined
    }
    with pytest.raises(NotJoined):
        reader_leave(room=Room.get(room), user_id=users["bob"].user_id)
    # Made a member, the join is replaced by the membership.
    member_add(room=Room.get(room), user_id=users["bob"].user_id, username="bob", added_by="ada")
    member_check(room=room, user=users["bob"])
    assert Member.get(room, users["bob"].user_id).kind is None


def test_joins_from_when_the_room_was_public_do_not_count_against_its_member_cap(town, monkeypatch):
    """ada and bob joined while it was public; private now with a cap of one member, bob may
    still be added (joins are not members), and then nobody else."""
    from chat.services import members as members_service

    api, room, users, tabs = town
    Room(room).update(actions=[Room.status.set(PRIVATE), Room.private.set(True)])
    monkeypatch.setattr(members_service, "MAX_MEMBERS", 1)
    member_add(room=Room.get(room), user_id=users["bob"].user_id, username="bob", added_by="ada")
    with pytest.raises(InvalidRequest, match="at most 1 members"):
        member_add(room=Room.get(room), user_id=users["cy"].user_id, username="cy", added_by="ada")
    assert [m.username for m in member_list(room=room)] == ["bob"]


def test_here_is_for_the_creator_and_staff_and_counts_as_a_mention(town):
    api, room, users, tabs = town
    with pytest.raises(HereNotAllowed):
        send(town, "bob", "@here look")
    assert list(Message.query(room)) == [] and Room.get(room).here_n is None
    sent = send(town, "ada", "@here meeting")
    assert Room.get(room).here_n == sent.n
    assert counts(room, users["bob"]) == (1, 1)
    told = unread_frames(api, tabs["bob-lobby"])[-1]
    assert told["mention"]["id"] == sent.message_id
    unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=sent.message_id)
    assert counts(room, users["bob"]) == (0, 0)
    staff = new_user("root", staff=True)
    root_tab = tab(api, staff, room)
    message_send(api=api, connection_id=root_tab, sender=staff, text="@here from staff")
    assert counts(room, users["bob"]) == (1, 1)


def test_here_is_refused_in_a_room_too_large_to_ping(town, monkeypatch):
    api, room, users, tabs = town
    monkeypatch.setattr(messages_service, "MAX_HERE_READERS", 1)  # ada and bob read it
    with pytest.raises(HereTooLarge):
        send(town, "ada", "@here everyone")
    assert list(Message.query(room)) == [] and Room.get(room).here_n is None
    assert Room.get(room).posted is None


def test_unread_counts_read_many_rooms_in_two_requests(town, dynamodb_calls):
    api, room, users, tabs = town
    send(town, "ada", "hello")
    dynamodb_calls.clear()
    assert counts(room, users["bob"]) == (1, 0)
    assert sorted(dynamodb_calls) == ["BatchGetItem", "Query"]


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def test_a_message_costs_the_same_writes_however_many_read_the_room(
    dynamodb, make_room, dynamodb_calls
):
    """The O(1) property: 200 joined readers cost what 2 do."""
    writes = {}
    for size in (2, 200):
        room = Room.get(make_room(created_by="ada"))
        for i in range(size):
            reader_join(room=room, user_id=f"r{i}-{uuid.uuid4().hex[:6]}", username=f"r{i}")
        api, ada = FakeManagementApi(), new_user("ada")
        connection = tab(api, ada, room.name)
        dynamodb_calls.clear()
        message_send(api=api, connection_id=connection, sender=ada, text="hi all")
        writes[size] = [call for call in dynamodb_calls if call in WRITES]
    assert writes[200] == writes[2]
    # The limit bucket, the message, the room's numbers (and ordinal), the sender's position.
    assert len(writes[200]) <= 4, writes[200]


def test_a_room_found_too_large_to_tell_live_is_not_read_again_for_a_while(
    dynamodb, make_room, dynamodb_calls
):
    """Past LIVE_UNREAD_MEMBERS readers nobody is told live; the environment remembers it, so
    the next message skips the readers' Query (the fan-out's Query of connections remains)."""
    room = Room.get(make_room(created_by="ada"))
    for i in range(LIVE_UNREAD_MEMBERS + 1):
        reader_join(room=room, user_id=f"r{i}-{uuid.uuid4().hex[:6]}", username=f"r{i}")
    api, ada = FakeManagementApi(), new_user("ada")
    connection = tab(api, ada, room.name)
    queries = []
    for text in ("one", "two", "three"):
        dynamodb_calls.clear()
        message_send(api=api, connection_id=connection, sender=ada, text=text)
        queries.append(dynamodb_calls.count("Query"))
    assert queries[1] == queries[2] == queries[0] - 1, queries
