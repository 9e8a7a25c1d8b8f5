"""Views: the rooms list, a room's chat page, sign-up, and the WebSocket token endpoint (the
page's JSON calls are in chat/sidebar.py)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat.accounts import SUSPENDED_MESSAGE, account_suspended, session_suspended
from chat.errors import (
    AccountSuspended,
    ChatError,
    CsrfFailed,
    InvalidCredentials,
    InvalidRequest,
    MethodNotAllowed,
    NotAuthenticated,
    error_response,
)
from chat.forms import RoomCreateForm, SignUpForm
from chat.moderation import chat_user
from chat.selectors.members import member_positions, reader_names
from chat.selectors.rooms import room_list_private, room_page
from chat.selectors.unread import SidebarEntry, reader_counts, sidebar_list
from chat.services.limits import ip_group, quota_take
from chat.services.rooms import room_create
from chat.sessions import browser_session_id
from chat.throttle import client_ip, login_throttle_check, login_throttle_failed
from chat.tokens import expiry_format, token_issue
from lambdas.config import get_config
from lambdas.errors import (
    InvalidRoom,
    NotAMember,
    RateLimited,
    RoomExists,
    RoomNotFound,
)
from lambdas.models import Member, Room
from lambdas.services.members import member_check
from lambdas.services.rooms import DEFAULT_ROOM, room_get
from lambdas.services.unread import room_label

MAX_TOKEN_REQUEST_BYTES = 8 * 1024
ROOMS_PAGE_SIZE = 50
FORM_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def home(request: HttpRequest) -> HttpResponse:
    return redirect("room", room=DEFAULT_ROOM)


def _badges(member: Member | None, room: Room) -> dict[str, int]:
    """A membership's unread and mention counts, for a list's badges (derived from the room's
    item: lambdas/services/unread.py)."""
    if member is None:
        return {"unread": 0, "mentions": 0}
    counts = reader_counts(member=member, room=room)
    return {"unread": counts.unread, "mentions": counts.mentions}


def _memberships(positions: dict[str, Member]) -> list[str]:
    """The private rooms among a user's items (joins of public rooms left out)."""
    return [name for name, member in positions.items() if not member.joined]


def room_may_use(user: AbstractBaseUser, room: Room) -> bool:
    """Public rooms are everyone's; a private one its members' and staff's."""
    if not room.private:
        return True
    try:
        member_check(room=room.name, user=chat_user(user))
    except NotAMember:
        return False
    return True


def room_create_allowed(user: AbstractBaseUser) -> bool:
    """Staff may always create rooms; everyone else when ROOMS_USER_CREATE is on."""
    return bool(user.is_staff or settings.ROOMS_USER_CREATE)


@login_required
@require_http_methods(["GET", "POST"])
def rooms(request: HttpRequest) -> HttpResponse:
    """Open rooms a page at a time (`?q=` finds names by their start), with how many people
    are in each, and the form that creates one."""
    may_create = room_create_allowed(request.user)
    form = None
    if request.method == "POST":
        if not may_create:
            raise PermissionDenied("creating rooms is for staff here")
        form = RoomCreateForm(request.POST)
        if form.is_valid():
            try:
                if not request.user.is_staff:  # each room costs every visitor of /rooms/
                    quota_take(
                        key=f"rooms#{request.user.pk}",
                        allowed=settings.ROOMS_PER_USER_PER_DAY,
                        window=86400,
                        what="new rooms",
                    )
                created = room_create(
                    **form.cleaned_data,
                    created_by=request.user.get_username(),
                    creator_id=str(request.user.pk),
                )
            except (InvalidRoom, RoomExists) as exc:
                form.add_error("name", exc.message)
            except ChatError as exc:  # InvalidRequest: a title or description too long
                form.add_error(None, exc.message)
            else:
                return redirect("room", room=created.name)
    elif may_create:
        form = RoomCreateForm()
    query = request.GET.get("q", "").strip().lower()
    error, status = None, 200
    try:
        page = room_page(prefix=query, token=request.GET.get("page"), limit=ROOMS_PAGE_SIZE)
    except ChatError as exc:  # a malformed search or page link: say so, show the first page
        error, status = exc.message, 400
        page = room_page(limit=ROOMS_PAGE_SIZE)
        query = ""
    positions = member_positions(user_id=str(request.user.pk))
    private = room_list_private(user_id=str(request.user.pk), names=_memberships(positions))
    context = {
        "rooms": [{"room": r, "online": r.online or 0} for r in page.items],
        "private_rooms": [
            {"room": r, "online": r.online or 0, **_badges(positions.get(r.name), r)}
            for r in private
            if not r.direct and r.name.startswith(query)
        ],
        "direct_rooms": [
            {
                "room": r,
                "others": r.others(request.user.get_username()),
                "online": r.online or 0,
                **_badges(positions.get(r.name), r),
            }
            for r in private
            if r.direct
        ],
        "next_token": page.next_token,
        "query": query,
        "error": error,
        "form": form,
        "client_timings": settings.CHAT_CLIENT_TIMINGS,
    }
    return render(request, "chat/rooms.html", context, status=status)


