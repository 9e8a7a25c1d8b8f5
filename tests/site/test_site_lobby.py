"""`GET /api/online/?rooms=…`: the rooms page's online counts, bounded, private rooms only to
their members, errors as JSON with codes."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse

from chat.lobby import MAX_ROOMS
from chat.services.members import member_put
from chat.services.rooms import room_create
from lambdas.models import Room, utcnow

pytestmark = pytest.mark.django_db
URL = "/api/online/"


def counted(name: str, online: int, *, for_seconds: int = 60) -> None:
    """Store a room's count as a presence announcement does."""
    Room(name).update(
        actions=[
            Room.online.set(online),
            Room.online_until.set(utcnow() + timedelta(seconds=for_seconds)),
        ]
    )


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def test_the_url_is_named():
    assert reverse("api_rooms_online") == URL


def test_counts_of_open_rooms_expired_counts_are_zero(signed_in, make_room):
    """Live counts as stored, an expired one as 0, unknown rooms left out; one name once."""
    busy, stale, quiet = make_room(), make_room(), make_room()
    counted(busy, 3)
    counted(stale, 5, for_seconds=-1)
    rooms = f"{busy},{stale},{quiet},no-such-room,{busy}"
    response = signed_in.get(URL, {"rooms": rooms})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.json() == {"rooms": {busy: 3, stale: 0, quiet: 0}}


@pytest.mark.usefixtures("dynamodb")
def test_private_rooms_are_counted_for_their_members_only(signed_in, alice):
    """A private room's figure is nobody else's business: left out unless alice is a member."""
    tag = uuid.uuid4().hex[:8]
    hers = room_create(
        name=f"hers-{tag}",
        title="",
        description="",
        private=True,
        created_by="alice",
        creator_id=str(alice.pk),
    ).name
    theirs = room_create(
        name=f"theirs-{tag}",
        title="",
        description="",
        private=True,
        created_by="zed",
        creator_id="99999",
    ).name
    counted(hers, 2)
    counted(theirs, 4)
    both = {"rooms": f"{hers},{theirs}"}
    assert signed_in.get(URL, both).json() == {"rooms": {hers: 2}}
    member_put(room=theirs, user_id=str(alice.pk), username="alice", added_by="zed")
    assert signed_in.get(URL, both).json() == {"rooms": {hers: 2, theirs: 4}}


def test_archived_rooms_are_left_out(signed_in, make_room):
    name = make_room()
    counted(name, 1)
    Room(name).update(actions=[Room.status.set("archived")])
    assert signed_in.get(URL, {"rooms": name}).json() == {"rooms": {}}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({}, "name the rooms"),
        ({"rooms": ""}, "name the rooms"),
        ({"rooms": ",,"}, "name the rooms"),
        ({"rooms": "Bad Name"}, "is not a room name"),
        ({"rooms": "ok,../x"}, "is not a room name"),
        ({"rooms": "x" * 65}, "is not a room name"),
        ({"rooms": ",".join(f"r{i}" for i in range(MAX_ROOMS + 1))}, f"at most {MAX_ROOMS}"),
    ],
)
def test_bad_input_is_a_400_with_a_code(signed_in, query, fragment):
    response = signed_in.get(URL, query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request" and fragment in body["message"]


def test_a_full_page_of_names_is_one_request(signed_in, make_room):
    """MAX_ROOMS names, the most a page asks at once, are answered."""
    name = make_room()
    names = [name] + [f"r{i}" for i in range(MAX_ROOMS - 1)]
    assert signed_in.get(URL, {"rooms": ",".join(names)}).json() == {"rooms": {name: 0}}


def test_anonymous_is_401_and_post_is_405(client, alice):
    response = client.get(URL, {"rooms": "general"})
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")
    client.force_login(alice)
    response = client.post(URL, {"rooms": "general"})
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
