"""Message search: a query parsed, the rooms its user may read now, and the index's best matches.

The index (chat.SearchEntry, written by lambdas.services.search_index) knows nothing of
permissions: every search reads them again from DynamoDB, as the chat page does (public rooms,
the private rooms and conversations the user is a member of; none archived), so a member
removed from a room stops finding its messages with their next search.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from chat.errors import BadQuery, QueryTooLong
from chat.selectors.members import member_rooms
from chat.selectors.rooms import room_list_private
from lambdas.errors import InvalidPageToken
from lambdas.models import OPEN, Room
from lambdas.services.search_index import TABLE
from lambdas.services.unread import room_label

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

MAX_QUERY_CHARS = 500
MAX_LIMIT = 50
MAX_OFFSET = 1000  # ten pages of the best matches: past that, a narrower query serves better
RANK_WINDOW = MAX_OFFSET + MAX_LIMIT + 1  # every page a cursor can reach
# ts_headline's marks: private-use characters, taken out of the text first, so that whatever a
# message holds, only the words the query matched come back marked. Its parser also drops what
# looks like an HTML tag ("use <div> here" would lose "<div>"), so angle brackets go in as two
# more private-use characters and come back in _segments.
MARK_START, MARK_STOP = "\ue000", "\ue001"
ANGLES = str.maketrans("\ue002\ue003", "<>")
HEADLINE_IN = ("\ue000\ue001<>", "  \ue002\ue003")  # translate(text, from, to)
OPERATORS = ("in", "from", "before", "after")
# A quoted phrase (its closing quote optional: an unbalanced one runs to the end), or a word.
TOKEN_RE = re.compile(r'"[^"]*"?|[^\s"]+')
OPERATOR_RE = re.compile(r"(?i)^(in|from|before|after):(.*)$")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII: \d takes any digit


@dataclass(frozen=True)
class SearchQuery:
    """What a search asks: words and phrases (websearch_to_tsquery's syntax), and operators."""

    words: str = ""
    rooms: frozenset[str] = frozenset()  # in:room
    people: frozenset[str] = frozenset()  # in:@user, conversations with them
    authors: frozenset[str] = frozenset()  # from:user
    before: datetime | None = None  # sent before this instant
    after: datetime | None = None  # sent at or after this instant


@dataclass(frozen=True)
class SearchResult:
    """One message found: where it is, who wrote it when, and its snippet as (text, matched)
    segments, so that a page shows the marks without ever reading HTML."""

    message_id: str
    room: str
    room_label: str
    room_kind: str  # public, private or direct
    thread: str | None  # a reply's parent message id
    user_id: str
    username: str
    sent_at: datetime
    snippet: list[tuple[str, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchPage:
    results: list[SearchResult]
    next_cursor: str | None


def search_query_parse(text: str) -> SearchQuery:
    """Read a search: free words and "quoted phrases", `in:room`, `in:@user`, `from:user`,
    `before:YYYY-MM-DD`, `after:YYYY-MM-DD` (UTC days; after a day is from the next one).
    NUL characters are dropped (PostgreSQL refuses them); an operator this does not know, or
    one inside quotes, is text. QueryTooLong past MAX_QUERY_CHARS, BadQuery for a bad date."""
    text = text.replace("\x00", "")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryTooLong(
            f"a search has at most {MAX_QUERY_CHARS} characters", limit=MAX_QUERY_CHARS
        )
    words: list[str] = []
    found: dict[str, set[str]] = {"in": set(), "people": set(), "from": set()}
    bounds: dict[str, datetime] = {}
    for token in TOKEN_RE.findall(text):
        match = OPERATOR_RE.match(token)
        if match is None or not match.group(2):
            words.append(token)  # a bare "in:" is a word too: nothing to filter by
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name == "in" and value.startswith("@"):
            found["people"].add(value[1:].lower())
        elif name == "in":
            found["in"].add(value.removeprefix("#").lower())
        elif name == "from":
            found["from"].add(value.removeprefix("@").lower())
        else:
            day = _day(name, value)
            if name == "after":
                day += timedelta(days=1)
            at = datetime.combine(day, time(), UTC)
            # Two of the same bound: the narrower one holds.
            held = bounds.get(name)
            bounds[name] = at if held is None else (min if name == "before" else max)(held, at)
    return SearchQuery(
        words=" ".join(words),
        rooms=frozenset(found["in"]),
        people=frozenset(found["people"]),
        authors=frozenset(found["from"]),
        before=bounds.get("before"),
        after=bounds.get("after"),
    )


def _day(name: str, value: str) -> date:
    try:
        if not DATE_RE.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
        if day.year >= 9999:  # the day after must exist
            raise ValueError
    except ValueError:
        raise BadQuery(f"{name}: takes a date as YYYY-MM-DD, such as 2026-12-01") from None
    return day


def search_rooms(*, user: AbstractBaseUser) -> dict[str, Room]:
    """The rooms a user may read now, by name: every open public room (the by-status index,
    a page at a time) and the private rooms and conversations they are a member of (their
    memberships and one BatchGetItem; archived ones left out). Staff see private rooms they
    may open but are not in only by opening them: search is not a moderation tool."""
    rooms = {room.name: room for room in Room.status_index.query(OPEN)}
    for room in room_list_private(user_id=str(user.pk), names=member_rooms(user_id=str(user.pk))):
        rooms[room.name] = room
    return rooms


def _kind(room: Room) -> str:
    return "direct" if room.direct else ("private" if room.private else "public")


def _cursor_read(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))["o"]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise InvalidPageToken("that page link does not belong to this search") from None
    if not isinstance(offset, int) or not 0 < offset <= MAX_OFFSET:
        raise InvalidPageToken("that page link does not belong to this search")
    return offset


def _cursor_make(offset: int) -> str | None:
    if offset > MAX_OFFSET:
        return None
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode("ascii")


def _segments(headline: str) -> list[tuple[str, bool]]:
    """ts_headline's text with its marks as (text, matched) segments."""
    segments: list[tuple[str, bool]] = []
    headline = headline.translate(ANGLES)
    for part in re.split(f"({MARK_START}[^{MARK_STOP}]*{MARK_STOP})", headline):
        if part.startswith(MARK_START):
            segments.append((part[1:-1], True))
        elif part:
            segments.append((part, False))
    return segments


# Ranked by ts_rank_cd, then newest first, among the newest RANK_WINDOW matches: a word in one
# message of five would otherwise have every match read and ranked (206,207 rows and 900 ms of a
# 1,000,000-message index, bench/RESULTS.md), while the newest thousand are found by reading
# the sent_at index backwards or, for a rarer word, by the GIN index and a top-N sort. The
# headline is made for the page's rows only. The match is written out, not taken from `q`, so
# that the planner sees the query's words and estimates from their statistics which way is
# cheaper. Every value is a parameter: nothing a user types is ever part of the statement.
SEARCH_SQL = f"""
WITH q AS (SELECT websearch_to_tsquery(CAST(%(language)s AS regconfig), %(words)s) AS query),
recent AS (
    SELECT entry.message_id, entry.room, entry.thread, entry.user_id, entry.username,
           entry.sent_at, entry.text, entry.document
    FROM {TABLE} AS entry
    WHERE NOT entry.deleted
      AND entry.room = ANY(%(rooms)s)
      AND (NOT %(has_words)s
           OR entry.document @@ websearch_to_tsquery(CAST(%(language)s AS regconfig), %(words)s))
      AND (%(any_author)s OR lower(entry.username) = ANY(%(authors)s))
      AND (CAST(%(before)s AS timestamptz) IS NULL OR entry.sent_at < %(before)s)
      AND (CAST(%(after)s AS timestamptz) IS NULL OR entry.sent_at >= %(after)s)
    ORDER BY entry.sent_at DESC
    LIMIT %(window)s
),
found AS (
    SELECT recent.*,
           CASE WHEN %(has_words)s THEN ts_rank_cd(recent.document, q.query) ELSE 0 END AS rank
    FROM recent, q
    ORDER BY rank DESC, recent.sent_at DESC, recent.message_id DESC
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT found.message_id, found.room, found.thread, found.user_id, found.username,
       found.sent_at,
       CASE WHEN %(has_words)s THEN
           ts_headline(CAST(%(language)s AS regconfig),
                       translate(found.text, %(from)s, %(to)s), q.query,
                       CASE WHEN length(found.text) <= %(whole)s THEN %(short)s
                       ELSE %(options)s END)
       ELSE left(found.text, %(whole)s) END
FROM found, q
ORDER BY found.rank DESC, found.sent_at DESC, found.message_id DESC
"""
# A message up to WHOLE_CHARS is shown whole, every match marked; a longer one as up to two
# fragments around its best matches.
WHOLE_CHARS = 280
HEADLINE_WHOLE = f"StartSel={MARK_START}, StopSel={MARK_STOP}, HighlightAll=true"
HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def search_statement(
    *, parsed: SearchQuery, rooms: set[str], language: str, limit: int, offset: int = 0
) -> tuple[str, dict[str, object]]:
    """The index's query for `parsed` over `rooms` (those the user may read, already narrowed
    by `in:`), and its parameters: the statement the site runs, and `make bench` times."""
    return SEARCH_SQL, {
        "language": language,
        "words": parsed.words,
        "has_words": bool(parsed.words.strip()),
        "rooms": sorted(rooms),
        "any_author": not parsed.authors,
        "authors": sorted(parsed.authors),
        "before": parsed.before,
        "after": parsed.after,
        "limit": limit,
        "offset": offset,
        "window": RANK_WINDOW,
        "from": HEADLINE_IN[0],
        "to": HEADLINE_IN[1],
        "options": HEADLINE_OPTIONS,
        "short": HEADLINE_WHOLE,
        "whole": WHOLE_CHARS,
    }


def message_search(
    *, user: AbstractBaseUser, query: str, limit: int = 20, cursor: str | None = None
) -> SearchPage:
    """The messages matching `query` in the rooms `user` may read now, best first (ts_rank_cd,
    then newest), `limit` a page; deleted messages never, edited ones by their text now,
    thread replies included. `cursor` is the previous page's `next_cursor`."""
    # Django only here: chat.selectors import without it (tests/lambdas/test_no_django.py).
    from django.conf import settings
    from django.db import connection

    parsed = search_query_parse(query)
    offset = _cursor_read(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    if parsed == SearchQuery(words=parsed.words) and not parsed.words.strip():
        return SearchPage(results=[], next_cursor=None)  # nothing asked, nothing found
    readable = search_rooms(user=user)
    names = set(readable)
    if parsed.rooms or parsed.people:
        names = {name for name in names if name in parsed.rooms} | {
            name
            for name, room in readable.items()
            if room.direct and parsed.people & {p.lower() for p in room.people or []}
        }
    if not names:
        return SearchPage(results=[], next_cursor=None)
    statement, parameters = search_statement(
        parsed=parsed,
        rooms=names,
        language=settings.SEARCH_LANGUAGE,
        limit=limit + 1,  # one more says whether there is a next page
        offset=offset,
    )
    with connection.cursor() as db:
        db.execute(statement, parameters)
        rows = db.fetchall()
    username = user.get_username()
    results = [
        SearchResult(
            message_id=message_id,
            room=room,
            room_label=room_label(readable[room], username),
            room_kind=_kind(readable[room]),
            thread=thread,
            user_id=user_id,
            username=author,
            sent_at=sent_at,
            snippet=_segments(headline or ""),
        )
        for message_id, room, thread, user_id, author, sent_at, headline in rows[:limit]
    ]
    more = len(rows) > limit
    return SearchPage(results=results, next_cursor=_cursor_make(offset + limit) if more else None)
