"""What unread counting costs in DynamoDB, measured against dynalite: sending a message (with 0
and 1 mention), one markread, and reading a user's sidebar of 20 rooms, in public rooms of 10,
1,000 and 10,000 joined readers; and, before, the per-member counters of private rooms.

    .venv/bin/python -m bench.unread_cost

Every request asks for ReturnConsumedCapacity=TOTAL (a botocore hook): dynalite answers it for
the base table as DynamoDB counts (1 KB write units, 4 KB read units, eventually consistent
reads at half). It counts no index writes and answers nothing for a failed conditional write;
those are computed here (DynamoDB bills a failed conditional write 1 unit and writes a GSI
when the item written has its keys and a projected attribute changes) and shown apart.
Prints the table and writes bench/UNREAD_COST.md.
"""

from __future__ import annotations

import subprocess
import tempfile
import textwrap
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.stack import ROOT, configure, start_dynalite

SIZES = (10, 1_000, 10_000)
BEFORE_SIZES = (10, 1_000)
SIDEBAR_ROOMS = 20
OUTPUT = ROOT / "bench" / "UNREAD_COST.md"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}

# Index writes DynamoDB adds to a successful write, by (table suffix, operation); the
# template's GSIs and projections (template.yaml) decide them:
#   members: by-user (ALL: any change rewrites it), by-name (KEYS_ONLY: only a new item)
#   messages: by-rev (INCLUDE text, rev...: a new message or a new `rev`)
#   rooms: by-status (INCLUDE title...: `seq`, `posted`, `here_n` are not projected)
#   client-messages, limits: none; connections are not written on these paths.
INDEX_WRITES = {
    ("members", "PutItem"): 2,
    ("members", "UpdateItem"): 1,
    ("members", "DeleteItem"): 2,
    ("messages", "PutItem"): 1,
    ("messages", "UpdateItem"): 1,
}


READING = """
Reading: a message costs the same writes in a room of 10 or 10,000 readers: the sender's limit
bucket (PutItem), the message (PutItem), the room's change number and ordinal (one UpdateItem),
the sender's read position (UpdateItem). A mention adds one UpdateItem of the named reader
(found through the keys-only by-name index, then one BatchGetItem). Markread is one GetItem of
the message, one of the room and one conditional UpdateItem (and the Query of the reader's
connections, to tell their tabs). The old design wrote one UpdateItem per member (two write
units with the by-user index) for every message. Opening a public room costs one conditional
PutItem per connect (3 units the first time, with its two indexes; 1 unit after). The read
requests of a send in rooms of at most 50 readers include the Query of those readers and one
Query per reader of their connections, for the live `unread` frames; larger rooms read nothing
of their readers. The sidebar is one Query of the user's items and one BatchGetItem of their
rooms, whatever the rooms' sizes.
"""


@dataclass
class Cost:
    requests: dict[str, int] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0  # base tables, as dynalite answered
    computed_units: float = 0.0  # failed conditional writes and index writes

    @property
    def write_requests(self) -> int:
        return sum(n for op, n in self.requests.items() if op in WRITES)

    @property
    def read_requests(self) -> int:
        return sum(n for op, n in self.requests.items() if op not in WRITES)


class Meter:
    """Counts every DynamoDB request of the shared client while `recording`."""

    def __init__(self) -> None:
        from lambdas.models import Member

        self.cost: Cost | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        events = Member._get_connection().connection.client.meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def _before(self, params: dict, model, **kwargs) -> None:
        if model.name in ("DescribeTable", "ListTables", "CreateTable", "DeleteTable"):
            return
        params["ReturnConsumedCapacity"] = "TOTAL"
        self._local.params = params

    def _after(self, http_response, parsed: dict, model, **kwargs) -> None:
        cost = self.cost
        if cost is None or model.name in ("DescribeTable", "ListTables"):
            return
        params = getattr(self._local, "params", {}) or {}
        with self._lock:
            cost.requests[model.name] = cost.requests.get(model.name, 0) + 1
            consumed = parsed.get("ConsumedCapacity")
            items = consumed if isinstance(consumed, list) else [consumed] if consumed else []
            units = sum(float(c.get("CapacityUnits", 0)) for c in items)
            failed = "Error" in parsed
            if model.name in WRITES:
                cost.write_units += units
                table = str(params.get("TableName", "")).rsplit("-", 1)[-1]
                table = (
                    "client-messages" if "client-messages" in params.get("TableName", "") else table
                )
                if failed:
                    cost.computed_units += 1  # a failed conditional write is billed 1 unit
                else:
                    cost.computed_units += INDEX_WRITES.get((table, model.name), 0)
            else:
                cost.read_units += units

    def measure(self, action) -> Cost:
        self.cost = Cost()
        try:
            action()
        finally:
            cost, self.cost = self.cost, None
        return cost


