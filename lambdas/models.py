"""PynamoDB models of the two tables: live connections and durable message history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from lambdas.config import Config, follow_config, get_config


class RoomIndex(GlobalSecondaryIndex["Connection"]):
    """Connections of one room. Projects what fan-out (expires_at) and presence (user) read."""

    class Meta:
        index_name = "by-room"
        projection = IncludeProjection(["expires_at", "user_id", "username"])

    room = UnicodeAttribute(hash_key=True)


class UserIndex(GlobalSecondaryIndex["Connection"]):
    """Connections of one user: to close all of a user's sessions, or count them."""

    class Meta:
        index_name = "by-user"
        projection = IncludeProjection(["expires_at", "room"])

    user_id = UnicodeAttribute(hash_key=True)


class Connection(Model):
    """One open WebSocket: who is behind it and which room it joined, if any: a rooms-list
    ("lobby") connection joins none and only hears about its user's rooms (`unread` frames)."""

    class Meta:
        table_name = "connections"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    room = UnicodeAttribute(null=True)  # None for a lobby connection, so not in by-room at all
    connected_at = UTCDateTimeAttribute()
    # API Gateway closes every connection after 2 h, but $disconnect is best effort: TTL removes
    # leftovers, and readers filter on it because TTL deletes expired items only within a few
    # days, not at the moment they expire.
    expires_at = TTLAttribute()
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    # In a private room: each route checks the membership again (a removed member's socket
    # cannot read or write even if it outlived its closing).
    private = BooleanAttribute(null=True)
    # The browser session its token was issued to (the token's `sid`): logging out of that
    # session closes this socket. Not projected into by-user (adding it to an index means
    # recreating the index in AWS): a logout reads the user's few items whole.
    sid = UnicodeAttribute(null=True)

    room_index = RoomIndex()
    user_index = UserIndex()

    def is_live(self, now: datetime) -> bool:
        return self.expires_at > now


# Room statuses, the by-status index's key: public rooms are listed to everyone, private ones
# only to their members (through their memberships), archived ones to staff.
OPEN, PRIVATE, ARCHIVED = "open", "private", "archived"


