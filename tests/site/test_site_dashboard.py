"""The "Live chat" admin dashboard: who may see and do what, and that its actions really happen."""

import json
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from websockets.exceptions import ConnectionClosed

from chat.models import AuditEntry
from lambdas.models import Connection, Message, Room
from tests.helpers import DEADLINE, recv_json, wait_for
from tests.local.test_gateway import handshake_status

PAGES = ["live_overview", "live_connections", "live_messages", "live_rooms", "live_audit"]
ACTIONS = {  # url name, kwargs, permission
    "live_disconnect": ({}, "disconnect_connection"),
    "live_message_delete": (
        {"room": "general", "message_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        "delete_message",
    ),
    "live_room_archive": ({"name": "general"}, "manage_room"),
    "live_room_unarchive": ({"name": "general"}, "manage_room"),
}

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    """A staff member who may read the dashboard, without any of the chat's other permissions."""
    sam = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    sam.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return sam


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", password="pw")


@pytest.fixture
def as_boss(client, boss, gateway):
    client.force_login(boss)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# -- permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_and_non_staff_get_the_admin_login(client, alice, name, dynamodb):
    """Pages are staff only: others are sent to the admin login and see no data."""
    url = reverse(f"admin:{name}")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("name", PAGES)
def test_staff_with_the_view_permission_see_every_page(client, staff, name, gateway):
    """Staff who may view the dashboard read every page."""
    client.force_login(staff)
    response = client.get(reverse(f"admin:{name}"))
    assert response.status_code == 200
    assert b"Live chat" in response.content


@pytest.mark.parametrize("name", PAGES)
def test_staff_without_the_view_permission_see_no_page(client, django_user_model, name, gateway):
    """Being staff (say, to edit rooms' titles) is not enough to read who said what: 403, and
    the admin index has no "Live chat" section."""
    client.force_login(django_user_model.objects.create_user("pat", is_staff=True))
    assert client.get(reverse(f"admin:{name}")).status_code == 403
    assert b"Live chat" not in client.get(reverse("admin:index")).content


def test_a_moderator_cannot_ban_or_change_a_superuser(client, django_user_model, gateway):
    """With the ban and change-user permissions, a moderator still may not ban, deactivate or
    demote a superuser (or other staff), nor grant anyone powers."""
    moderator = django_user_model.objects.create_user("mo", password="pw", is_staff=True)
    for codename in ("ban_user", "change_user", "view_user"):
        moderator.user_permissions.add(Permission.objects.get(codename=codename))
    root = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(moderator)
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "ban", "_selected_action": [root.pk]},
        follow=True,
    )
    assert any("only a superuser may ban" in m for m in messages_of(response))
    change = reverse("admin:auth_user_change", args=[root.pk])
    form = {"username": "root", "is_active": "", "is_staff": "", "is_superuser": ""}
    client.post(change, form)
    root.refresh_from_db()
    assert root.is_active and root.is_staff and root.is_superuser
    assert AuditEntry.objects.count() == 0
    regular = django_user_model.objects.create_user("reg", password="pw")
    page = client.get(reverse("admin:auth_user_change", args=[regular.pk]))
    assert b'name="is_superuser"' not in page.content  # shown read-only, if at all


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_actions_need_their_permission(client, staff, alice, name, gateway):
    """Anonymous and non-staff are sent to log in; staff without the permission get 403."""
    kwargs, permission = ACTIONS[name]
    url = reverse(f"admin:{name}", kwargs=kwargs)
    assert client.post(url).status_code == 302
    client.force_login(alice)
    assert client.post(url).status_code == 302
    client.force_login(staff)
    assert client.post(url, {"ids": ["x"]}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename=permission))
    client.force_login(type(staff).objects.get(pk=staff.pk))
    assert client.post(url, {"ids": ["x"]}).status_code == 302  # done, or refused with a message
    assert AuditEntry.objects.count() <= 1


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_a_get_never_acts(as_boss, name):
    """Actions are POST only: a GET is refused with 405 and changes nothing."""
    kwargs, _ = ACTIONS[name]
    assert as_boss.get(reverse(f"admin:{name}", kwargs=kwargs)).status_code == 405
    assert not Room.get("general").archived if Room.count("general") else True
    assert AuditEntry.objects.count() == 0