class NullApi:
    """@connections that accepts every post (the bench measures DynamoDB only)."""

    endpoint_url = "https://bench.invalid/local"

    def post_many(self, connection_ids, data):
        from lambdas.management import Posted

        return Posted(delivered=len(list(connection_ids)))

    def post(self, connection_id, data):
        return None

    def get(self, connection_id):
        return {}

    def delete(self, connection_id):
        return None


def _readers(room, count: int, *, kind: str | None) -> None:
    """`count` readers of the room, written in batches (setup, not measured)."""
    from lambdas.models import JOINED, Member, utcnow

    now = utcnow()
    with Member.batch_write() as batch:
        for i in range(count):
            batch.save(
                Member(
                    room.name,
                    f"r{i:05d}",
                    username=f"reader{i:05d}",
                    added_by="bench",
                    added_at=now,
                    kind=JOINED if kind == "joined" else None,
                    read_n=0 if kind == "joined" else None,
                )
            )


def _sender(api, room: str, name: str):
    from lambdas.models import utcnow
    from lambdas.services.connections import connection_open
    from lambdas.tokens import User

    user = User(f"s-{uuid.uuid4().hex[:8]}", name, False)
    connection_id = f"c-{uuid.uuid4().hex[:10]}"
    connection_open(
        api=api, connection_id=connection_id, user=user, room=room, connected_at=utcnow()
    )
    return user, connection_id