class RoomStatusIndex(GlobalSecondaryIndex["Room"]):
    """Rooms of one status in name order: a page of the open rooms is one Query that never
    reads an archived room. Online counts are not projected: they change all day, and each
    change would be a write to this index's few partitions (they are read by BatchGetItem)."""

    class Meta:
        index_name = "by-status"
        projection = IncludeProjection(["title", "description", "created_by", "created_at"])

    status = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class Room(Model):
    """A chat room: listed a page at a time through the by-status index, never scanned."""

    class Meta:
        table_name = "rooms"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    name = UnicodeAttribute(hash_key=True)
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    status = UnicodeAttribute(default=OPEN)  # OPEN, PRIVATE or ARCHIVED
    private = BooleanAttribute(null=True)  # members only (kept while archived, for unarchiving)
    # A direct conversation: private, its members fixed (chat/services/direct.py).
    direct = BooleanAttribute(null=True)
    people = ListAttribute(of=UnicodeAttribute, null=True)  # a conversation's usernames
    # Rooms stored before `status` existed kept a boolean here; `manage.py rooms_backfill`
    # (run by every deploy and `make run`) moves it to `status` and removes it.
    legacy_archived = BooleanAttribute(attr_name="archived", null=True)
    # Who is online, as the room's latest presence list counted them (distinct users), written
    # by the presence announcement that sent it; `online_at` (ms) orders concurrent writers.
    online = NumberAttribute(null=True)
    online_until = UTCDateTimeAttribute(null=True)  # the last expiry of the counted connections
    online_at = NumberAttribute(null=True)
    # The room's last change number (lambdas/services/changes.py) and when it was taken (epoch ms).
    seq = NumberAttribute(null=True)
    seq_at = NumberAttribute(null=True)
    # The Region that took `seq` (docs/multi-region.md): another Region's number makes the next
    # one taken here jump past any it may have taken and not replicated yet.
    seq_region = UnicodeAttribute(null=True)
    # Messages posted (lambdas/services/unread.py): ADDed by the UpdateItem that takes a new
    # message's change number, so counting costs no write of its own; a reader's unread count
    # is `posted` less the ordinal they have read to. Rooms from before count from 0.
    posted = NumberAttribute(null=True)
    here_n = NumberAttribute(null=True)  # the ordinal of the room's last @here message
    # Batched delivery in large rooms (lambdas/services/batches.py): the running batch's lease
    # (who holds it, renewed at `flush_at`, epoch ms) and the number every change up to which
    # has been sent in a batch (`flushed`, at `flushed_at`).
    flush_by = UnicodeAttribute(null=True)
    flush_at = NumberAttribute(null=True)
    flushed = NumberAttribute(null=True)
    flushed_at = NumberAttribute(null=True)
    # The files its messages carry (their sizes as sent, thumbnails not counted), ADDed by the
    # UpdateItem that takes the change number of a message sent or deleted with files
    # (lambdas/services/changes.py): staff read a room's storage with the room, no scan of the
    # uploads. Not projected into by-status. Rooms whose files were sent before count from 0.
    file_bytes = NumberAttribute(null=True)
    file_count = NumberAttribute(null=True)

    status_index = RoomStatusIndex()

    @property
    def archived(self) -> bool:
        return self.status == ARCHIVED or bool(self.legacy_archived)

    def others(self, username: str) -> list[str]:
        """A conversation's people but the one looking at it."""
        return [name for name in self.people or [] if name != username]

    @property
    def listed_status(self) -> str:
        """Its status when not archived."""
        return PRIVATE if self.private else OPEN

    def online_now(self, now: datetime) -> int:
        """The stored count, or 0 once every counted connection has expired (their $disconnect
        lost): a count is never older than the connections it counted."""
        if not self.online or self.online_until is None or self.online_until <= now:
            return 0
        return int(self.online)


class MemberUserIndex(GlobalSecondaryIndex["Member"]):
    """A user's memberships, in room order: the private rooms they may see and join."""

    class Meta:
        index_name = "by-user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    room = UnicodeAttribute(range_key=True)


class MemberNameIndex(GlobalSecondaryIndex["Member"]):
    """A room's readers by username: `@name` finds its reader with one Query of one key,
    however large the room (keys only: the writes it costs are small)."""

    class Meta:
        index_name = "by-name"
        projection = KeysOnlyProjection()

    room = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)


JOINED = "joined"  # Member.kind of a reader of a public room (not a membership)


class Member(Model):
    """A user's membership of a private room, or (`kind` JOINED) a reader who joined a public
    room: an item per (room, user), queried both ways. A join grants nothing: member_check
    and member lists ignore it, so a public room made private keeps its members only."""

    class Meta:
        table_name = "members"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    room = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    username = UnicodeAttribute()
    added_by = UnicodeAttribute()  # a username
    added_at = UTCDateTimeAttribute()
    # Where the member has read to, shared by all of their tabs and devices
    # (lambdas/services/unread.py): the last message id seen, and what came since.
    last_read = UnicodeAttribute(null=True)
    # Kept from before read ordinals: what was unread then (counted on until the next read).
    unread = NumberAttribute(null=True)
    mentions = NumberAttribute(null=True)  # mentions since the read position
    kind = UnicodeAttribute(null=True)  # None: a member of a private room; JOINED: a reader
    read_n = NumberAttribute(null=True)  # the ordinal (Message.n) read up to
    mention_n = NumberAttribute(null=True)  # the ordinal of the last message naming them
    muted = BooleanAttribute(null=True)  # counted, shown dimmed, never notified (but mentions)

    user_index = MemberUserIndex()
    name_index = MemberNameIndex()

    @property
    def joined(self) -> bool:
        """A public room's reader, not a member: grants nothing."""
        return self.kind == JOINED


