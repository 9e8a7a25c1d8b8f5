"""Direct conversations on the site: open one with other people by username (the same people
always get the same conversation, chat.services.direct)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat.forms import DirectOpenForm
from chat.services.direct import MAX_DIRECT_PEOPLE, direct_open
from lambdas.errors import InvalidRequest


@login_required
@require_http_methods(["GET", "POST"])
def direct(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = DirectOpenForm(request.POST)
    else:
        form = DirectOpenForm(initial={"people": request.GET.get("with", "")})
    if form.is_bound and form.is_valid():
        names = form.cleaned_data["people"]
        me = request.user.get_username()
        found = {
            user.get_username(): user
            for user in get_user_model().objects.filter(
                username__in=names[: MAX_DIRECT_PEOPLE + 1], is_active=True
            )
        }
        missing = [name for name in names if name not in found and name != me]
        if missing:
            form.add_error("people", f"There is no user {missing[0]!r}.")
        else:
            people = [(str(user.pk), user.get_username()) for user in found.values()]
            people.append((str(request.user.pk), me))
            try:
                room = direct_open(people=people, opened_by=me)
            except InvalidRequest as error:
                form.add_error("people", error.message)
            else:
                return redirect("room", room=room.name)
    return render(request, "chat/direct.html", {"form": form})
