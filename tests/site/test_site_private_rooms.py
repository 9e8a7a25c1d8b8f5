"""Private rooms on the site: created from the rooms page, listed to their members only, closed
to everyone else (403 pages), and a members page to add people by username, remove them, leave.

User ids come back after each test's rollback while DynamoDB keeps memberships, so each test
uses rooms of its own and asserts about them only."""

from __future__ import annotations

import uuid

import pytest

from lambdas.models import Member, Room

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dynamodb")]


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {
        "alice": make(username="alice"),
        "bob": make(username="bob"),
        "eve": make(username="eve"),
        "sam": make(username="sam", is_staff=True),
        "gone": make(username="gone", is_active=False),
    }


@pytest.fixture
def private_room(client, users) -> str:
    """A private room alice created through the rooms page."""
    name = f"priv-{uuid.uuid4().hex[:10]}"
    client.force_login(users["alice"])
    response = client.post(
        "/rooms/", {"name": name, "title": "Plans", "description": "", "private": "on"}
    )
    assert response.status_code == 302 and response["Location"] == f"/rooms/{name}/"
    return name


def members_of(room: str) -> list[str]:
    return sorted(member.username for member in Member.query(room))


def listed(client, section: str) -> list[str]:
    return [entry["room"].name for entry in client.get("/rooms/").context[section]]


def test_a_private_room_is_its_creators_and_listed_to_members_only(client, users, private_room):
    room = Room.get(private_room)
    assert (room.status, room.private, members_of(private_room)) == ("private", True, ["alice"])
    assert private_room in listed(client, "private_rooms")
    assert private_room not in listed(client, "rooms")
    page = client.get(f"/rooms/{private_room}/").content.decode()
    assert 'id="members-link"' in page
    client.force_login(users["eve"])
    assert private_room not in listed(client, "private_rooms") + listed(client, "rooms")


