"""The site's own tables: the audit log of staff actions, the chat sessions still to end, and the
search index of messages (chat data itself lives in DynamoDB)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
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


class SearchEntry(models.Model):
    """One message as search finds it, in the site's PostgreSQL (DynamoDB has no text index).

    Written only by `lambdas.services.search_index` (the indexing function, asynchronously after
    each stored, edited or deleted message; and the backfill command), never through the ORM,
    and idempotent: a change is applied only if its `rev`, the room's change number of that
    change, is newer than the one indexed. A deleted message stays as a tombstone (no text, no
    document) so that a late, older change cannot bring it back."""

    message_id = models.CharField(max_length=26, primary_key=True)
    room = models.CharField(max_length=200)
    # A reply's parent; NULL, not "", for a message in the room: the row is written in SQL.
    thread = models.CharField(max_length=26, null=True, blank=True)  # noqa: DJ001
    user_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150)
    text = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    rev = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    document = SearchVectorField(null=True)  # to_tsvector(SEARCH_LANGUAGE, text); NULL if deleted
    indexed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "search entries"
        indexes = [
            GinIndex(fields=["document"], name="chat_search_document"),
            models.Index(fields=["room", "sent_at"], name="chat_search_room_sent"),
            # The newest matches of a common word, read backwards (chat/selectors/search.py).
            models.Index(fields=["sent_at"], name="chat_search_sent"),
            models.Index(fields=["username", "sent_at"], name="chat_search_user_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.room}/{self.message_id}"