def test_the_admin_index_shows_the_live_chat_section(as_boss):
    """The dashboard is a section of the admin's own index page."""
    response = as_boss.get(reverse("admin:index"))
    assert b"Live chat" in response.content
    assert reverse("admin:live_connections").encode() in response.content


def test_audit_entries_cannot_be_edited(as_boss, boss):
    """The audit log is read-only in the admin: no add, change or delete."""
    entry = AuditEntry.objects.create(actor=boss, action="ban", target="x")
    assert as_boss.get(reverse("admin:chat_auditentry_add")).status_code == 403
    response = as_boss.post(
        reverse("admin:chat_auditentry_change", args=[entry.pk]), {"target": "changed"}
    )
    assert response.status_code == 403
    assert (
        as_boss.post(
            reverse("admin:chat_auditentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditEntry.objects.get().target == "x"


# -- actions against the real gateway and dynalite ---------------------------------------------


def test_connections_list_and_disconnect(as_boss, connect, room):
    """Live connections are listed; disconnecting one closes its socket and removes its item."""
    alice = connect(room, user_id="501", username="alice")
    bob = connect(room, user_id="502", username="bob")
    items = {c.username: c.connection_id for c in Connection.room_index.query(room)}
    page = as_boss.get(reverse("admin:live_connections"), {"room": room})
    assert items["alice"].encode() in page.content and items["bob"].encode() in page.content
    assert b"127.0.0.1" in page.content
    response = as_boss.post(
        reverse("admin:live_disconnect"), {"ids": [items["alice"]]}, follow=True
    )
    assert "1 connection(s) closed, 0 already gone." in messages_of(response)
    with pytest.raises(ConnectionClosed):
        while True:
            alice.recv(timeout=DEADLINE)
    assert wait_for(lambda: {c.username for c in Connection.room_index.query(room)} == {"bob"})
    bob.send('{"action": "ping"}')
    assert recv_json(bob)["type"] == "pong"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target, entry.actor.username) == (
        "disconnect",
        items["alice"],
        "boss",
    )


def test_disconnect_of_unknown_ids_changes_nothing(as_boss, connect, room):
    """An unknown connection id gets a message, no audit entry and no 500."""
    response = as_boss.post(reverse("admin:live_disconnect"), {"ids": ["no-such-id"]}, follow=True)
    assert response.status_code == 200
    assert any("no-such-id" in m for m in messages_of(response))
    assert AuditEntry.objects.count() == 0


def test_delete_message_reaches_the_room(as_boss, connect, room):
    """Deleting a message marks it deleted and connected clients receive message_deleted."""
    alice = connect(room, user_id="601", username="alice")
    alice.send(json.dumps({"action": "sendmessage", "message": "rude words"}))
    message = recv_json(alice)
    url = reverse("admin:live_message_delete", kwargs={"room": room, "message_id": message["id"]})
    response = as_boss.post(url, follow=True)
    assert "Message deleted." in messages_of(response)
    assert recv_json(alice) == {
        "type": "message_deleted",
        "id": message["id"],
        "room": room,
        "rev": message["rev"] + 1,  # the room's next change number
    }
    assert Message.get(room, message["id"]).deleted
    assert AuditEntry.objects.get().action == "delete_message"


@pytest.mark.parametrize(
    ("room_name", "message_id"),
    [("general", "01ARZ3NDEKTSV4RRFFQ69G5FAV"), ("general", "not-an-id"), ("No Room", "x")],
)
def test_deleting_unknown_messages_changes_nothing(as_boss, room_name, message_id):
    """Unknown or malformed message ids and rooms get a message, never a 500."""
    url = reverse("admin:live_message_delete", kwargs={"room": room_name, "message_id": message_id})
    response = as_boss.post(url, follow=True)
    assert response.status_code == 200 and messages_of(response)
    assert AuditEntry.objects.count() == 0


def test_message_pages_filters_and_detail(as_boss, connect, room):
    """Messages are listed newest first, filtered by user and text, and shown with their edits."""
    alice = connect(room, user_id="701", username="alice")
    for text in ("hello there", "second thought"):
        alice.send(json.dumps({"action": "sendmessage", "message": text}))
        last = recv_json(alice)
    alice.send(json.dumps({"action": "editmessage", "id": last["id"], "message": "edited!"}))
    recv_json(alice)
    page = as_boss.get(reverse("admin:live_messages"), {"room": room}).content.decode()
    assert page.index("edited!") < page.index("hello there")
    filtered = as_boss.get(reverse("admin:live_messages"), {"room": room, "q": "hello"})
    assert b"hello there" in filtered.content and b"edited!" not in filtered.content
    detail = as_boss.get(
        reverse("admin:live_message", kwargs={"room": room, "message_id": last["id"]})
    )
    assert b"second thought" in detail.content  # the earlier version is kept


def test_tampered_page_token_is_a_message(as_boss, room):
    """A page token we did not issue shows a message instead of failing."""
    for name in ("admin:live_connections", "admin:live_messages"):
        response = as_boss.get(reverse(name), {"room": room, "page": "eyJub3QiOiJvdXJzIn0"})
        assert response.status_code == 200
        assert any("page link" in m for m in messages_of(response))


def test_pagination_follows_next_links_through_every_item(as_boss, room, monkeypatch):
    """Following "next" links over three or more pages shows every connection exactly once."""
    from datetime import timedelta

    from lambdas.models import utcnow

    monkeypatch.setattr("chat.dashboard.PAGE_SIZE", 2)
    now = utcnow()
    ids = {f"page-{room}-{n}" for n in range(5)}
    for cid in ids:
        Connection(
            cid,
            user_id="1",
            username="alice",
            room=room,
            connected_at=now,
            expires_at=now + timedelta(hours=1),
        ).save()
    seen, pages, url = [], 0, reverse("admin:live_connections") + f"?room={room}"
    while url:
        response = as_boss.get(url)
        pages += 1
        seen += [cid for cid in ids if f'data-connection-id="{cid}"' in response.content.decode()]
        token = response.context["page"].next_token
        url = reverse("admin:live_connections") + f"?room={room}&page={token}" if token else None
    assert sorted(seen) == sorted(ids) and pages >= 3


def test_rooms_create_edit_archive_unarchive(as_boss, connect, room):
    """Archiving closes the room's sockets and refuses later connects; unarchiving reopens."""
    from websockets.exceptions import InvalidStatus

    response = as_boss.post(
        reverse("admin:live_rooms"),
        {"name": f"{room}-new", "title": "New", "description": "d"},
        follow=True,
    )
    assert Room.get(f"{room}-new").title == "New"
    response = as_boss.post(
        reverse("admin:live_room", kwargs={"name": room}),
        {"title": "Renamed", "description": "about"},
        follow=True,
    )
    assert Room.get(room).title == "Renamed"
    client = connect(room, username="carl")
    response = as_boss.post(reverse("admin:live_room_archive", kwargs={"name": room}), follow=True)
    assert f"#{room} archived; 1 connection(s) closed." in messages_of(response)
    with pytest.raises(ConnectionClosed):
        while True:
            client.recv(timeout=DEADLINE)
    with pytest.raises(InvalidStatus) as refused:
        connect(room, username="carl")
    assert refused.value.response.status_code == 410
    as_boss.post(reverse("admin:live_room_unarchive", kwargs={"name": room}))
    connect(room, username="carl")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["create_room", "edit_room", "archive_room", "unarchive_room"]


def test_the_rooms_page_lists_open_or_archived_rooms_a_page_at_a_time(
    as_boss, make_room, monkeypatch
):
    """Staff filter rooms by state and name start; pages follow each other in name order."""
    monkeypatch.setattr("chat.dashboard.PAGE_SIZE", PAGE_SIZE := 3)
    start = f"d{uuid.uuid4().hex[:8]}"
    names = [make_room(f"{start}-{i:02}") for i in range(PAGE_SIZE + 2)]
    Room(names[0]).update(actions=[Room.status.set("archived")])
    url = reverse("admin:live_rooms") + f"?status=open&q={start}"
    response = as_boss.get(url)
    page = response.context["page"]
    assert [r.name for r in page.items] == names[1 : PAGE_SIZE + 1]
    response = as_boss.get(url + f"&page={page.next_token}")
    assert [r.name for r in response.context["page"].items] == names[PAGE_SIZE + 1 :]
    archived = as_boss.get(reverse("admin:live_rooms") + f"?status=archived&q={start}")
    assert [r.name for r in archived.context["page"].items] == [names[0]]
    assert f'<tr data-room="{names[0]}">' in archived.content.decode()
    bad = as_boss.get(reverse("admin:live_rooms") + "?q=No%20Such")
    assert bad.status_code == 200 and any("room names have only" in m for m in messages_of(bad))


def test_rooms_show_the_storage_of_their_files(as_boss, connect, make_room, monkeypatch):
    """The rooms page and a room's page show the bytes and number of the files in its
    messages, read with the rooms (no request more: the page's one BatchGetItem); a deleted
    message's files leave them."""
    from tests.lambdas.test_message_files import uploaded
    from tests.lambdas.test_thumbnails import png

    start = f"s{uuid.uuid4().hex[:8]}"
    room, empty = make_room(f"{start}-files"), make_room(f"{start}-quiet")
    alice = connect(room, user_id="901", username="alice")
    a, b = png(400, 300), png(200, 100)
    ids = [uploaded(data, room=room, user_id="901") for data in (a, b)]
    alice.send(json.dumps({"action": "sendmessage", "files": ids[:1]}))
    first = recv_json(alice, skip=("presence", "unread"))
    alice.send(json.dumps({"action": "sendmessage", "files": ids[1:]}))
    recv_json(alice, skip=("presence", "unread"))
    batches = []
    reading = Room.batch_get
    monkeypatch.setattr(
        Room, "batch_get", lambda *args, **kw: batches.append(kw) or reading(*args, **kw)
    )

    page = as_boss.get(reverse("admin:live_rooms"), {"q": start})

    rooms = {r.name: r for r in page.context["page"].items}
    assert (rooms[room].file_bytes, rooms[room].file_count) == (len(a) + len(b), 2)
    assert (rooms[empty].file_bytes, rooms[empty].file_count) == (0, 0)
    assert len(batches) == 1
    html = page.content.decode()
    row = html[html.index(f'<tr data-room="{room}">') :].split("</tr>")[0]
    assert f'<td class="storage">{filesizeformat(len(a) + len(b))} in 2 files</td>' in row
    quiet = html[html.index(f'<tr data-room="{empty}">') :].split("</tr>")[0]
    assert '<td class="storage">none</td>' in quiet

    alice.send(json.dumps({"action": "deletemessage", "id": first["id"]}))
    assert recv_json(alice, skip=("presence", "unread"))["type"] == "message_deleted"
    detail = as_boss.get(reverse("admin:live_room", kwargs={"name": room})).content.decode()
    assert f"Files in its messages: {filesizeformat(len(b))} in 1 file " in detail


def test_unknown_rooms_are_a_message(as_boss):
    """Editing or archiving a room that does not exist changes nothing and says so."""
    response = as_boss.post(
        reverse("admin:live_room_archive", kwargs={"name": "ghost-town"}), follow=True
    )
    assert any("ghost-town" in m for m in messages_of(response))
    response = as_boss.get(reverse("admin:live_room", kwargs={"name": "ghost-town"}), follow=True)
    assert any("ghost-town" in m for m in messages_of(response))
    assert AuditEntry.objects.count() == 0


def unique_pk() -> int:
    """A user id no other test has: revocations stay in DynamoDB, while the test database
    hands out the same ids again after each rollback."""
    return 10_000 + uuid.uuid4().int % 10**9


def closed_already(gateway, user_id: str) -> bool:
    """Whether the gateway has closed every socket of the user by now: asked of the gateway,
    since a busy machine may take a while to bring the close frame to the tab."""
    return not [
        client
        for client in list(gateway.clients.values())
        if client.caller.authorizer.get("principalId") == user_id
        and client.closed_by_server is None
    ]


def hears_closed(tab) -> bool:
    """Whether the tab hears that its socket was closed."""
    with pytest.raises(ConnectionClosed):
        while True:
            tab.recv(timeout=DEADLINE)
    return True


def test_ban_closes_sockets_and_refuses_tokens(
    as_boss, connect, gateway, room, django_user_model, keys
):
    """Banning deactivates the user and closes every socket before the page answers; a token
    issued before the ban, still unexpired, no longer connects (403), and the token endpoint
    answers 403 account_suspended."""
    from django.test import Client

    victim = django_user_model.objects.create_user("troll", password="pw12345!x", pk=unique_pk())
    tabs = [connect(room, user_id=str(victim.pk), username="troll") for _ in range(2)]
    kept = keys.token(user_id=str(victim.pk), username="troll")  # e.g. copied from a page
    response = as_boss.post(
        reverse("admin:auth_user_changelist"),
        {"action": "ban", "_selected_action": [victim.pk]},
        follow=True,
    )
    assert "troll banned; 2 connection(s) closed." in messages_of(response)
    assert closed_already(gateway, str(victim.pk))
    assert all(hears_closed(tab) for tab in tabs)
    assert handshake_status(connect, room, token=kept) == 403
    victim.refresh_from_db()
    assert not victim.is_active
    token = Client().post(
        "/api/token/",
        {"username": "troll", "password": "pw12345!x"},
        content_type="application/json",
    )
    assert (token.status_code, token.json()["error"]) == (403, "account_suspended")
    assert AuditEntry.objects.get().action == "ban"


@pytest.mark.parametrize("lost", ["is_staff", "is_active"])
def test_losing_staff_or_activity_ends_the_users_chat_sessions(
    connect, room, django_user_model, keys, gateway, django_capture_on_commit_callbacks, lost
):
    """A demotion or a deactivation, however it is saved (here: the model, as the admin's user
    form does), closes the user's sockets and voids their tokens: no staff rights survive on a
    live socket or on a token that still says `staff: true`."""
    moderator = django_user_model.objects.create_user(
        "mod", password="pw", is_staff=True, pk=unique_pk()
    )
    token = keys.token(user_id=str(moderator.pk), username="mod", staff=True)
    tab = connect(room, token=token)
    with django_capture_on_commit_callbacks(execute=True):
        setattr(moderator, lost, False)
        moderator.save()
    assert closed_already(gateway, str(moderator.pk))
    assert hears_closed(tab)
    assert handshake_status(connect, room, token=token) == 403
    fresh = keys.token(user_id=str(moderator.pk), username="mod", staff=False)
    assert connect(room, token=fresh)  # what the site issues from now on still connects


def test_other_changes_leave_the_sessions_alone(
    connect, room, django_user_model, keys, gateway, django_capture_on_commit_callbacks
):
    """Editing a user (a new email, a promotion) keeps their sockets and tokens."""
    member = django_user_model.objects.create_user("kim", password="pw", pk=unique_pk())
    token = keys.token(user_id=str(member.pk), username="kim")
    tab = connect(room, token=token)
    with django_capture_on_commit_callbacks(execute=True):
        member.email, member.is_staff = "kim@example.com", True
        member.save()
    tab.send(json.dumps({"action": "ping"}))
    assert recv_json(tab)["type"] == "pong"
    assert connect(room, token=token)


def test_overview_counts_live_connections(as_boss, connect, room):
    """The overview shows the room's live connections and people from DynamoDB."""
    connect(room, user_id="801", username="dana")
    connect(room, user_id="801", username="dana")
    response = as_boss.get(reverse("admin:live_overview"))
    (stats,) = [r for r in response.context["overview"].rooms if r.name == room]
    assert (stats.connections, stats.users) == (2, 1)
    assert f'data-room="{room}"'.encode() in response.content


def test_a_rooms_page_connection_is_listed_in_no_room(as_boss, connect, room):
    """A `?lobby=1` socket (the rooms page's) is listed as in no room, and the overview, which
    counts connections by room, leaves it out."""
    connect(lobby=True, user_id="504", username="lobbyist")
    (item,) = list(Connection.user_index.query("504"))
    page = as_boss.get(reverse("admin:live_connections"))
    row = page.content.decode().split(item.connection_id, 1)[1].split("</tr>", 1)[0]
    assert "<em>rooms list</em>" in row and "#None" not in row
    overview = as_boss.get(reverse("admin:live_overview")).context["overview"]
    assert None not in {r.name for r in overview.rooms}


# -- conversations are named by their people ----------------------------------------------------


@pytest.fixture
def conversation(dynamodb):
    """A conversation of alice and bob, whose room name (`dm-…`) means nothing to staff."""
    from chat.services.direct import direct_open

    return direct_open(people=[("901", "alice"), ("902", "bob")], opened_by="alice")


def test_a_conversation_is_named_by_its_people_on_every_page(as_boss, connect, conversation):
    """Overview, connections, messages, a message, the rooms list and the room's page (title and
    breadcrumbs included) say "alice, bob", never the `#dm-…` name."""
    name = conversation.name
    alice = connect(name, user_id="901", username="alice")
    alice.send(json.dumps({"action": "sendmessage", "message": "psst"}))
    sent = recv_json(alice)
    while sent.get("type") != "message":
        sent = recv_json(alice)
    pages = {
        "overview": as_boss.get(reverse("admin:live_overview")),
        "connections": as_boss.get(reverse("admin:live_connections"), {"room": name}),
        "messages": as_boss.get(reverse("admin:live_messages"), {"room": name}),
        "message": as_boss.get(
            reverse("admin:live_message", kwargs={"room": name, "message_id": sent["id"]})
        ),
        "rooms": as_boss.get(reverse("admin:live_rooms"), {"status": "private"}),
        "room": as_boss.get(reverse("admin:live_room", kwargs={"name": name})),
    }
    for page, response in pages.items():
        html = response.content.decode()
        assert response.status_code == 200, page
        assert "alice, bob" in html, page
        assert f"#{name}" not in html, page
    assert pages["messages"].context["title"] == "Messages in alice, bob"
    assert pages["message"].context["title"] == "Message in alice, bob"
    assert pages["room"].context["title"] == "alice, bob"
    breadcrumbs = pages["room"].content.decode().split('class="breadcrumbs"', 1)[1]
    assert "alice, bob" in breadcrumbs.split("</div>", 1)[0]


def test_archiving_a_conversation_says_whose_it_was(as_boss, conversation):
    """The moderation messages name the conversation by its people too."""
    name = conversation.name
    response = as_boss.post(reverse("admin:live_room_archive", kwargs={"name": name}), follow=True)
    assert messages_of(response) == ["alice, bob archived; 0 connection(s) closed."]
    response = as_boss.post(
        reverse("admin:live_room_unarchive", kwargs={"name": name}), follow=True
    )
    assert messages_of(response) == ["alice, bob is open again."]


def test_room_labels_reads_conversations_only_and_keeps_unknown_names(conversation, monkeypatch):
    """Rooms named like `general` are labelled without a read; a `dm-` name with no item (or
    a malformed one) keeps its name; the conversations are read in one batch."""
    from chat import dashboard

    calls = []
    real = Room.batch_get
    monkeypatch.setattr(Room, "batch_get", lambda keys: calls.append(list(keys)) or real(keys))
    missing = "dm-" + "0" * 32
    labels = dashboard.room_labels(
        names=["general", conversation.name, missing, None, "dm-" + "x" * 3000]
    )
    assert labels["general"] == "#general"
    assert labels[conversation.name] == "alice, bob"
    assert labels[missing] == f"#{missing}"
    assert labels["dm-" + "x" * 3000].startswith("#dm-")
    assert calls == [sorted([conversation.name, missing])]
    calls.clear()
    dashboard.room_labels(names=["general", "random"])
    assert calls == []