class Edit(MapAttribute):
    """A message's earlier text, kept when it is edited."""

    text = UnicodeAttribute()
    replaced_at = UTCDateTimeAttribute()


# What a frame shows of threads (a reply's parent and place, a parent's summary): projected by
# both indexes that serve frames. `followers` is not: only sendmessage reads it, from the table.
THREAD_ATTRIBUTES = ["thread", "in_room", "tn", "reply_count", "last_reply_at", "repliers"]
# What a frame shows of a message, beside its keys: what the indexes that serve frames project.
FRAME_ATTRIBUTES = [
    "user_id",
    "username",
    "text",
    "sent_at",
    "client_message_id",
    "edited_at",
    "deleted",
    "reactions",
    "seq",
    "rev_at",
    *THREAD_ATTRIBUTES,
]


class ChangeIndex(GlobalSecondaryIndex["Message"]):
    """A room's messages by their last change number: what changed since a client's position
    is one Query (`rev > n`). Projects what a frame shows, not the earlier texts (`edits`)."""

    class Meta:
        index_name = "by-rev"
        projection = IncludeProjection(FRAME_ATTRIBUTES)

    room = UnicodeAttribute(hash_key=True)
    rev = NumberAttribute(range_key=True)


class ThreadIndex(GlobalSecondaryIndex["Message"]):
    """A thread's replies in order, a page at a time (`thread` is the parent's id, a ULID:
    unique across rooms). Sparse: only replies have `thread`, so a room's other messages
    write no entry here and cost nothing more."""

    class Meta:
        index_name = "by-thread"
        projection = IncludeProjection([*FRAME_ATTRIBUTES, "rev"])

    thread = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)


class Replier(MapAttribute):
    """One of the last few distinct people who replied in a thread, newest first."""

    user_id = UnicodeAttribute()
    username = UnicodeAttribute()


class UploadFile(MapAttribute):
    """A file a message carries (lambdas/services/uploads.py): what its card and thumbnail need,
    copied from its upload when the message is sent."""

    id = UnicodeAttribute()
    name = UnicodeAttribute()
    size = NumberAttribute()
    type = UnicodeAttribute()
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    thumb = BooleanAttribute(null=True)


class Message(Model):
    """One chat message; message ids are ULIDs, so the sort key orders a room's history by time.

    `seq` is its place in the room (the room's change number when it was stored: strictly
    increasing), `rev` the number of its last change (stored, edited, reacted to, deleted) and
    `rev_at` when that number was taken; messages stored before numbering have none.
    """

    class Meta:
        table_name = "messages"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    room = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    text = UnicodeAttribute()
    sent_at = UTCDateTimeAttribute()
    client_message_id = UnicodeAttribute(null=True)
    edited_at = UTCDateTimeAttribute(null=True)
    edits = ListAttribute(of=Edit, null=True)
    deleted = BooleanAttribute(default=False)
    # {emoji: {user id: username}}: each person once per emoji. Written conditionally on
    # `reactions_version` (no transactions: a concurrent reaction makes the writer read again).
    reactions = MapAttribute(null=True)
    reactions_version = NumberAttribute(null=True)
    seq = NumberAttribute(null=True)
    rev = NumberAttribute(null=True)
    rev_at = NumberAttribute(null=True)  # epoch ms
    n = NumberAttribute(null=True)  # its ordinal among the room's messages (Room.posted)
    # Threads (lambdas/services/threads.py). A reply: its parent's id, whether it is also
    # shown in the room, its ordinal among the thread's replies (the parent's `reply_count`
    # when it was stored). A parent: how many replies, the last one's time, the last few
    # repliers, and who follows it ({user id: username}, at most MAX_THREAD_FOLLOWERS).
    thread = UnicodeAttribute(null=True)
    in_room = BooleanAttribute(null=True)
    tn = NumberAttribute(null=True)
    reply_count = NumberAttribute(null=True)
    last_reply_at = UTCDateTimeAttribute(null=True)
    repliers = ListAttribute(of=Replier, null=True)
    followers = MapAttribute(null=True)
    # Files it carries (lambdas/services/uploads.py), in the order sent; removed on delete.
    files = ListAttribute(of=UploadFile, null=True)

    change_index = ChangeIndex()
    thread_index = ThreadIndex()


