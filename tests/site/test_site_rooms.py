"""The rooms page (list, online counts, creating rooms); the room page's 404 and 410 pages."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client

from lambdas.errors import RoomNotFound
from lambdas.models import ARCHIVED, Connection, Room, utcnow
from lambdas.services.rooms import room_get, room_online_record, room_presence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dynamodb")]


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def room_item(content: str, name: str) -> str | None:
    """The <li> of one room in the rendered list, or None."""
    match = re.search(rf'<li class="room" data-room="{name}">.*?</li>', content, re.S)
    return match.group(0) if match else None


def exists(name: str) -> bool:
    try:
        room_get(name=name)
    except RoomNotFound:
        return False
    return True


@pytest.fixture
def connections():
    """Open connections written straight to the table (as $connect would); deleted afterwards."""
    made: list[Connection] = []

    def add(room: str, user_id: str, username: str, *, expired: bool = False) -> None:
        now = utcnow()
        connection = Connection(
            uuid.uuid4().hex,
            user_id=user_id,
            username=username,
            room=room,
            connected_at=now - timedelta(hours=3),
            expires_at=now + timedelta(hours=-1 if expired else 1),
        )
        connection.save()
        made.append(connection)

    yield add
    for connection in made:
        connection.delete()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="sam", is_staff=True)


def announce(room: str) -> None:
    """Store the room's online count as its presence announcement does (through the gateway:
    tests/local/test_chat_features.py)."""
    room_online_record(room=room, presence=room_presence(room=room), read_at=time.time())


def test_rooms_page_lists_open_rooms_with_distinct_people_online(
    client, alice, make_room, connections
):
    """Each open room links to its page with its title, description and distinct users online."""
    start = unique("t")
    busy, quiet, archived = f"{start}-busy", f"{start}-quiet", f"{start}-old"
    make_room(busy, title="Busy <b>room</b>")
    make_room(quiet)
    make_room(archived)
    Room.get(archived).update(actions=[Room.status.set(ARCHIVED)])
    Room.get(busy).update(actions=[Room.description.set("Where <i>things</i> happen")])
    connections(busy, "1", "alice")
    connections(busy, "1", "alice")  # a second tab: still one person
    connections(busy, "2", "bob")
    connections(quiet, "3", "carol", expired=True)  # $disconnect lost: not online
    announce(busy)
    announce(quiet)

    client.force_login(alice)
    response = client.get(f"/rooms/?q={start.upper()}")  # names are lowercase
    assert response.status_code == 200
    content = response.content.decode()
    listed = [(entry["room"].name, entry["online"]) for entry in response.context["rooms"]]
    assert listed == [(busy, 2), (quiet, 0)]  # in name order; the archived one is not read
    assert f'value="{start}"' in content  # the search box keeps the query

    item = room_item(content, busy)
    assert f'<a class="room-link" href="/rooms/{busy}/">' in item
    assert '<span class="room-title">Busy &lt;b&gt;room&lt;/b&gt;</span>' in item
    assert '<span class="online" data-count="2">2 online</span>' in item
    assert '<p class="room-description">Where &lt;i&gt;things&lt;/i&gt; happen</p>' in item
    assert '<span class="online" data-count="0">0 online</span>' in room_item(content, quiet)
    assert room_item(content, archived) is None


def test_rooms_page_pages_through_many_rooms(client, alice, make_room, monkeypatch):
    """Past a page of rooms, "More rooms" leads on, keeping the search, until the last one."""
    monkeypatch.setattr("chat.views.ROOMS_PAGE_SIZE", 2)
    start = unique("many")
    names = [make_room(f"{start}-{i}") for i in range(5)]
    client.force_login(alice)
    url, seen = f"/rooms/?q={start}", []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [entry["room"].name for entry in response.context["rooms"]]
        match = re.search(r'<a id="rooms-next" href="([^"]+)"', response.content.decode())
        url = "/rooms/" + match.group(1).replace("&amp;", "&") if match else None
        if url:
            assert f"q={start}&" in url
    assert seen == names


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("q=Not%20a%20name", "room names have only lowercase letters"),
        ("page=bm90LW91cnM", "that page link is not valid"),
    ],
)
def test_a_bad_search_or_page_link_says_so_and_shows_the_first_page(client, alice, query, error):
    client.force_login(alice)
    response = client.get(f"/rooms/?{query}")
    assert response.status_code == 400
    assert error in response.content.decode()
    assert response.context["query"] == ""


def test_a_search_that_finds_nothing_says_so(client, alice):
    client.force_login(alice)
    start = unique("none")
    content = client.get(f"/rooms/?q={start}").content.decode()
    assert f"No open room starts with “{start}”." in content


def test_rooms_page_requires_login(client):
    """Anonymous visitors are sent to log in first."""
    response = client.get("/rooms/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/rooms/"


def test_creating_a_room_redirects_to_it(client, alice):
    """A valid form creates the room (creator, title, description) and opens it."""
    name = unique("new")
    client.force_login(alice)
    assert 'id="room-create-form"' in client.get("/rooms/").content.decode()
    response = client.post(
        "/rooms/", {"name": name, "title": " Launch plans ", "description": "Q3 launch"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/rooms/{name}/"
    room = room_get(name=name)
    assert (room.title, room.description, room.created_by, room.archived) == (
        "Launch plans",
        "Q3 launch",
        "alice",
        False,
    )
    assert client.get(response["Location"]).status_code == 200


def test_members_cannot_create_rooms_when_the_setting_is_off(client, alice, settings):
    """ROOMS_USER_CREATE=False hides the form from members and refuses their POST with 403."""
    settings.ROOMS_USER_CREATE = False
    name = unique("nope")
    client.force_login(alice)
    assert 'id="room-create-form"' not in client.get("/rooms/").content.decode()
    response = client.post("/rooms/", {"name": name, "title": "", "description": ""})
    assert response.status_code == 403
    assert not exists(name)


def test_staff_can_always_create_rooms(client, staff, settings):
    """Staff see the form and create rooms even with ROOMS_USER_CREATE=False."""
    settings.ROOMS_USER_CREATE = False
    name = unique("staff")
    client.force_login(staff)
    assert 'id="room-create-form"' in client.get("/rooms/").content.decode()
    response = client.post("/rooms/", {"name": name, "title": "", "description": ""})
    assert response.status_code == 302
    assert room_get(name=name).title == name  # an empty title falls back to the name


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "This field is required."),
        ("Design Review", "room names are 1-64 characters"),
        ("-dash", "room names are 1-64 characters"),
        ("a" * 65, "Ensure this value has at most 64 characters"),
    ],
)
def test_invalid_room_names_are_shown_in_the_form(client, alice, name, error):
    """A bad name re-renders the form with the error next to the name; nothing is created."""
    client.force_login(alice)
    response = client.post("/rooms/", {"name": name, "title": "t", "description": ""})
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["name"]
    assert form.errors["name"][0].startswith(error)
    assert 'class="errorlist' in response.content.decode()


def test_a_taken_name_is_shown_in_the_form_and_the_room_is_kept(client, alice, make_room):
    """Creating a room that exists says so and leaves the existing room untouched."""
    name = make_room(title="Original")
    client.force_login(alice)
    response = client.post("/rooms/", {"name": name, "title": "Hijack", "description": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [f"#{name} already exists"]
    assert f"#{name} already exists" in response.content.decode()
    assert room_get(name=name).title == "Original"


def test_too_long_titles_and_descriptions_are_refused(client, alice):
    """Titles over 100 and descriptions over 500 characters are form errors, not rooms."""
    name = unique("long")
    client.force_login(alice)
    response = client.post("/rooms/", {"name": name, "title": "t" * 101, "description": "d" * 501})
    assert response.status_code == 200
    assert sorted(response.context["form"].errors) == ["description", "title"]
    assert not exists(name)


def test_creating_a_room_needs_a_csrf_token(alice):
    """The form is protected like every other POST of the site."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    name = unique("csrf")
    response = client.post("/rooms/", {"name": name, "title": "", "description": ""})
    assert response.status_code == 403
    assert not exists(name)


