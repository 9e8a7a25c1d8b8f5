"""Message search (chat/selectors/search.py, `GET /api/search/` in chat/search.py): only rooms
the user may read now, deleted messages never, edited ones by their new text, the operators,
and any query at all answered with results or a JSON error, never a 500 or a private message.

Rooms and memberships live in dynalite for the whole session, so each test makes rooms of its
own; index rows are written with the index's one write, as the indexing function does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from chat.selectors.search import MAX_QUERY_CHARS, message_search, search_query_parse
from chat.services.direct import direct_open
from chat.services.members import member_put, member_remove
from chat.services.rooms import room_create
from lambdas.models import Room
from lambdas.services.search_index import UPSERT, IndexChange, pyformat

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dynamodb")]

SECRET = "zanzibar"  # the word only the private room's message holds


@pytest.fixture(autouse=True)
def _postgres_only(settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("search is PostgreSQL's full-text search")
    settings.SEARCHES_PER_USER_PER_MINUTE = 1000


@pytest.fixture
def users(django_user_model):
    make = django_user_model.objects.create_user
    return {name: make(username=name) for name in ("alice", "bob", "eve")}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_ids = iter(range(1, 10**6))


def index(room: str, text: str, *, user=None, at: datetime | None = None, **fields) -> str:
    """Index a message as the indexing function would; its id."""
    message_id = fields.pop("message_id", None) or f"01JSEARCH{next(_ids):017d}"
    change = IndexChange(
        message_id=message_id,
        room=room,
        user_id=str(user.pk) if user else "u0",
        username=user.get_username() if user else "someone",
        text=text,
        sent_at=at or datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        rev=fields.pop("rev", 1),
        **fields,
    )
    with connection.cursor() as cursor:
        cursor.execute(pyformat(UPSERT), change.parameters(language="english"))
    return message_id


def found(user, query: str) -> list[str]:
    return [r.message_id for r in message_search(user=user, query=query, limit=50).results]


@pytest.fixture
def public_room(make_room) -> str:
    return make_room(unique("pub"))


@pytest.fixture
def private_room(users) -> str:
    """A private room of alice and bob."""
    name = unique("priv")
    room_create(
        name=name,
        title="",
        description="",
        created_by="alice",
        private=True,
        creator_id=str(users["alice"].pk),
    )
    member_put(room=name, user_id=str(users["bob"].pk), username="bob", added_by="alice")
    return name


# -- permissions ------------------------------------------------------------------------------


def test_public_rooms_are_everyones_and_private_ones_their_members_only(
    users, public_room, private_room
):
    word = unique("kumquat").replace("-", "")
    public = index(public_room, f"the {word} report", user=users["alice"])
    private = index(private_room, f"the {word} {SECRET} plan", user=users["alice"])
    assert sorted(found(users["alice"], word)) == sorted([public, private])
    assert sorted(found(users["bob"], word)) == sorted([public, private])
    assert found(users["eve"], word) == [public]
    assert found(users["eve"], f"in:{private_room} {word}") == []


def test_a_removed_member_stops_finding_the_rooms_messages_at_once(users, private_room):
    message = index(private_room, f"{SECRET} budget", user=users["alice"])
    assert found(users["bob"], "budget") == [message]
    member_remove(api=None, room=Room.get(private_room), user_id=str(users["bob"].pk))
    assert found(users["bob"], "budget") == []
    assert found(users["alice"], "budget") == [message]


def test_staff_search_their_own_rooms_only_and_unknown_rooms_are_never_searched(
    django_user_model, users, private_room
):
    staff = django_user_model.objects.create_user(username="sam", is_staff=True)
    message = index(private_room, f"{SECRET} salaries")
    index(unique("nowhere"), "salaries in a room DynamoDB does not hold")
    assert found(users["alice"], "salaries") == [message]
    assert found(staff, "salaries") == []  # they may open the room; search is not moderation


def test_archived_rooms_are_not_searched(users, public_room):
    message = index(public_room, "archived minutes")
    assert found(users["eve"], "minutes") == [message]
    room = Room.get(public_room)
    room.update(actions=[Room.status.set("archived")])
    assert found(users["eve"], "minutes") == []


def test_conversations_are_their_peoples_and_in_at_names_them(users, public_room):
    def person(name):
        return (str(users[name].pk), name)

    with_bob = direct_open(people=[person("alice"), person("bob")], opened_by="alice").name
    with_eve = direct_open(people=[person("alice"), person("eve")], opened_by="alice").name
    to_bob = index(with_bob, "lunch tomorrow?", user=users["alice"])
    to_eve = index(with_eve, "lunch today?", user=users["alice"])
    in_room = index(public_room, "lunch for everyone", user=users["alice"])
    assert sorted(found(users["alice"], "lunch")) == sorted([to_bob, to_eve, in_room])
    assert sorted(found(users["bob"], "lunch")) == sorted([to_bob, in_room])
    assert found(users["alice"], "lunch in:@bob") == [to_bob]
    assert found(users["alice"], "in:@Eve") == [to_eve]
    assert found(users["eve"], "lunch in:@bob") == []
    result = message_search(user=users["bob"], query="lunch in:@alice").results[0]
    assert (result.room_kind, result.room_label) == ("direct", "alice")


def test_deleted_messages_are_never_found_and_edited_ones_by_their_new_text(users, public_room):
    gone = index(public_room, "obsolete forecast", rev=1)
    index(public_room, "", message_id=gone, rev=2, deleted=True)
    edited = index(public_room, "first draft wording", rev=3)
    index(public_room, "final polished wording", message_id=edited, rev=4)
    assert found(users["eve"], "forecast") == []
    assert found(users["eve"], f"in:{public_room}") == [edited]
    assert found(users["eve"], "draft") == []
    assert found(users["eve"], "polished") == [edited]


def test_thread_replies_are_found_with_their_parent(users, public_room):
    parent = index(public_room, "who owns the pager rota?")
    reply = index(public_room, "the pager rota is mine", thread=parent)
    results = message_search(user=users["eve"], query="rota").results
    assert {r.message_id: r.thread for r in results} == {parent: None, reply: parent}


# -- the query language ------------------------------------------------------------------------


def test_results_are_ranked_then_newest_first_with_the_words_marked(users, public_room):
    older = index(public_room, "deploy", at=datetime(2026, 11, 1, tzinfo=UTC))
    newer = index(public_room, "deploy", at=datetime(2026, 11, 2, tzinfo=UTC))
    best = index(
        public_room,
        "deploy deploy <b>the</b> deploy \ue000x\ue001",
        at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    results = message_search(user=users["eve"], query=f"deploying in:{public_room}").results
    assert [r.message_id for r in results] == [best, newer, older]
    assert results[0].snippet[:2] == [("deploy", True), (" ", False)]
    assert (" <b>the</b> ", False) in results[0].snippet  # text, never HTML
    assert {text for text, mark in results[0].snippet if mark} == {"deploy"}


def test_phrases_authors_and_dates(users, public_room):
    alice, bob = users["alice"], users["bob"]
    phrase = index(
        public_room, "the build is red again", user=alice, at=datetime(2026, 11, 5, 9, tzinfo=UTC)
    )
    words = index(
        public_room, "red build, green tests", user=bob, at=datetime(2026, 11, 7, 9, tzinfo=UTC)
    )
    assert sorted(found(alice, f"in:{public_room} build red")) == sorted([phrase, words])
    assert found(alice, f'in:{public_room} "build is red"') == [phrase]
    assert found(alice, f"in:{public_room} build from:bob") == [words]
    assert found(alice, f"in:#{public_room} from:@Alice") == [phrase]
    assert found(alice, f"in:{public_room} build before:2026-11-06") == [phrase]
    assert found(alice, f"in:{public_room} build after:2026-11-05") == [words]
    assert found(alice, f"in:{public_room} after:2026-11-04 before:2026-11-06") == [phrase]
    assert found(alice, f"in:{public_room} -green build") == [phrase]


def test_the_parser_keeps_quoted_operators_and_unknown_ones_as_text():
    parsed = search_query_parse('"in:general" size:large from:bob in: "unbalanced')
    assert parsed.words == '"in:general" size:large in: "unbalanced'
    assert parsed.authors == {"bob"} and parsed.rooms == frozenset()


def test_pages_follow_one_another(users, public_room):
    ids = [
        index(public_room, f"ticket number {n}", at=datetime(2026, 11, n + 1, tzinfo=UTC))
        for n in range(5)
    ]
    first = message_search(user=users["eve"], query=f"ticket in:{public_room}", limit=3)
    second = message_search(
        user=users["eve"], query=f"ticket in:{public_room}", limit=3, cursor=first.next_cursor
    )
    got = [r.message_id for r in first.results + second.results]
    assert got == ids[::-1] and second.next_cursor is None


# -- the API: any input answered ---------------------------------------------------------------


@pytest.fixture
def eve_client(users) -> Client:
    client = Client()
    client.force_login(users["eve"])
    return client


def test_the_api_answers_results_as_json(eve_client, users, public_room):
    message = index(public_room, "quarterly numbers", user=users["alice"])
    response = eve_client.get("/api/search/", {"q": "quarterly"})
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None and body["query"] == "quarterly"
    [result] = [r for r in body["results"] if r["room"] == public_room]
    assert result == {
        "message_id": message,
        "room": public_room,
        "room_label": f"#{public_room}",
        "room_kind": "public",
        "thread": None,
        "user_id": str(users["alice"].pk),
        "username": "alice",
        "sent_at": "2026-12-01T12:00:00.000Z",
        "snippet": [{"text": "quarterly", "mark": True}, {"text": " numbers", "mark": False}],
        "url": f"/rooms/{public_room}/",
    }


def test_the_api_needs_a_login():
    response = Client().get("/api/search/", {"q": "anything"})
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


BAD_INPUT = [
    "",
    "   ",
    "in:general",
    "from:nobody",
    "before:2026-01-01",
    "in: from: before: after:",
    '"unbalanced quote',
    '"',
    '""',
    "'; DROP TABLE chat_searchentry; --",
    "\\x00 % _ %% $1 :name %(name)s",
    "nul\x00byte",
    "\x00" * 600,  # NULs are dropped before the length is counted
    "size:large color:red",
    "!!! ||| && <-> :*",
    "-",
    "the a of",  # only stop words
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🎉 emoji",
    "a" * MAX_QUERY_CHARS,
]


@pytest.mark.parametrize("query", BAD_INPUT)
def test_any_query_gets_results_or_no_results_never_an_error(eve_client, private_room, query):
    index(private_room, f"{SECRET} general plans")
    response = eve_client.get("/api/search/", {"q": query})
    assert response.status_code == 200, response.content
    assert all(r["room"] != private_room for r in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "code", "fields"),
    [
        ("x" * 10_000, "query_too_long", {"limit": MAX_QUERY_CHARS}),
        ("a" * (MAX_QUERY_CHARS + 1), "query_too_long", {"limit": MAX_QUERY_CHARS}),
        ("before:yesterday", "bad_query", {}),
        ("after:2026-13-01", "bad_query", {}),
        ("before:2026-02-30", "bad_query", {}),
        ("after:9999-12-31", "bad_query", {}),
        ("before:２０２６-01-01", "bad_query", {}),  # fullwidth digits: \d would match them
    ],
)
def test_unreadable_queries_get_a_json_error_with_a_code(eve_client, query, code, fields):
    response = eve_client.get("/api/search/", {"q": query})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == code and body["message"]
    assert {key: body[key] for key in fields} == fields


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "cursor": "garbage"},
        {"q": "x", "cursor": "eyJvIjotMX0="},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "²"},
        {"q": "x", "limit": "1e3"},
        {"q": "x", "cursor": "é"},
    ],
)
def test_bad_paging_parameters_get_a_json_error(eve_client, params):
    response = eve_client.get("/api/search/", params)
    assert response.status_code == 400 and response.json()["error"] in (
        "invalid_page_token",
        "invalid_request",
    )


def test_random_queries_never_fail_nor_find_a_private_message(eve_client, private_room):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    index(private_room, f"{SECRET} general plans from alice")
    alphabet = st.sampled_from(
        list("abc \"'-:!|&()<>*\\%$@#\x00\n\t") + ["in:", "from:", "before:", "é", "🎉"]
    )

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(st.lists(alphabet, max_size=40).map("".join) | st.text(max_size=60))
    def check(query: str) -> None:
        response = eve_client.get("/api/search/", {"q": query + f" {SECRET}"})
        assert response.status_code in (200, 400), (query, response.content)
        if response.status_code == 200:
            assert response.json()["results"] == []
        else:
            assert response.json()["error"] in ("bad_query", "query_too_long")

    check()


def test_a_flood_of_searches_is_rate_limited_per_user(settings, users, eve_client):
    settings.SEARCHES_PER_USER_PER_MINUTE = 3
    statuses = [eve_client.get("/api/search/", {"q": "anything"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = eve_client.get("/api/search/", {"q": "anything"})
    assert response.json()["error"] == "rate_limited" and int(response["Retry-After"]) >= 1
    other = Client()
    other.force_login(users["bob"])
    assert other.get("/api/search/", {"q": "anything"}).status_code == 200