def _old_unread():
    """The per-member counter module as it was before read ordinals (git HEAD), to run its
    counting against the same tables: the "before" is measured, not estimated."""
    source = subprocess.run(
        ["git", "show", "HEAD:lambdas/services/unread.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("old_unread")
    exec(compile(source, "HEAD:lambdas/services/unread.py", "exec"), module.__dict__)  # noqa: S102
    return module


def measure_after(meter: Meter) -> dict[int, dict[str, Cost]]:
    return {size: _after_one(meter, size) for size in SIZES}


def _after_one(meter: Meter, size: int) -> dict[str, Cost]:
    from chat.services.rooms import room_create
    from lambdas.models import Message, Room
    from lambdas.services.members import reader_join
    from lambdas.services.messages import message_send
    from lambdas.services.unread import unread_read
    from lambdas.tokens import User

    api = NullApi()
    room = room_create(name=f"public-{size}", title="", description="", created_by="bench-owner")
    _readers(room, size - 1, kind="joined")
    sender, connection_id = _sender(api, room.name, "bench-owner")  # the size-th reader

    def send(text: str) -> None:
        message_send(api=api, connection_id=connection_id, sender=sender, text=text)

    row = {
        "send": meter.measure(lambda: send("hi")),
        "send_mention": meter.measure(lambda: send("@reader00001 look")),
    }
    last = list(Message.query(room.name, scan_index_forward=False, limit=1))[0]
    row["markread"] = meter.measure(
        lambda: unread_read(api=api, room=room.name, user_id="r00001", message_id=last.message_id)
    )
    assert Room.get(room.name).posted == 2
    # Opening the room ($connect): the join's conditional PutItem, stored the first time,
    # refused (and billed 1 unit) every time after; the rest of $connect is left out.
    reader = User(f"j-{uuid.uuid4().hex[:8]}", "joiner", False)
    found = Room.get(room.name)
    join = partial(reader_join, room=found, user_id=reader.user_id, username=reader.username)
    row["join"] = meter.measure(join)
    row["join_again"] = meter.measure(join)
    return row


def measure_before(meter: Meter) -> dict[int, dict[str, Cost]]:
    """The old design's send in a private room of `size` members: the same send, and what the
    old code added to it (a Query of the members, then an UpdateItem per member)."""
    old = _old_unread()
    return {size: _before_one(meter, old, size) for size in BEFORE_SIZES}


def _before_one(meter: Meter, old, size: int) -> dict[str, Cost]:
    from chat.selectors.members import member_list
    from chat.services.rooms import room_create
    from lambdas.models import Member, Message, utcnow
    from lambdas.services import messages as messages_service
    from lambdas.services.connections import connection_open
    from lambdas.tokens import User

    api = NullApi()
    owner = f"o-{uuid.uuid4().hex[:8]}"
    room = room_create(
        name=f"private-{size}",
        title="",
        description="",
        created_by="bench-owner",
        private=True,
        creator_id=owner,
    )
    _readers(room, size - 1, kind=None)
    sender = User(owner, "bench-owner", False)
    connection_id = f"c-{uuid.uuid4().hex[:10]}"
    connection_open(
        api=api, connection_id=connection_id, user=sender, room=room.name, connected_at=utcnow()
    )

    def old_send(text: str, mentioned: frozenset = frozenset()) -> None:
        # The old path: the send without the new counting, then the members read whole and
        # counted one by one (as lambdas/services/messages.py did before).
        # (The old path read the members once, for mentions and counts alike.)
        saved = messages_service.unread_note, messages_service.mentions_check
        messages_service.unread_note = lambda **kwargs: None
        messages_service.mentions_check = lambda **kwargs: {}
        try:
            sent = messages_service.message_send(
                api=api, connection_id=connection_id, sender=sender, text=text
            )
        finally:
            messages_service.unread_note, messages_service.mentions_check = saved
        members = member_list(room=room.name)
        old.unread_note(
            api=api, room=room.name, members=members, message=sent.message, mentioned=mentioned
        )

    row = {
        "send": meter.measure(lambda: old_send("hi")),
        "send_mention": meter.measure(lambda: old_send("@reader00001 look", frozenset({"r00001"}))),
    }
    last = list(Message.query(room.name, scan_index_forward=False, limit=1))[0]
    row["markread"] = meter.measure(
        lambda: old.unread_read(
            api=api, room=room.name, user_id="r00001", message_id=last.message_id
        )
    )
    assert int(Member.get(room.name, "r00002").unread) == 2  # the old counters were written
    return row


def measure_sidebar(meter: Meter) -> Cost:
    from chat.selectors.unread import sidebar_counts
    from chat.services.rooms import room_create
    from lambdas.services.members import reader_join

    user_id = "sidebar-user"
    for i in range(SIDEBAR_ROOMS):
        room = room_create(name=f"side-{i:02d}", title="", description="", created_by="bench")
        reader_join(room=room, user_id=user_id, username="sidebar")
    cost = meter.measure(lambda: sidebar_counts(user_id=user_id, username="sidebar"))
    assert len(sidebar_counts(user_id=user_id, username="sidebar")) == SIDEBAR_ROOMS
    return cost


LABELS = {
    "send": "send a message",
    "send_mention": "send with 1 mention",
    "markread": "markread",
    "join": "open the room: join (first time)",
    "join_again": "open the room again",
}


def _row(design: str, size: int, what: str, cost: Cost) -> str:
    ops = ", ".join(f"{op} {n}" for op, n in sorted(cost.requests.items()))
    return (
        f"| {design} | {size:,} | {what} | {cost.read_requests} | {cost.read_units:g} | "
        f"{cost.write_requests} | {cost.write_units:g} | {cost.computed_units:g} | "
        f"{cost.write_units + cost.computed_units:g} | {ops} |"
    )


def report(after, before, sidebar: Cost, seconds: float) -> str:
    lines = [
        "# Unread counting: DynamoDB cost per message and per read",
        "",
        "Measured by `.venv/bin/python -m bench.unread_cost` against dynalite (in memory, the",
        "template's tables and indexes). Every request asked for `ReturnConsumedCapacity=TOTAL`:",
        "**read units and base-table write units are dynalite's answers** (DynamoDB's rules: 1 KB",
        "write units, 4 KB read units, eventually consistent reads halved). Dynalite counts no",
        "index writes and answers nothing for a failed conditional write, so those are",
        '**computed** (column "computed WU": 1 unit per failed conditional write, and the GSI',
        "writes the template's projections imply, listed in bench/unread_cost.py).",
        "",
        "*After* is this design: public rooms of N joined readers (the sender is one of them),",
        "counts derived from `Room.posted` and each reader's `read_n`. *Before* is the old",
        "per-member counters of private rooms (the only rooms that had counts), measured by",
        "running the old module (`git show HEAD:lambdas/services/unread.py`) over the same",
        "send: the members read whole by one Query, then one UpdateItem per member. Readers in",
        "this bench have no open connections, so no `unread` frames are posted; in rooms of at",
        "most 50 readers each reader costs one more Query (their connections, by-user) when told.",
        "",
        "| design | readers | action | read requests | RU | write requests | WU (dynalite) "
        "| computed WU | total WU | requests |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, row in after.items():
        for what, cost in row.items():
            lines.append(_row("after", size, LABELS[what], cost))
    for size, row in before.items():
        for what, cost in row.items():
            lines.append(_row("before", size, LABELS[what], cost))
    lines.append(_row("after", SIDEBAR_ROOMS, "sidebar counts of 20 rooms", sidebar))
    lines += [
        "",
        textwrap.fill(" ".join(READING.split()), width=96),
        "",
        f"Run took {seconds:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="unread-cost-"))
    configure(work)
    started = time.monotonic()
    server = start_dynalite()
    try:
        meter = Meter()
        after = measure_after(meter)
        before = measure_before(meter)
        sidebar = measure_sidebar(meter)
    finally:
        server.stop()
    text = report(after, before, sidebar, time.monotonic() - started)
    OUTPUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
