"""The typed errors a client can see: each carries its wire `code` and an HTTP-like `status`."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error that is the client's to read; handlers turn it into an error frame."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        # Extra members of the error frame (e.g. `retry_after`), JSON-serialisable by contract;
        # the frame itself is lambdas.protocol.error_frame's.
        self.fields = fields


class InvalidJson(ChatError):
    code = "invalid_json"


class UnknownAction(ChatError):
    code = "unknown_action"


class InvalidRequest(ChatError):
    code = "invalid_request"


class EmptyMessage(ChatError):
    code = "empty_message"


class MessageTooLong(ChatError):
    code = "message_too_long"


class MessageTooLarge(ChatError):
    """The stored message (its text and kept versions) would pass the item budget."""

    code = "message_too_large"
    status = 413


class InvalidRoom(ChatError):
    code = "invalid_room"


class RoomNotFound(ChatError):
    code = "room_not_found"
    status = 404


class RoomArchived(ChatError):
    code = "room_archived"
    status = 410


class RoomExists(ChatError):
    code = "room_exists"
    status = 409


class MessageNotFound(ChatError):
    code = "message_not_found"
    status = 404


class NotAThread(ChatError):
    """A reply names a parent that cannot have replies: itself a reply (threads are one level
    deep, as Slack's)."""

    code = "not_a_thread"
    status = 400


# Files (lambdas/services/uploads.py)


class FileTooLarge(ChatError):
    code = "file_too_large"


class TypeNotAllowed(ChatError):
    code = "type_not_allowed"


class BadName(ChatError):
    code = "bad_name"


class QuotaExceeded(ChatError):
    code = "quota_exceeded"
    status = 429


class UploadNotFound(ChatError):
    code = "upload_not_found"
    status = 404


class UploadNotReady(ChatError):
    """A message names an upload that is not the sender's, not in this room, not checked yet,
    rejected, or already sent."""

    code = "upload_not_ready"


class Forbidden(ChatError):
    code = "forbidden"
    status = 403


class NotAMember(ChatError):
    """The room is private and the caller is not one of its members."""

    code = "not_a_member"
    status = 403


class NotInARoom(ChatError):
    """A lobby connection (the rooms list's) asked for something only a room's connection does."""

    code = "not_in_a_room"


class InvalidMention(ChatError):
    """`@name` names someone who is not a member of the (private) room."""

    code = "invalid_mention"


class TooManyMentions(ChatError):
    """More distinct `@name`s in one message than a message may notify."""

    code = "too_many_mentions"


class HereNotAllowed(ChatError):
    """`@here` from someone who is neither staff nor the room's creator."""

    code = "here_not_allowed"
    status = 403


class HereTooLarge(ChatError):
    """`@here` in a room with more readers than anyone may ping at once."""

    code = "here_too_large"
    status = 403


class NotJoined(ChatError):
    """Leaving or muting a room the user has not joined (or, to leave, is a member of)."""

    code = "not_joined"


class AlreadyAMember(ChatError):
    code = "already_a_member"
    status = 409


class Unauthorized(ChatError):
    code = "unauthorized"
    status = 401


class NotConnected(ChatError):
    """The socket's connection item is gone (disconnected by an operator, or expired)."""

    code = "not_connected"
    status = 410


class Internal(ChatError):
    code = "internal"
    status = 500


class InvalidPageToken(ChatError):
    code = "invalid_page_token"


class ConnectionNotFound(ChatError):
    code = "connection_not_found"
    status = 404


class RateLimited(ChatError):
    """Too many requests: `retry_after` (seconds) says when the next one will be accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class TokenRevoked(ChatError):
    """The token predates the end of the user's sessions (a ban, a deactivation, a demotion)."""

    code = "token_revoked"
    status = 403


class TooManyConnections(ChatError):
    """The user already holds the most live connections allowed; refused at `$connect`."""

    code = "too_many_connections"
    status = 429


class RegionMoved(ChatError):
    """This Region no longer takes writes: the other one is active (docs/multi-region.md, "The
    fence"). Nothing was changed; the sender's socket is closed, and a client reconnects (through
    the domain, to the active Region) and sends again, with the same clientMessageId. 421: the
    request reached a server that cannot answer it (Misdirected Request)."""

    code = "region_moved"
    status = 421


class Unavailable(ChatError):
    """Storage could not be reached or is throttling: nothing was changed, try again."""

    code = "unavailable"
    status = 503


_RETRYABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def is_unavailable(error: BaseException) -> bool:
    """Whether an exception (or what caused it) means AWS could not be reached or throttled us."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, HTTPClientError)):
            return True
        if isinstance(seen, ClientError) and seen.response.get("Error", {}).get("Code") in (
            _RETRYABLE_CODES
        ):
            return True
        if getattr(seen, "cause_response_code", None) in _RETRYABLE_CODES:
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__ or seen.__context__
    return False
