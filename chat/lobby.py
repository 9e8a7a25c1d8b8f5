"""The rooms page's live figures: how many people are online in the rooms it lists."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from chat.errors import ChatError, InvalidRequest, MethodNotAllowed, NotAuthenticated
from lambdas.models import Member, Room, utcnow
from lambdas.services.rooms import ROOM_RE

# A page lists at most 50 open rooms, plus its private rooms and conversations (200 at most):
# one BatchGetItem reads 100 keys, so 100 names is one request and the page asks in pages.
MAX_ROOMS = 100


def rooms_check(raw: str) -> list[str]:
    """The names of `?rooms=a,b,c`, each once and in order, or InvalidRequest."""
    names = list(dict.fromkeys(name for name in raw.split(",") if name))
    if not names:
        raise InvalidRequest("name the rooms: ?rooms=a,b,c")
    if len(names) > MAX_ROOMS:
        raise InvalidRequest(f"at most {MAX_ROOMS} rooms at a time")
    bad = next((name for name in names if not ROOM_RE.fullmatch(name)), None)
    if bad is not None:
        raise InvalidRequest(f"{bad[:70]!r} is not a room name")
    return names


def room_online_counts(
    *, names: list[str], user_id: str, now: datetime | None = None
) -> dict[str, int]:
    """How many people are online in each of these rooms, as the rooms' presence lists last
    counted them: one BatchGetItem of the room items (their count and its expiry). A private
    room or conversation is answered only to its members (one more BatchGetItem, only when the
    names include one); an unknown or archived room is left out."""
    now = now or utcnow()
    rooms = list(
        Room.batch_get(
            names,
            attributes_to_get=["name", "online", "online_until", "private", "status", "archived"],
        )
    )
    private = [room.name for room in rooms if room.private]
    allowed = (
        {m.room for m in Member.batch_get([(name, user_id) for name in private]) if not m.joined}
        if private
        else set()
    )
    return {
        room.name: room.online_now(now)
        for room in rooms
        if not room.archived and (not room.private or room.name in allowed)
    }


@never_cache
def rooms_online(request: HttpRequest) -> JsonResponse:
    """`GET /api/online/?rooms=a,b,c` → `{"rooms": {"a": 3, "b": 0}}`; errors are
    `{"error": code, "message": …}` with their status."""
    try:
        if request.method != "GET":
            raise MethodNotAllowed("GET only")
        if not request.user.is_authenticated:
            raise NotAuthenticated("log in first")
        names = rooms_check(request.GET.get("rooms", ""))
        counts = room_online_counts(names=names, user_id=str(request.user.pk))
    except ChatError as error:
        return JsonResponse({"error": error.code, "message": error.message}, status=error.status)
    return JsonResponse({"rooms": counts})
