"""The search index's one write: a message's change, applied to its row in the site's PostgreSQL.

The table is the site's `chat.SearchEntry` (chat/models.py, its migrations create it); this is
the only code that writes it, shared by the indexing function (through the RDS Data API) and the
site's backfill command (through its own connection). Each change is applied only if it is newer
than the row's: by the room's change number (`rev`) the change took, so that a retried, repeated
or late invocation changes nothing. A deletion leaves a tombstone: no text, no document.

The statement uses named parameters (`:name`, the Data API's style); `pyformat()` gives the same
statement for a DB-API driver such as psycopg (`%(name)s`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

TABLE = "chat_searchentry"

UPSERT = f"""
INSERT INTO {TABLE} AS entry
    (message_id, room, thread, user_id, username, text, sent_at, rev, deleted, document,
     indexed_at)
VALUES
    (:message_id, :room, :thread, :user_id, :username, :text, CAST(:sent_at AS timestamptz),
     :rev, :deleted,
     CASE WHEN :deleted THEN NULL ELSE to_tsvector(CAST(:language AS regconfig), :text) END,
     now())
ON CONFLICT (message_id) DO UPDATE SET
    thread = EXCLUDED.thread,
    username = EXCLUDED.username,
    text = EXCLUDED.text,
    rev = EXCLUDED.rev,
    deleted = EXCLUDED.deleted,
    document = EXCLUDED.document,
    indexed_at = EXCLUDED.indexed_at
WHERE entry.rev < EXCLUDED.rev
"""


@dataclass(frozen=True)
class IndexChange:
    """A message as one change left it: stored, edited (its new text) or deleted."""

    message_id: str
    room: str
    user_id: str
    username: str
    text: str
    sent_at: datetime  # timezone-aware UTC
    rev: int  # the room's change number this change took
    deleted: bool = False
    thread: str | None = None  # a reply's parent message id

    def parameters(self, *, language: str) -> dict[str, object]:
        """UPSERT's parameters; a deleted message's text is not kept."""
        return {**self.as_event(), "language": language}

    def as_event(self) -> dict[str, object]:
        """The change as JSON for the indexing function's event (from_event reads it back)."""
        return {
            "message_id": self.message_id,
            "room": self.room,
            "thread": self.thread,
            "user_id": self.user_id,
            "username": self.username,
            "text": "" if self.deleted else self.text,
            "sent_at": self.sent_at.isoformat(),
            "rev": self.rev,
            "deleted": self.deleted,
        }

    @classmethod
    def from_event(cls, fields: dict) -> IndexChange:
        """A change from as_event()'s JSON; ValueError (KeyError, TypeError) if it is not one."""
        sent_at = datetime.fromisoformat(fields["sent_at"])
        if sent_at.tzinfo is None:
            raise ValueError("sent_at must carry its time zone")
        return cls(
            message_id=str(fields["message_id"]),
            room=str(fields["room"]),
            user_id=str(fields["user_id"]),
            username=str(fields["username"]),
            text=str(fields.get("text") or ""),
            sent_at=sent_at,
            rev=int(fields["rev"]),
            deleted=bool(fields.get("deleted", False)),
            thread=fields.get("thread") or None,
        )


_NAMED = re.compile(r"(?<!:):([a-z_]+)")


def pyformat(statement: str) -> str:
    """The statement with `:name` parameters as `%(name)s` (psycopg, DB-API's pyformat)."""
    return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))
