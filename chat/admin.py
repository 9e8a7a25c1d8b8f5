"""The admin site: Django's own, plus the "Live chat" dashboard and user moderation actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect

from chat import moderation
from chat.models import AuditEntry, PendingRevocation
from chat.revocations import SessionsNotEnded, revocation_attempt
from lambdas.errors import ChatError


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the dashboard's actions, never edited by hand."""

    list_display = ("at", "actor", "action", "target", "detail")
    list_filter = ("action",)
    search_fields = ("target", "actor__username")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PendingRevocation)
class PendingRevocationAdmin(admin.ModelAdmin):
    """Users whose chat sessions are still to end: read-only, retried by the schedule, or now."""

    list_display = ("username", "reason", "created_at", "attempts", "attempted_at", "last_error")
    search_fields = ("username",)
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleted once the sessions have ended, never by hand

    @admin.action(description="Retry ending their chat sessions now", permissions=["view"])
    def retry(self, request, queryset) -> None:
        for pending in queryset:
            try:
                closed = revocation_attempt(user_id=pending.user_id)
                messages.success(
                    request,
                    f"{pending.username}: sessions ended; {closed} connection(s) closed.",
                )
            except SessionsNotEnded as error:
                messages.error(request, error.message)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    """Django's user admin with the chat's moderation actions."""

    actions = ["disconnect_sessions", "ban"]
    # What only a superuser may change: another's powers, and the powers themselves.
    POWERS = ("is_superuser", "groups", "user_permissions")

    def has_change_permission(self, request, obj=None) -> bool:
        """Staff and superusers are changed (deactivated, demoted) by superusers only."""
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The change is saved by now: the error comes from ending the sessions after the
        # commit of the admin's transaction, so it is caught around it, and the form shown
        # again with what did not happen next to the admin's "changed successfully".
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SessionsNotEnded as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(request.get_full_path())

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if request.user.is_superuser else (*readonly, *self.POWERS)

    def _each(self, request, queryset, permission: str, action, done: str) -> None:
        if not request.user.has_perm(f"chat.{permission}"):
            raise PermissionDenied
        for user in queryset:
            try:
                closed = action(actor=request.user, user=user)
                messages.success(request, done.format(user=user.get_username(), closed=closed))
            except ChatError as error:
                messages.error(request, f"{user.get_username()}: {error.message}")

    @admin.action(description="Disconnect all chat sessions")
    def disconnect_sessions(self, request, queryset) -> None:
        self._each(
            request,
            queryset,
            "disconnect_connection",
            moderation.user_disconnect,
            "{user}: {closed} connection(s) closed.",
        )

    @admin.action(description="Ban from chat (deactivate and disconnect)")
    def ban(self, request, queryset) -> None:
        self._each(
            request,
            queryset,
            "ban_user",
            moderation.user_ban,
            "{user} banned; {closed} connection(s) closed.",
        )
