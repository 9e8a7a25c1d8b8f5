"""The site's own tables: the audit log of staff actions and the chat sessions still to end (chat
data itself lives in DynamoDB)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One staff action on the live chat: who did what to which target, and when."""

    class Action(models.TextChoices):
        DISCONNECT = "disconnect", "disconnect connection"
        DISCONNECT_USER = "disconnect_user", "disconnect all sessions of a user"
        DELETE_MESSAGE = "delete_message", "delete message"
        CREATE_ROOM = "create_room", "create room"
        EDIT_ROOM = "edit_room", "edit room"
        ARCHIVE_ROOM = "archive_room", "archive room"
        UNARCHIVE_ROOM = "unarchive_room", "unarchive room"
        BAN = "ban", "ban user"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_audit_entries"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(max_length=200)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        # Reading the dashboard needs its permission; destructive actions each need theirs
        # (superusers have all).
        permissions = [
            ("view_dashboard", "Can view the live chat dashboard"),
            ("disconnect_connection", "Can disconnect live chat connections"),
            ("delete_message", "Can delete chat messages"),
            ("manage_room", "Can create, edit and archive chat rooms"),
            ("ban_user", "Can ban chat users"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.get_action_display()} {self.target}"


class PendingRevocation(models.Model):
    """A user whose chat sessions must end (they were deactivated or demoted) but have not yet:
    the revocation or the closing of their sockets failed. Written with the change that took
    their access away, deleted once both hold (chat/revocations.py); retried until then."""

    # Not a foreign key: a user deleted meanwhile still has tokens and sockets to end.
    user_id = models.CharField(max_length=64, unique=True)
    username = models.CharField(max_length=150)
    reason = models.CharField(max_length=100)  # what they lost: "is_active, is_staff"
    created_at = models.DateTimeField(auto_now_add=True)
    # Rewritten by every loss of access: an attempt that read an older version leaves the row.
    recorded_at = models.DateTimeField(auto_now=True)
    attempts = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.username} (lost {self.reason})"