def test_non_members_get_a_403_page_and_staff_get_in(client, users, private_room):
    client.force_login(users["eve"])
    for url in (f"/rooms/{private_room}/", f"/rooms/{private_room}/members/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "This room is private" in response.content.decode()
    response = client.post(f"/rooms/{private_room}/members/", {"username": "eve"})
    assert response.status_code == 403 and members_of(private_room) == ["alice"]
    client.force_login(users["sam"])
    assert client.get(f"/rooms/{private_room}/").status_code == 200
    assert client.get(f"/rooms/{private_room}/members/").status_code == 200


def test_members_add_people_by_username(client, users, private_room):
    url = f"/rooms/{private_room}/members/"
    response = client.post(url, {"username": "bob"})
    assert response.status_code == 302 and members_of(private_room) == ["alice", "bob"]
    client.force_login(users["bob"])  # a member now: he may add too
    assert client.get(f"/rooms/{private_room}/").status_code == 200
    assert private_room in listed(client, "private_rooms")
    for username, error in [
        ("nobody", "There is no user 'nobody'."),
        ("gone", "There is no user 'gone'."),  # deactivated
        ("alice", f"alice is already a member of #{private_room}"),
        ("", "This field is required."),
    ]:
        response = client.post(url, {"username": username})
        assert response.status_code == 200
        assert response.context["form"].errors["username"] == [error]
    assert members_of(private_room) == ["alice", "bob"]


def test_members_remove_others_and_leave(client, users, private_room):
    url = f"/rooms/{private_room}/members/"
    client.post(url, {"username": "bob"})
    response = client.post(url, {"remove": str(users["bob"].pk)})
    assert response.status_code == 302 and members_of(private_room) == ["alice"]
    response = client.post(url, {"remove": str(users["bob"].pk)}, follow=True)
    assert "they are not a member of this room" in response.content.decode()
    response = client.post(url, {"remove": str(users["alice"].pk)})
    assert response["Location"] == "/rooms/" and members_of(private_room) == []
    assert client.get(f"/rooms/{private_room}/").status_code == 403


def test_a_public_room_has_no_members_page(client, users, make_room):
    name = make_room()
    client.force_login(users["alice"])
    assert client.get(f"/rooms/{name}/members/")["Location"] == f"/rooms/{name}/"
    assert client.post(f"/rooms/{name}/members/", {"username": "bob"}).status_code == 302
    assert Member.count(name) == 0
    assert client.get("/rooms/no-such-room-here/members/").status_code == 404


# -- direct conversations ----------------------------------------------------------------------


def direct(client, people: str):
    return client.post("/dm/", {"people": people})


def test_a_conversation_opens_once_for_the_same_people_and_is_listed_to_them(client, users):
    client.force_login(users["alice"])
    response = direct(client, "bob")
    assert response.status_code == 302
    room = response["Location"].split("/")[2]
    assert room.startswith("dm-") and members_of(room) == ["alice", "bob"]
    page = client.get(f"/rooms/{room}/").content.decode()
    assert '<h1 class="room-name">bob</h1>' in page and "#dm-" not in page
    entries = {e["room"].name: e["others"] for e in client.get("/rooms/").context["direct_rooms"]}
    assert entries[room] == ["bob"]
    client.force_login(users["bob"])
    assert direct(client, "alice, alice")["Location"] == f"/rooms/{room}/"  # the same one
    entries = {e["room"].name: e["others"] for e in client.get("/rooms/").context["direct_rooms"]}
    assert entries[room] == ["alice"]
    response = client.post(f"/rooms/{room}/members/", {"username": "eve"}, follow=True)
    assert "people are fixed" in response.content.decode()  # even for its members
    client.force_login(users["eve"])
    assert client.get(f"/rooms/{room}/").status_code == 403
    assert client.post(f"/rooms/{room}/members/", {"username": "eve"}).status_code == 403
    assert members_of(room) == ["alice", "bob"]


@pytest.mark.parametrize(
    ("people", "error"),
    [
        ("alice", "a conversation needs someone besides you"),
        ("nobody", "There is no user 'nobody'."),
        ("bob gone", "There is no user 'gone'."),
        (" ".join(f"p{n}" for n in range(8)), "a conversation has at most 8 people"),
    ],
)
def test_bad_conversations_are_form_errors(client, users, django_user_model, people, error):
    for n in range(8):
        django_user_model.objects.create_user(username=f"p{n}")
    client.force_login(users["alice"])
    rooms_before = {e["room"].name for e in client.get("/rooms/").context["direct_rooms"]}
    response = direct(client, people)
    assert response.status_code == 200
    assert response.context["form"].errors["people"] == [error]
    assert {e["room"].name for e in client.get("/rooms/").context["direct_rooms"]} == rooms_before


def test_the_unread_api_gives_a_members_counts_and_nothing_to_strangers(
    client, users, private_room
):
    """What a page that was away reads to bring its badges up to date."""
    client.post(f"/rooms/{private_room}/members/", {"username": "bob"})
    Member(private_room, str(users["bob"].pk)).update(
        actions=[Member.unread.set(3), Member.mentions.set(1)]
    )
    client.force_login(users["bob"])
    response = client.get("/api/unread/")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    # An item from before read ordinals: its old counter counts until the next read.
    counts = response.json()["rooms"][private_room]
    assert (counts["unread"], counts["mentions"], counts["kind"]) == (3, 1, "private")
    client.force_login(users["eve"])
    assert private_room not in client.get("/api/unread/").json()["rooms"]
    client.logout()
    assert client.get("/api/unread/").status_code == 401


def test_the_members_page_names_a_room_by_its_title_and_a_conversation_by_its_people(
    client, users, private_room
):
    from chat.services.direct import direct_open

    page = client.get(f"/rooms/{private_room}/members/").content.decode()
    assert '<h1 id="members-heading">Members of Plans</h1>' in page
    assert f"Back to #{private_room}</a> · 1 member<" in page
    alice, bob = users["alice"], users["bob"]
    conversation = direct_open(
        people=[(str(alice.pk), "alice"), (str(bob.pk), "bob")], opened_by="alice"
    ).name
    page = client.get(f"/rooms/{conversation}/members/").content.decode()
    assert '<h1 id="members-heading">Conversation with bob</h1>' in page
    assert "2 members" in page
