"""The one-page app's JSON APIs and the chat page's sidebar: `/api/unread/` lists every room the
user reads (joined public rooms, private rooms, conversations; none archived) with counts;
`/api/rooms/<room>/` describes a room to switch to; leave and mute answer JSON, change nothing
on bad input, and need a session and a CSRF token.

User ids come back after each test's rollback while DynamoDB keeps items, so each test uses
rooms of its own and asserts about them only."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from chat.services.direct import direct_open
from chat.services.members import member_add
from chat.services.rooms import room_create
from lambdas.models import ARCHIVED, Member, Room
from lambdas.services.members import reader_join

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dynamodb")]


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {name: make(username=name) for name in ("alice", "bob", "eve")}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rooms(users):
    """A public room alice reads (joined, 3 messages since), a private room of alice and bob
    (1 message since alice read), a conversation of alice and bob, an archived room alice
    joined, and a public room alice never opened."""
    alice, bob = users["alice"], users["bob"]
    town = room_create(name=unique("town"), title="Town", description="", created_by="bob")
    reader_join(room=town, user_id=str(alice.pk), username="alice")
    Room(town.name).update(actions=[Room.posted.set(3)])
    team = room_create(
        name=unique("team"),
        title="Team",
        description="d",
        created_by="bob",
        private=True,
        creator_id=str(bob.pk),
    )
    member_add(room=team, user_id=str(alice.pk), username="alice", added_by="bob")
    Member(team.name, str(alice.pk)).update(actions=[Member.read_n.set(0)])
    Room(team.name).update(actions=[Room.posted.set(1)])
    dm = direct_open(people=[(str(alice.pk), "alice"), (str(bob.pk), "bob")], opened_by="alice")
    old = room_create(name=unique("old"), title="Old", description="", created_by="bob")
    reader_join(room=old, user_id=str(alice.pk), username="alice")
    Room(old.name).update(actions=[Room.status.set(ARCHIVED)])
    other = room_create(name=unique("other"), title="Other", description="", created_by="bob")
    return {
        "town": town.name,
        "team": team.name,
        "dm": dm.name,
        "old": old.name,
        "other": other.name,
    }


def test_the_unread_api_lists_every_room_the_user_reads(client, users, rooms):
    client.force_login(users["alice"])
    response = client.get("/api/unread/")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    listed = response.json()["rooms"]
    assert listed[rooms["town"]] == {
        "unread": 3,
        "mentions": 0,
        "kind": "public",
        "label": f"#{rooms['town']}",
        "title": "Town",
        "url": f"/rooms/{rooms['town']}/",
        "muted": False,
    }
    assert listed[rooms["team"]]["kind"] == "private" and listed[rooms["team"]]["unread"] == 1
    assert listed[rooms["dm"]]["kind"] == "direct" and listed[rooms["dm"]]["label"] == "bob"
    assert rooms["old"] not in listed and rooms["other"] not in listed
    client.force_login(users["eve"])
    assert not {rooms["town"], rooms["team"], rooms["dm"]} & set(
        client.get("/api/unread/").json()["rooms"]
    )
    client.logout()
    assert client.get("/api/unread/").json()["error"] == "not_authenticated"


def test_the_chat_page_has_a_sidebar_with_the_room_being_opened(client, users, rooms):
    client.force_login(users["alice"])
    response = client.get(f"/rooms/{rooms['other']}/")
    assert response.status_code == 200
    sidebar = [e for e in response.context["sidebar"] if e["name"] in rooms.values()]
    assert [(e["name"], e["kind"], e["current"]) for e in sidebar] == sorted(
        [
            (rooms["other"], "public", True),  # not joined yet: listed while open
            (rooms["town"], "public", False),
            (rooms["team"], "private", False),
            (rooms["dm"], "direct", False),
        ],
        key=lambda e: (["public", "private", "direct"].index(e[1]), e[0]),
    )
    town = next(e for e in sidebar if e["name"] == rooms["town"])
    assert (town["unread"], town["mentions"], town["muted"]) == (3, 0, False)
    assert town["room"].name == rooms["town"] and town["url"] == f"/rooms/{rooms['town']}/"
    page = client.get(f"/rooms/{rooms['town']}/")
    assert page.context["member_names"] == ["alice"]  # a public room's readers


def test_the_chat_page_reads_the_users_items_once(client, users, rooms):
    """The room's details and the sidebar share one Query of the user's items (by-user)."""
    from lambdas.models import Member

    queried: list[str | None] = []
    events = Member._get_connection().connection.client.meta.events

    def record(params, model, **kwargs) -> None:
        if model.name == "Query":
            queried.append(params.get("IndexName"))

    events.register("before-parameter-build.dynamodb", record, unique_id="test-room-page-queries")
    try:
        client.force_login(users["alice"])
        assert client.get(f"/rooms/{rooms['town']}/").status_code == 200
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="test-room-page-queries")
    assert queried.count("by-user") == 1, queried


def test_the_room_api_describes_a_room_to_switch_to(client, users, rooms):
    client.force_login(users["alice"])
    answer = client.get(f"/api/rooms/{rooms['team']}/").json()
    assert answer == {
        "room": rooms["team"],
        "title": "Team",
        "label": f"#{rooms['team']}",
        "description": "d",
        "kind": "private",
        "private": True,
        "direct": False,
        "others": [],
        "last_read": "0",
        "member_names": ["alice", "bob"],
        "members_url": f"/rooms/{rooms['team']}/members/",
        "created_by": "bob",
        "url": f"/rooms/{rooms['team']}/",
    }
    public = client.get(f"/api/rooms/{rooms['other']}/").json()
    assert public["kind"] == "public" and public["members_url"] is None
    assert public["last_read"] == ""  # not joined yet
    dm = client.get(f"/api/rooms/{rooms['dm']}/").json()
    assert dm["kind"] == "direct" and dm["others"] == ["bob"] and dm["label"] == "bob"


@pytest.mark.parametrize(
    ("who", "room", "status", "code"),
    [
        ("alice", "nope-" + uuid.uuid4().hex[:8], 404, "room_not_found"),
        ("alice", "Bad Name", 404, "room_not_found"),
        ("alice", "old", 410, "room_archived"),
        ("eve", "team", 403, "not_a_member"),
        (None, "town", 401, "not_authenticated"),
    ],
    # Named, not by their values: the unknown room's is random, and pytest-xdist's workers
    # must collect the same ids.
    ids=["unknown", "bad-name", "archived", "not-a-member", "anonymous"],
)
def test_the_room_api_refuses_with_json_errors(client, users, rooms, who, room, status, code):
    if who:
        client.force_login(users[who])
    response = client.get(f"/api/rooms/{rooms.get(room, room)}/")
    assert response.status_code == status and response.json()["error"] == code


def test_leaving_a_public_room_drops_it_from_the_sidebar(client, users, rooms):
    client.force_login(users["alice"])
    response = client.post(f"/api/rooms/{rooms['town']}/leave/")
    assert response.status_code == 200
    assert response.json() == {
        "room": rooms["town"],
        "unread": 0,
        "mentions": 0,
        "kind": "public",
        "label": f"#{rooms['town']}",
        "title": "Town",
        "url": f"/rooms/{rooms['town']}/",
        "muted": False,
        "joined": False,
    }
    assert rooms["town"] not in client.get("/api/unread/").json()["rooms"]
    again = client.post(f"/api/rooms/{rooms['town']}/leave/")
    assert again.status_code == 400 and again.json()["error"] == "not_joined"


def test_leaving_refuses_private_rooms_unknown_rooms_and_get(client, users, rooms):
    client.force_login(users["alice"])
    private = client.post(f"/api/rooms/{rooms['team']}/leave/")
    assert private.status_code == 400 and private.json()["error"] == "not_joined"
    assert Member.get(rooms["team"], str(users["alice"].pk)).kind is None  # still a member
    unknown = client.post("/api/rooms/nope-zz/leave/")
    assert unknown.status_code == 404 and unknown.json()["error"] == "room_not_found"
    get = client.get(f"/api/rooms/{rooms['town']}/leave/")
    assert get.status_code == 405 and get["Allow"] == "POST"
    client.logout()
    anonymous = client.post(f"/api/rooms/{rooms['town']}/leave/")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    assert Member.count(rooms["town"], Member.user_id == str(users["alice"].pk)) == 1


def test_muting_is_json_in_json_out_and_bad_input_changes_nothing(client, users, rooms):
    client.force_login(users["alice"])
    url = f"/api/rooms/{rooms['team']}/mute/"
    response = client.post(url, '{"muted": true}', content_type="application/json")
    assert response.status_code == 200 and response.json()["muted"] is True
    assert client.get("/api/unread/").json()["rooms"][rooms["team"]]["muted"] is True
    for body in ("not json", '{"muted": "no"}', "[]", '{"muted": null}'):
        bad = client.post(url, body, content_type="application/json")
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert Member.get(rooms["team"], str(users["alice"].pk)).muted is True
    response = client.post(url, '{"muted": false}', content_type="application/json")
    assert response.json()["muted"] is False
    assert Member.get(rooms["team"], str(users["alice"].pk)).muted is None
    never = client.post(
        f"/api/rooms/{rooms['other']}/mute/", '{"muted": true}', content_type="application/json"
    )
    assert never.status_code == 400 and never.json()["error"] == "not_joined"


def test_leave_and_mute_need_a_csrf_token(users, rooms):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["alice"])
    url = f"/api/rooms/{rooms['town']}/mute/"
    refused = client.post(url, '{"muted": true}', content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    assert client.post(f"/api/rooms/{rooms['town']}/leave/").json()["error"] == "csrf_failed"
    assert Member.get(rooms["town"], str(users["alice"].pk)).muted is None
    token = "k" * 32
    client.cookies["csrftoken"] = token
    allowed = client.post(
        url, '{"muted": true}', content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 200 and allowed.json()["muted"] is True