class Follow(Model):
    """A user following one thread: its parent's author, each replier, each person mentioned in
    it. Keyed by user, so a user's threads in a room are one Query (`<room>#` prefix). Holds the
    reply ordinal read up to (`read_tn`): unread is the parent's `reply_count` less it, derived
    when read, as rooms derive theirs (lambdas/services/unread.py)."""

    class Meta:
        table_name = "follows"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    user_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # "<room>#<parent id>"
    room = UnicodeAttribute()
    thread = UnicodeAttribute()
    username = UnicodeAttribute()
    read_tn = NumberAttribute(null=True)
    mentions = NumberAttribute(null=True)  # mentions in replies after read_tn
    mention_tn = NumberAttribute(null=True)


class ClientMessage(Model):
    """Which message a client's `clientMessageId` became: makes retried sends idempotent.

    A conditional put on this natural key is the "has this send been seen" check. The message
    is written second, not in a transaction with it: a retry after a crash between the two
    writes finds the receipt and completes the send, which is all a transaction would add, and
    a transaction writes each item twice (prepare and commit: double the write units).
    """

    class Meta:
        table_name = "client-messages"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    user_id = UnicodeAttribute(hash_key=True)
    client_message_id = UnicodeAttribute(range_key=True)
    room = UnicodeAttribute()
    message_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class Limit(Model):
    """State of one per-user limit (a token bucket or a failure counter), shared by every instance.

    `key` names the limit and its subject ("messages#<user_id>", "login-ip#<ip>"). Writes are
    conditional on `version` (optimistic concurrency: one item per cycle, so a conditional put
    does what a transaction would, at half its write units), and readers treat an item past
    `expires_at` as absent because TTL deletes expired items only within a few days.
    """

    class Meta:
        table_name = "limits"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    key = UnicodeAttribute(hash_key=True)
    version = NumberAttribute()
    level = NumberAttribute()  # tokens left in a bucket, or failures counted in a window
    updated_at = NumberAttribute()  # epoch seconds (fractional): when `level` was computed
    # A bucket's refusals, less STRIKES_FADE per token refilled since (as of `updated_at`): past
    # FLOOD_REFUSALS_ALLOWED the user is flooding (lambdas/services/limits.py).
    strikes = NumberAttribute(null=True)
    expires_at = TTLAttribute()


class Upload(Model):
    """One file uploaded by presigned POST straight to the uploads bucket: `pending` until the
    thumbnail function has checked its content, then `ready` or `rejected` (with `reason`; the
    object deleted). `message_id` once a message carries it; until then `expires_at` (TTL)
    lets an abandoned upload's item go, as the bucket's lifecycle rule lets its object go."""

    class Meta:
        table_name = "uploads"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    room = UnicodeAttribute()
    key = UnicodeAttribute()  # the original's object key
    name = UnicodeAttribute()  # sanitised (uploads.upload_name_check)
    size = NumberAttribute()  # as declared; the object's own size is checked against it
    type = UnicodeAttribute()  # the declared type, from the allow-list
    state = UnicodeAttribute()  # pending | ready | rejected
    reason = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    thumb_key = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


class Revocation(Model):
    """A user's sessions ended: all of them (banned, deactivated, demoted, "log out
    everywhere"): tokens issued before `not_before` no longer open a connection; or some
    browser sessions (logged out): tokens whose `sid` is in `ended` no longer do. Kept in the
    `limits` table, next to the user's other limits, under "revoked#<user_id>": `$connect`
    reads both in the one GetItem it makes anyway, and with them a flooder's cooldown. It
    expires once every such token has, and the cooldown is over."""

    class Meta:
        table_name = "limits"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    key = UnicodeAttribute(hash_key=True)
    not_before = NumberAttribute(null=True)  # epoch seconds (fractional); None: only `ended`
    ended = UnicodeSetAttribute(null=True)  # session ids (lambdas/services/sessions.py)
    # Epoch seconds until which $connect refuses the user: cut off for flooding (limits.py).
    cooldown_until = NumberAttribute(null=True)
    expires_at = TTLAttribute()