@login_required
def room(request: HttpRequest, room: str) -> HttpResponse:
    """A room's chat page; an unknown room is a 404 page and an archived one a 410 page.

    The browser cannot read the status of a refused WebSocket handshake, so the page says it.
    """
    try:
        found = room_get(name=room)
    except (InvalidRoom, RoomNotFound):
        return render(request, "chat/room_missing.html", {"name": room}, status=404)
    if found.archived:
        # 410 Gone: the room existed and is closed for good, as `$connect` answers it.
        return render(request, "chat/room_archived.html", {"room": found}, status=410)
    if not room_may_use(request.user, found):
        # 403, as `$connect` answers it (not_a_member): the page says why.
        return render(request, "chat/room_private.html", {"room": found}, status=403)
    positions = member_positions(user_id=str(request.user.pk))
    context = {
        **room_details(request.user, found, positions),
        "sidebar": [
            sidebar_entry(entry, current=found.name)
            for entry in sidebar_list(
                user_id=str(request.user.pk),
                username=request.user.get_username(),
                current=found,
                positions=positions,  # read once for the details and the sidebar
            )
        ],
        "max_message_chars": get_config().max_message_chars,
        "client_timings": settings.CHAT_CLIENT_TIMINGS,
    }
    return render(request, "chat/room.html", context)


def room_details(user: AbstractBaseUser, found: Room, positions: dict[str, Member]) -> dict:
    """What the chat page shows of a room, for its template and for `/api/rooms/<room>/`."""
    others = found.others(user.get_username()) if found.direct else []
    position = positions.get(found.name)
    return {
        "room": found,
        # Whom the composer suggests after "@": a private room's members, a public room's
        # readers (the first MAX_NAMES, keys only).
        "member_names": reader_names(room=found),
        # A reader who never read has read nothing ("0" sorts before every message id); ""
        # for a room they have not joined yet (its page joins it).
        "last_read": (position.last_read or "0") if position else "",
        "others": others,
        "label": room_label(found, user.get_username()),
    }


def sidebar_entry(entry: SidebarEntry, *, current: str | None = None) -> dict:
    """A sidebar room as the page's template and `/api/unread/` describe it."""
    return {
        "room": entry.room,
        "name": entry.room.name,
        "kind": entry.kind,
        "label": entry.label,
        "title": entry.room.title,
        "url": reverse("room", kwargs={"room": entry.room.name}),
        "unread": entry.counts.unread,
        "mentions": entry.counts.mentions,
        "muted": entry.muted,
        "current": entry.room.name == current,
    }


def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        caller = ip_group(client_ip(request))
        try:
            if caller:
                quota_take(
                    key=f"signup#{caller}",
                    allowed=settings.SIGNUPS_PER_IP_PER_HOUR,
                    window=3600,
                    what="sign-ups from one address",
                )
        except RateLimited as exc:
            form.add_error(None, exc.message)
        else:
            login(request, form.save())
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})


# The credentials path carries no ambient authority (a forged request learns nothing it did not
# already send), so the view is exempt; the session path enforces CSRF itself, as DRF does.
@csrf_exempt
@never_cache
def token_create(request: HttpRequest) -> JsonResponse:
    try:
        if request.method != "POST":
            raise MethodNotAllowed("use POST")
        user = _token_user(request)
    except ChatError as exc:
        response = error_response(exc)
        if isinstance(exc, MethodNotAllowed):
            response["Allow"] = "POST"
        return response
    issued = token_issue(user=user, session_id=browser_session_id(request=request, user=user))
    return JsonResponse(
        {
            "token": issued.token,
            "expires_at": expiry_format(issued.expires_at),
            "websocket_url": settings.WEBSOCKET_URL,
        }
    )


def _token_user(request: HttpRequest) -> AbstractBaseUser:
    """The user a token request speaks for: from JSON credentials if sent, else the session."""
    body = _body_read(request)
    if _body_given(request, body):
        username, password = _credentials_parse(body)
        login_throttle_check(request=request, username=username)  # RateLimited: 429
        user = authenticate(request, username=username, password=password)
        if user is None:  # also for inactive users: ModelBackend refuses them
            login_throttle_failed(request=request, username=username)
            # Whatever the password was: the answer must not reveal whether it was right.
            if account_suspended(username=username):
                raise AccountSuspended(SUSPENDED_MESSAGE)
            raise InvalidCredentials("wrong username or password")
        return user
    if not request.user.is_authenticated:
        # A deactivated user's session reads as anonymous; the page must say why it ended.
        if session_suspended(request=request):
            raise AccountSuspended(SUSPENDED_MESSAGE)
        raise NotAuthenticated("log in, or send a JSON body with username and password")
    reason = csrf_failure(request)
    if reason:
        raise CsrfFailed(f"CSRF check failed: {reason}")
    return request.user


def _body_read(request: HttpRequest) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # Django reads such a body as empty too
    if declared > MAX_TOKEN_REQUEST_BYTES:
        raise InvalidRequest(f"the body is larger than {MAX_TOKEN_REQUEST_BYTES} bytes")
    return request.body


def _body_given(request: HttpRequest, body: bytes) -> bool:
    if request.content_type in FORM_CONTENT_TYPES:
        # An empty form (what Django's test client and some HTTP tools send by default) or one
        # holding only the CSRF token asks for the session path; real fields are a client error.
        try:
            fields = set(request.POST) - {"csrfmiddlewaretoken"}
        except (MultiPartParserError, SuspiciousOperation):
            raise InvalidRequest("the form body cannot be parsed") from None
        if fields:
            raise InvalidRequest("send username and password as a JSON object")
        return False
    return bool(body.strip())


def _credentials_parse(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # ValueError covers bad UTF-8 and huge integers
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidRequest("`username` and `password` are required strings")
    if "\x00" in username or "\x00" in password:
        # PostgreSQL rejects NUL in text with an exception: refuse it here rather than with a 500.
        raise InvalidRequest("`username` and `password` must not contain NUL characters")
    return username, password


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason  # the reason instead of Django's HTML 403 page


def csrf_failure(request: HttpRequest) -> str | None:
    """Why the request fails Django's CSRF check (origin and token), or None if it passes."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)  # reads the CSRF cookie into request.META
    return check.process_view(request, None, (), {})
