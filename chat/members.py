"""A private room's members page: who they are, adding one by username, removing, leaving.

Members (and staff) manage members; removing someone closes their sockets in the room at once
(chat.services.members.member_remove).
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat.forms import MemberAddForm
from chat.moderation import ManagementUnavailable, chat_user, management
from chat.selectors.members import member_list
from chat.services.members import member_add, member_remove
from chat.views import room_may_use
from lambdas.errors import AlreadyAMember, InvalidRequest, InvalidRoom, NotAMember, RoomNotFound
from lambdas.management import ManagementApi
from lambdas.services.rooms import room_get

logger = logging.getLogger(__name__)


def _api() -> ManagementApi | None:
    try:
        return management()
    except ManagementUnavailable:
        return None  # their routes still check the membership and refuse


@login_required
@require_http_methods(["GET", "POST"])
def room_members(request: HttpRequest, room: str) -> HttpResponse:
    try:
        found = room_get(name=room, create_default=False)
    except (InvalidRoom, RoomNotFound):
        return render(request, "chat/room_missing.html", {"name": room}, status=404)
    if not found.private:
        return redirect("room", room=found.name)  # everyone is welcome: no member list
    if not room_may_use(request.user, found):
        return render(request, "chat/room_private.html", {"room": found}, status=403)
    form = MemberAddForm()
    if request.method == "POST" and found.direct:
        messages.error(request, "A conversation's people are fixed: start another one.")
    elif request.method == "POST" and request.POST.get("remove"):
        user_id = request.POST["remove"]
        try:
            closed = member_remove(api=_api(), room=found, user_id=user_id)
        except NotAMember as error:
            messages.error(request, error.message)
        else:
            logger.info("member removed", extra={"room": found.name, "connections": closed})
            if user_id == str(request.user.pk):
                messages.success(request, f"You left #{found.name}.")
                return redirect("rooms")
            messages.success(request, "Member removed.")
            return redirect("room_members", room=found.name)
    elif request.method == "POST":
        form = MemberAddForm(request.POST)
        if form.is_valid():
            username = form.cleaned_data["username"].strip()
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                form.add_error("username", f"There is no user {username!r}.")
            else:
                try:
                    member_add(
                        room=found,
                        user_id=str(user.pk),
                        username=user.get_username(),
                        added_by=chat_user(request.user).username,
                    )
                except (AlreadyAMember, InvalidRequest) as error:
                    form.add_error("username", error.message)
                else:
                    messages.success(request, f"{user.get_username()} is now a member.")
                    return redirect("room_members", room=found.name)
    # A room by its title, a conversation by its other people, as the sidebar names them.
    if found.direct:
        name = ", ".join(found.others(request.user.get_username())) or "yourself"
        heading = f"Conversation with {name}"
    else:
        heading = f"Members of {found.title or found.name}"
    context = {
        "room": found,
        "heading": heading,
        "members": member_list(room=found.name),
        "form": form,
    }
    return render(request, "chat/room_members.html", context)
