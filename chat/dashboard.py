"""The "Live chat" pages inside Django admin: plain views over DynamoDB, in the admin's layout."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from chat import moderation
from chat.models import AuditEntry, PendingRevocation
from chat.revocations import RETRY_EVERY
from chat.selectors import moderation as selectors
from chat.selectors.rooms import room_page
from lambdas.errors import ChatError
from lambdas.models import ARCHIVED, OPEN, PRIVATE, Room
from lambdas.services.rooms import DIRECT_PREFIX, ROOM_RE, room_get

PAGE_SIZE = 25
# A GET to an action changes nothing: it is refused (405) before the view runs.
post_only = method_decorator(require_POST)


def room_label(room: Room) -> str:
    """How the dashboard names a room: `#general`, or a conversation by all its people."""
    return ", ".join(room.people) if room.direct and room.people else f"#{room.name}"


def room_labels(*, names: Iterable[str | None]) -> dict[str, str]:
    """`room_label` for rooms known by name only (connections, statistics, messages): the
    conversations among them (names starting with `dm-`, which no other room may take) read
    with one BatchGetItem; a conversation that is gone keeps its name."""
    wanted = {name for name in names if name}
    # Only well-formed names: a typed `?room=` of 3,000 characters is no key to send DynamoDB.
    direct = sorted(n for n in wanted if n.startswith(DIRECT_PREFIX) and ROOM_RE.fullmatch(n))
    found = {room.name: room_label(room) for room in Room.batch_get(direct)} if direct else {}
    return {name: found.get(name, f"#{name}") for name in wanted}


class LiveChatDashboard:
    """Registers its views on an AdminSite; every view goes through `site.admin_view`."""

    VIEW = "chat.view_dashboard"  # every page: live connections, messages, who said what

    def __init__(self, site: AdminSite) -> None:
        self.site = site

    @property
    def urls(self) -> list:
        def view(page: Callable) -> Callable:
            def viewing(request: HttpRequest, *args, **kwargs) -> HttpResponse:
                if not request.user.has_perm(self.VIEW):
                    raise PermissionDenied("you need the view_dashboard permission")
                return page(request, *args, **kwargs)

            return self.site.admin_view(viewing)

        return [
            path("live/", view(self.overview), name="live_overview"),
            path("live/connections/", view(self.connections), name="live_connections"),
            path("live/connections/disconnect/", view(self.disconnect), name="live_disconnect"),
            path("live/messages/", view(self.messages), name="live_messages"),
            path(
                "live/messages/<str:room>/<str:message_id>/",
                view(self.message),
                name="live_message",
            ),
            path(
                "live/messages/<str:room>/<str:message_id>/delete/",
                view(self.delete_message),
                name="live_message_delete",
            ),
            path("live/rooms/", view(self.rooms), name="live_rooms"),
            path("live/rooms/<str:name>/", view(self.room), name="live_room"),
            path("live/rooms/<str:name>/archive/", view(self.archive), name="live_room_archive"),
            path(
                "live/rooms/<str:name>/unarchive/", view(self.unarchive), name="live_room_unarchive"
            ),
            path("live/audit/", view(self.audit), name="live_audit"),
        ]

    def app_entry(self, request: HttpRequest) -> dict:
        """The "Live chat" section of the admin index and sidebar."""
        pages = [
            ("Overview", "live_overview"),
            ("Connections", "live_connections"),
            ("Messages", "live_messages"),
            ("Rooms", "live_rooms"),
            ("Audit log", "live_audit"),
        ]
        return {
            "name": "Live chat",
            "app_label": "live",
            "app_url": reverse("admin:live_overview"),
            "has_module_perms": True,
            "models": [
                {
                    "name": name,
                    "object_name": name.replace(" ", ""),
                    "perms": {"view": True},
                    "admin_url": reverse(f"admin:{url}"),
                    "add_url": None,
                    "view_only": True,
                }
                for name, url in pages
            ],
        }

    def _render(self, request: HttpRequest, template: str, title: str, **context) -> HttpResponse:
        return render(
            request,
            f"admin/live/{template}",
            {**self.site.each_context(request), "title": title, **context},
        )

    @staticmethod
    def _require(request: HttpRequest, permission: str) -> None:
        if not request.user.has_perm(f"chat.{permission}"):
            raise PermissionDenied(f"you need the {permission} permission")

    @staticmethod
    def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
        # Only our own pages: a crafted "next" must not send staff elsewhere.
        target = request.POST.get("next", "")
        return redirect(target if target.startswith("/admin/live/") else fallback)

    @staticmethod
    def _user_id(username: str) -> str | None:
        user = get_user_model().objects.filter(username=username).first()
        return str(user.pk) if user else None

    # -- pages -----------------------------------------------------------------------------

    def overview(self, request: HttpRequest) -> HttpResponse:
        pending = PendingRevocation.objects.count()
        if pending:
            # Each of them was told once, to whoever made the change; until it holds, say so.
            messages.warning(
                request,
                f"{pending} user(s) lost access but their chat sessions are not ended yet "
                f"(retried {RETRY_EVERY}): see Chat › Pending revocations.",
            )
        overview = selectors.stats_overview()
        peak = max([r.messages_day for r in overview.rooms] + [1])
        labels = room_labels(names=[r.name for r in overview.rooms])
        rows = [(room, labels[room.name]) for room in overview.rooms]
        bars = [
            (room, labels[room.name], round(100 * room.messages_day / peak))
            for room in overview.rooms
        ]
        return self._render(
            request, "overview.html", "Live chat", overview=overview, rows=rows, bars=bars
        )

    def connections(self, request: HttpRequest) -> HttpResponse:
        room, username = request.GET.get("room", "").strip(), request.GET.get("user", "").strip()
        page, activity = None, {}
        try:
            user_id = self._user_id(username) if username else None
            if username and user_id is None:
                messages.warning(request, f"There is no user {username!r}.")
            else:
                page = selectors.connection_list(
                    room=room or None,
                    user_id=user_id,
                    page_token=request.GET.get("page"),
                    limit=PAGE_SIZE,
                )
                activity = selectors.connection_activity(
                    api=moderation.management(),
                    connection_ids=[c.connection_id for c in page.items],
                )
        except ChatError as error:
            messages.error(request, error.message)
        items = page.items if page else []
        labels = room_labels(names=[c.room for c in items])
        rows = [(c, activity.get(c.connection_id, {}), labels.get(c.room)) for c in items]
        return self._render(
            request,
            "connections.html",
            "Live connections",
            rows=rows,
            page=page,
            room=room,
            username=username,
            can_disconnect=request.user.has_perm("chat.disconnect_connection"),
        )

    def messages(self, request: HttpRequest) -> HttpResponse:
        room = request.GET.get("room", "").strip() or "general"
        username, text = request.GET.get("user", "").strip(), request.GET.get("q", "").strip()
        page = None
        try:
            user_id = self._user_id(username) if username else None
            if username and user_id is None:
                messages.warning(request, f"There is no user {username!r}.")
            else:
                page = selectors.message_list(
                    room=room,
                    user_id=user_id,
                    text=text or None,
                    page_token=request.GET.get("page"),
                    limit=PAGE_SIZE,
                )
        except ChatError as error:
            messages.error(request, error.message)
        label = room_labels(names=[room])[room]
        return self._render(
            request,
            "messages.html",
            f"Messages in {label}",
            page=page,
            room=room,
            label=label,
            username=username,
            q=text,
            can_delete=request.user.has_perm("chat.delete_message"),
        )

    def message(self, request: HttpRequest, room: str, message_id: str) -> HttpResponse:
        try:
            message = selectors.message_get(room=room, message_id=message_id)
        except ChatError as error:
            messages.error(request, error.message)
            return redirect(reverse("admin:live_messages") + f"?room={room}")
        label = room_labels(names=[room])[room]
        return self._render(
            request,
            "message.html",
            f"Message in {label}",
            message=message,
            room=room,
            label=label,
            can_delete=request.user.has_perm("chat.delete_message"),
        )

    def rooms(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            self._require(request, "manage_room")
            try:
                room = moderation.room_add(
                    actor=request.user,
                    name=request.POST.get("name", ""),
                    title=request.POST.get("title", ""),
                    description=request.POST.get("description", ""),
                )
                messages.success(request, f"Room #{room.name} created.")
                return redirect("admin:live_rooms")
            except ChatError as error:
                messages.error(request, error.message)
        status = request.GET.get("status")
        status = status if status in (PRIVATE, ARCHIVED) else OPEN
        query, page = request.GET.get("q", "").strip().lower(), None
        try:
            page = room_page(
                status=status,
                prefix=query,
                token=request.GET.get("page"),
                limit=PAGE_SIZE,
                storage=True,
            )
        except ChatError as error:
            messages.error(request, error.message)
        items = page.items if page else []
        labels = room_labels(names=[room.name for room in items])
        return self._render(
            request,
            "rooms.html",
            "Rooms",
            page=page,
            # The by-status index does not carry `people`: one BatchGetItem for the conversations.
            rows=[(room, labels[room.name]) for room in items],
            status=status,
            q=query,
            form=request.POST,
            can_manage=request.user.has_perm("chat.manage_room"),
        )

    def room(self, request: HttpRequest, name: str) -> HttpResponse:
        try:
            room = room_get(name=name)
        except ChatError as error:
            messages.error(request, error.message)
            return redirect("admin:live_rooms")
        if request.method == "POST":
            self._require(request, "manage_room")
            try:
                room = moderation.room_edit(
                    actor=request.user,
                    name=name,
                    title=request.POST.get("title", ""),
                    description=request.POST.get("description", ""),
                )
                messages.success(request, f"{room_label(room)} saved.")
                return redirect("admin:live_room", name=name)
            except ChatError as error:
                messages.error(request, error.message)
        return self._render(
            request,
            "room.html",
            room_label(room) if room.direct else f"Room #{name}",
            room=room,
            label=room_label(room),
            can_manage=request.user.has_perm("chat.manage_room"),
        )

    def audit(self, request: HttpRequest) -> HttpResponse:
        entries = AuditEntry.objects.select_related("actor")
        page = Paginator(entries, 50).get_page(request.GET.get("page"))
        return self._render(request, "audit.html", "Audit log", page=page)

    # -- actions: POST only, each with its permission ----------------------------------------

    def _act(
        self, request: HttpRequest, permission: str, fallback: str, action: Callable[[], str]
    ) -> HttpResponse:
        self._require(request, permission)
        try:
            messages.success(request, action())
        except ChatError as error:
            messages.error(request, error.message)
        return self._back(request, fallback)

    @post_only
    def disconnect(self, request: HttpRequest) -> HttpResponse:
        ids = request.POST.getlist("ids")

        def run() -> str:
            closed, stale = moderation.connections_disconnect(
                actor=request.user, connection_ids=ids
            )
            return f"{closed} connection(s) closed, {stale} already gone."

        if not ids:
            messages.warning(request, "No connection was selected.")
            return self._back(request, reverse("admin:live_connections"))
        return self._act(request, "disconnect_connection", reverse("admin:live_connections"), run)

    @post_only
    def delete_message(self, request: HttpRequest, room: str, message_id: str) -> HttpResponse:
        def run() -> str:
            moderation.message_delete(actor=request.user, room=room, message_id=message_id)
            return "Message deleted."

        return self._act(
            request, "delete_message", reverse("admin:live_messages") + f"?room={room}", run
        )

    @post_only
    def archive(self, request: HttpRequest, name: str) -> HttpResponse:
        def run() -> str:
            label = room_labels(names=[name])[name]
            closed = moderation.room_archive(actor=request.user, name=name)
            return f"{label} archived; {closed} connection(s) closed."

        return self._act(request, "manage_room", reverse("admin:live_rooms"), run)

    @post_only
    def unarchive(self, request: HttpRequest, name: str) -> HttpResponse:
        def run() -> str:
            moderation.room_unarchive(actor=request.user, name=name)
            return f"{room_labels(names=[name])[name]} is open again."

        return self._act(request, "manage_room", reverse("admin:live_rooms"), run)