def test_get_never_creates_a_room(client, alice):
    """Neither the list (even with form fields in the query) nor an unknown room's page creates."""
    name = unique("ghost")
    client.force_login(alice)
    assert client.get(f"/rooms/?name={name}&title=x").status_code == 200
    assert client.get(f"/rooms/{name}/").status_code == 404
    assert not exists(name)
    assert not any(room.name == name for room in Room.scan())


def test_unknown_room_is_a_404_page_pointing_to_the_rooms_list(client, alice):
    """An unknown room says it does not exist, links to /rooms/, and loads no chat script."""
    name = unique("missing")
    client.force_login(alice)
    response = client.get(f"/rooms/{name}/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "This room does not exist" in content
    assert f"#{name}" in content
    assert '<a href="/rooms/">See all rooms</a>' in content
    assert "chat.js" not in content and 'id="chat"' not in content


def test_archived_room_is_a_410_page_without_a_websocket(client, alice, make_room):
    """An archived room says so with 410 Gone and no chat page, so no socket is attempted."""
    name = make_room(title="Old times")
    Room.get(name).update(actions=[Room.status.set(ARCHIVED)])
    client.force_login(alice)
    response = client.get(f"/rooms/{name}/")
    assert response.status_code == 410
    content = response.content.decode()
    assert "This room is archived" in content
    assert "Old times" in content
    assert '<a href="/rooms/">See all rooms</a>' in content
    assert "chat.js" not in content and 'id="chat"' not in content


def test_general_exists_without_anyone_creating_it(client, alice):
    """/ still leads to #general, which opens even on a fresh table."""
    client.force_login(alice)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/rooms/general/", 302)]
    assert response.status_code == 200
    assert room_get(name="general").name == "general"


def test_room_creation_has_a_daily_quota_per_user(client, django_user_model, staff, settings):
    """Past ROOMS_PER_USER_PER_DAY new rooms a user's next one is refused with a form error
    (each room costs every visitor of /rooms/); staff are not counted."""
    settings.ROOMS_PER_USER_PER_DAY = 2
    maker = django_user_model.objects.create_user(
        f"mk{uuid.uuid4().hex[:8]}", pk=uuid.uuid4().int % 10**9 + 10**6
    )
    client.force_login(maker)
    made = [unique("q") for _ in range(3)]
    for name in made[:2]:
        assert client.post("/rooms/", {"name": name}).status_code == 302
    refused = client.post("/rooms/", {"name": made[2]})
    assert refused.status_code == 200
    assert "at most 2 new rooms per day" in refused.content.decode()
    with pytest.raises(Room.DoesNotExist):
        Room.get(made[2])
    client.force_login(staff)
    assert client.post("/rooms/", {"name": made[2]}).status_code == 302
