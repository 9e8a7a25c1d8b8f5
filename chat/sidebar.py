"""The chat page's JSON calls: its sidebar's rooms and counts (`/api/unread/`), a room to
switch to in place (`/api/rooms/<room>/`), leaving and muting a public room. Session-authenticated;
every error is JSON with a code."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.errors import (
    ChatError,
    CsrfFailed,
    InvalidRequest,
    MethodNotAllowed,
    NotAuthenticated,
    error_response,
)
from chat.selectors.members import member_positions
from chat.selectors.unread import SidebarEntry, sidebar_list
from chat.services.members import reader_leave, reader_mute
from chat.views import csrf_failure, room_details, room_may_use, sidebar_entry
from lambdas.errors import InvalidRoom, NotAMember, RoomArchived, RoomNotFound
from lambdas.models import Room
from lambdas.services.rooms import room_get


def _entry_json(entry: SidebarEntry) -> dict:
    fields = sidebar_entry(entry)
    return {k: v for k, v in fields.items() if k not in ("room", "name", "current")}


@never_cache
@require_http_methods(["GET"])
def unread_counts(request: HttpRequest) -> JsonResponse:
    """`{"rooms": {room: {"unread", "mentions", "kind", "label", "title", "url", "muted"}}}`:
    every room of the signed-in user's sidebar (joined public rooms, private rooms,
    conversations; none archived) with its counts: one Query and one BatchGetItem. A page
    reads it when it was away (a reconnect, a tab shown again) and every few minutes: rooms of
    more than LIVE_UNREAD_MEMBERS readers send no live `unread` frames but for mentions."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not_authenticated", "message": "log in first"}, status=401)
    entries = sidebar_list(user_id=str(request.user.pk), username=request.user.get_username())
    return JsonResponse({"rooms": {e.room.name: _entry_json(e) for e in entries}})


def _room_for_api(request: HttpRequest, room: str) -> Room:
    """The room a JSON call names, if the signed-in user may use it (ChatErrors otherwise)."""
    if not request.user.is_authenticated:
        raise NotAuthenticated("log in first")
    try:
        found = room_get(name=room, create_default=False)
    except InvalidRoom:
        raise RoomNotFound(f"there is no room #{room}") from None
    if found.archived:
        raise RoomArchived(f"#{found.name} is archived")
    if not room_may_use(request.user, found):
        raise NotAMember(f"#{found.name} is private: only its members may open it")
    return found


@never_cache
@require_http_methods(["GET"])
def room_api(request: HttpRequest, room: str) -> JsonResponse:
    """What the one-page app needs to switch to a room without a reload; errors as JSON
    (401 not_authenticated, 404 room_not_found, 410 room_archived, 403 not_a_member)."""
    try:
        found = _room_for_api(request, room)
    except ChatError as error:
        return error_response(error)
    details = room_details(request.user, found, member_positions(user_id=str(request.user.pk)))
    return JsonResponse(
        {
            "room": found.name,
            "title": found.title,
            "label": details["label"],
            "description": found.description,
            "kind": "direct" if found.direct else ("private" if found.private else "public"),
            "private": bool(found.private),
            "direct": bool(found.direct),
            "others": details["others"],
            "last_read": details["last_read"],
            "member_names": details["member_names"],
            "members_url": (
                reverse("room_members", kwargs={"room": found.name}) if found.private else None
            ),
            "created_by": found.created_by,
            "url": reverse("room", kwargs={"room": found.name}),
        }
    )


MAX_API_BODY_BYTES = 1024


def _room_post(request: HttpRequest, room: str) -> Room:
    """The room of a POST from the page: session auth and CSRF (header X-CSRFToken) checked,
    as JSON errors."""
    if request.method != "POST":
        raise MethodNotAllowed("use POST")
    found = _room_for_api(request, room)
    reason = csrf_failure(request)
    if reason:
        raise CsrfFailed(f"CSRF check failed: {reason}")
    return found


def _sidebar_entry_of(request: HttpRequest, room: Room) -> dict:
    username = request.user.get_username()
    for entry in sidebar_list(user_id=str(request.user.pk), username=username, current=room):
        if entry.room.name == room.name:
            return {"room": room.name, **_entry_json(entry), "joined": entry.joined}
    return {"room": room.name}


@csrf_exempt  # checked in _room_post, to answer JSON
@never_cache
def room_leave_api(request: HttpRequest, room: str) -> JsonResponse:
    """`POST /api/rooms/<room>/leave/`: stop reading a public room (it leaves the sidebar);
    400 not_joined for a private room or one not joined. The room's entry as it is now."""
    try:
        found = _room_post(request, room)
        reader_leave(room=found, user_id=str(request.user.pk))
    except ChatError as error:
        return _method_allowed(error_response(error), error)
    return JsonResponse(_sidebar_entry_of(request, found))


@csrf_exempt  # checked in _room_post, to answer JSON
@never_cache
def room_mute_api(request: HttpRequest, room: str) -> JsonResponse:
    """`POST /api/rooms/<room>/mute/` with `{"muted": true|false}`: counted, shown dimmed,
    never notified but for mentions. The room's entry as it is now."""
    try:
        found = _room_post(request, room)
        reader_mute(room=found, user_id=str(request.user.pk), muted=_muted_parse(request))
    except ChatError as error:
        return _method_allowed(error_response(error), error)
    return JsonResponse(_sidebar_entry_of(request, found))


def _method_allowed(response: JsonResponse, error: ChatError) -> JsonResponse:
    if isinstance(error, MethodNotAllowed):
        response["Allow"] = "POST"
    return response


def _muted_parse(request: HttpRequest) -> bool:
    if len(request.body) > MAX_API_BODY_BYTES:
        raise InvalidRequest(f"the body is larger than {MAX_API_BODY_BYTES} bytes")
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("muted"), bool):
        raise InvalidRequest('send {"muted": true} or {"muted": false}')
    return data["muted"]