class ActiveRegion(Model):
    """The stage's active Region (docs/multi-region.md, "The fence"): one item in the rooms
    table, a global table, under a key no room name can take (lambdas/services/fence.py). It
    has no `status`, so the by-status index, which lists rooms, never holds it. Absent: the
    primary Region is active. `epoch` counts the hand-overs: each write is conditional on the
    one read, so concurrent claims in one Region write once. `handover`: a failback by hand
    under way (deploy/failback.py), naming the Region the stage goes back to: that Region's
    health route answers 200 again while `region` still takes the writes."""

    class Meta:
        table_name = "rooms"
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    name = UnicodeAttribute(hash_key=True)
    region = UnicodeAttribute()
    epoch = NumberAttribute()
    at = NumberAttribute()  # epoch ms of the hand-over
    handover = UnicodeAttribute(null=True)


# Base table names; the deployed name adds the stage prefix (see template.yaml).
TABLES: dict[type[Model], str] = {
    Connection: "connections",
    Message: "messages",
    Room: "rooms",
    ClientMessage: "client-messages",
    Limit: "limits",
    Member: "members",
    Follow: "follows",
    Upload: "uploads",
}
# Models kept in another's table (its key schema): bound like it, never created on their own.
SHARING: dict[type[Model], str] = {Revocation: "limits", ActiveRegion: "rooms"}


# Connections the shared client keeps open: the site's request threads and the parallel checks
# of $connect (connections_reachable) must not overflow it.
MAX_POOL_CONNECTIONS = 32


# Every item written stays well under DynamoDB's 400 KB limit, and reads of a room's history
# stay cheap (a Query pays for the whole items it reads).
ITEM_BUDGET_BYTES = 64 * 1024


def item_bytes(item: Model) -> int:
    """The item's size as DynamoDB counts it: each attribute's name and value, strings in
    UTF-8, lists and maps with their 3-byte overhead and 1 byte per element."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.serialize().items())


def _value_bytes(value: dict) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return min(21, (len(digits) + 1) // 2 + 1)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_bytes(v) for k, v in data.items())
    if kind == "SS":
        return sum(len(element.encode()) for element in data)
    return len(str(data))  # B, NS, BS: not in our models; an upper bound is enough


def bind(config: Config | None = None) -> None:
    """Point every model at the configured tables and endpoint (at import, and again on each
    configure()).

    All tables share one botocore client, built here at init rather than on a first request.
    PynamoDB alone builds one per model, each in a botocore session of its own that loads and
    parses the DynamoDB service model again: 5 clients cost a cold environment ~440 ms of CPU.
    """
    config = config or get_config()
    client = None
    for model, base in [*TABLES.items(), *SHARING.items()]:
        model.Meta.table_name = config.table_name(base)
        model.Meta.region = config.region
        model.Meta.host = config.dynamodb_endpoint_url
        model.Meta.max_pool_connections = MAX_POOL_CONNECTIONS
        model._connection = None  # PynamoDB caches the client per model; drop the stale one
        connection = model._get_connection().connection
        if client is None:
            client = connection.client
        else:
            # Without credentials yet (none configured at import), PynamoDB rebuilds its own
            # client on first use, as it would have anyway.
            connection._client = client


def condition_failed(error: Exception) -> bool:
    """Whether a PynamoDB write failed only because its condition did not hold (someone else
    wrote first, or the item is not as expected): the one check every conditional write uses."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, the format browsers parse everywhere."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connection_expiry(connected_at: datetime, ttl_seconds: int) -> datetime:
    return connected_at + timedelta(seconds=ttl_seconds)


bind()
follow_config(bind)
