"""The local replicator keeps two "Regions'" dynalites in step as MREC global tables do: an item
written in A appears in B after the lag (not before), whole, deletes too, batches item by
item; concurrent writes of one item end as the last writer's in both;
tables left out stay per Region; an isolated Region's writes wait until it is back."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from devstack.dynamodb import Dynalite
from devstack.replicator import Replicator, ReplicatorThread, tables_ending

LAG = 0.5


def client(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def region_b():
    with Dynalite() as server:
        yield server.endpoint_url


@pytest.fixture
def regions(dynamodb, region_b):
    """Regions A (the session's dynalite) and B, a replicated table and a per-Region one in
    each; yields (A's client, B's client, the replicator, the two tables' names)."""
    prefix = f"repl-{uuid.uuid4().hex[:8]}"
    tables = (f"{prefix}-rooms", f"{prefix}-connections")
    for endpoint in (dynamodb, region_b):
        for table in tables:
            client(endpoint).create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
    replicator = Replicator(
        {"A": dynamodb, "B": region_b}, lag=LAG, replicated=tables_ending("rooms", "messages")
    )
    runner = ReplicatorThread(replicator)
    runner.start()
    # Writes go through each Region's endpoint; reads straight from its dynalite (a read that
    # passed through would be relayed the same).
    through = {r: client(replicator.endpoint(r)) for r in ("A", "B")}
    direct = {"A": client(dynamodb), "B": client(region_b)}
    yield SimpleRegions(through, direct, replicator, runner, *tables)
    runner.stop()


class SimpleRegions:
    def __init__(self, through, direct, replicator, runner, replicated, local):
        self.through, self.direct = through, direct
        self.replicator, self.runner = replicator, runner
        self.replicated, self.local = replicated, local

    def item(self, region: str, pk: str, table: str | None = None) -> dict | None:
        found = self.direct[region].get_item(
            TableName=table or self.replicated, Key={"pk": {"S": pk}}, ConsistentRead=True
        )
        return found.get("Item")

    def settle(self) -> None:
        self.runner.call(self.replicator.settled())


def test_an_item_written_in_a_appears_in_b_after_the_lag(regions):
    regions.through["A"].put_item(
        TableName=regions.replicated, Item={"pk": {"S": "general"}, "title": {"S": "General"}}
    )
    written = time.monotonic()
    assert regions.item("B", "general") is None  # not before the lag
    regions.settle()
    assert time.monotonic() - written >= LAG * 0.9
    assert regions.item("B", "general") == {"pk": {"S": "general"}, "title": {"S": "General"}}


def test_an_add_arrives_as_its_result_and_a_delete_as_a_delete(regions):
    a = regions.through["A"]
    for _ in range(3):
        a.update_item(
            TableName=regions.replicated,
            Key={"pk": {"S": "r"}},
            UpdateExpression="ADD seq :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    regions.settle()
    assert regions.item("B", "r")["seq"] == {"N": "3"}
    a.delete_item(TableName=regions.replicated, Key={"pk": {"S": "r"}})
    regions.settle()
    assert regions.item("B", "r") is None


def test_batches_replicate_item_by_item_both_ways(regions):
    """(dynalite has no transactions: TransactWriteItems is captured the same way, untested.)"""
    regions.through["A"].batch_write_item(
        RequestItems={
            regions.replicated: [{"PutRequest": {"Item": {"pk": {"S": f"b{n}"}}}} for n in (1, 2)]
        }
    )
    regions.through["B"].batch_write_item(
        RequestItems={
            regions.replicated: [
                {"PutRequest": {"Item": {"pk": {"S": "c1"}, "v": {"S": "x"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "b9"}}}},
            ]
        }
    )
    regions.settle()
    assert regions.item("B", "b1") and regions.item("B", "b2")
    assert regions.item("A", "c1") == {"pk": {"S": "c1"}, "v": {"S": "x"}}
    assert regions.replicator.counts.captured == 4


def test_a_write_in_b_after_as_is_kept_in_both(regions):
    # Given A writes, and B writes the same item before A's write reaches it
    regions.through["A"].put_item(
        TableName=regions.replicated, Item={"pk": {"S": "x"}, "by": {"S": "A"}}
    )
    regions.through["B"].put_item(
        TableName=regions.replicated, Item={"pk": {"S": "x"}, "by": {"S": "B"}}
    )
    regions.settle()
    # Then B's, the later, wins in both Regions; A's image was dropped on arrival in B
    assert regions.item("A", "x")["by"] == regions.item("B", "x")["by"] == {"S": "B"}
    assert regions.replicator.counts.superseded >= 1


def test_tables_left_out_stay_per_region(regions):
    regions.through["A"].put_item(TableName=regions.local, Item={"pk": {"S": "c-1"}})
    regions.settle()
    time.sleep(LAG * 1.5)
    assert regions.item("A", "c-1", regions.local) and not regions.item("B", "c-1", regions.local)


def test_an_isolated_regions_writes_wait_until_it_is_back(regions):
    regions.replicator.isolate("A")
    regions.through["A"].put_item(TableName=regions.replicated, Item={"pk": {"S": "late"}})
    time.sleep(LAG * 2)
    assert regions.item("B", "late") is None and regions.replicator.counts.held == 1
    regions.runner.call(regions.replicator.reconnect("A"))
    regions.settle()
    assert regions.item("B", "late") == {"pk": {"S": "late"}}


@pytest.fixture
def numbering(dynamodb, region_b, configure):
    """Regions A (the session's dynalite) and B with the stage's tables, rooms and messages
    replicated: (the replicator, its thread, in_region(region, AWS Region name): this process's
    configuration pointed at that Region's endpoint, as its functions would be)."""
    from devstack.dynamodb import ensure_tables

    configure(DYNAMODB_ENDPOINT_URL=region_b)
    ensure_tables()  # Region B's tables, as the stack's second Region has them
    replicator = Replicator(
        {"A": dynamodb, "B": region_b}, lag=0.2, replicated=tables_ending("rooms", "messages")
    )
    runner = ReplicatorThread(replicator)
    runner.start()

    def in_region(region: str, name: str) -> None:
        configure(DYNAMODB_ENDPOINT_URL=replicator.endpoint(region), AWS_REGION=name)

    yield replicator, runner, in_region
    runner.stop()


def test_change_numbers_never_repeat_across_a_failover_and_back(numbering):
    """The write model end to end (docs/multi-region.md): A takes 1..3 (replicated) and 4..5
    (not: A fails first); B, taking over, jumps past them; failing back, A jumps again."""
    from lambdas.models import Room, utcnow
    from lambdas.services.changes import TAKEOVER_JUMP, change_number

    replicator, runner, in_region = numbering
    in_region("A", "us-east-1")
    room = f"room-{uuid.uuid4().hex[:12]}"
    Room(room, title="", created_by="test", created_at=utcnow()).save()
    taken = [change_number(room=room).rev for _ in range(3)]
    runner.call(replicator.settled())
    replicator.isolate("A")
    taken += [change_number(room=room).rev for _ in range(2)]  # never leave A
    in_region("B", "us-west-2")
    taken += [change_number(room=room).rev for _ in range(2)]
    runner.call(replicator.reconnect("A"))  # A is back: its late writes lose to B's
    runner.call(replicator.settled())
    in_region("A", "us-east-1")
    taken += [change_number(room=room).rev]
    assert taken == [1, 2, 3, 4, 5, 3 + TAKEOVER_JUMP, 4 + TAKEOVER_JUMP, 4 + 2 * TAKEOVER_JUMP]


def test_change_numbers_never_repeat_when_both_regions_write(numbering):
    """Split brain (docs/multi-region.md, "The fence"): A and B cut off from each other, B takes
    the room over and gives ten numbers, A goes on writing; when they reconnect, A's later room
    item wins in B (last writer wins) at a number far below B's. B's next takeover must jump
    from the highest number its own table holds, not from that item: no number twice."""
    from lambdas.models import Message, Room, utcnow
    from lambdas.services.changes import TAKEOVER_JUMP, change_number, numbered

    replicator, runner, in_region = numbering

    def changes(count: int) -> list[int]:
        """`count` messages stored, each under the number it took, as message_send does."""
        taken = []
        for _ in range(count):
            change = change_number(room=room, message=True)
            message = Message(room, uuid.uuid4().hex, user_id="1", username="alice", text="x")
            message.sent_at = utcnow()
            actions, condition = numbered(change)
            message.save()
            message.update(actions=actions, condition=condition)
            taken.append(change.rev)
        return taken

    in_region("A", "us-east-1")
    room = f"room-{uuid.uuid4().hex[:12]}"
    Room(room, title="", created_by="test", created_at=utcnow()).save()
    taken = changes(3)
    runner.call(replicator.settled())
    # Given the Regions lose each other: B takes the room over, A goes on writing after it
    replicator.isolate("A")
    replicator.isolate("B")
    taken += changes(2)
    in_region("B", "us-west-2")
    in_b = changes(10)
    assert in_b == list(range(3 + TAKEOVER_JUMP, 13 + TAKEOVER_JUMP))
    in_region("A", "us-east-1")
    taken += in_b + changes(2)
    # When they are back: B's room item loses in A, A's (written later, at 7) wins in B
    runner.call(replicator.reconnect("B"))
    runner.call(replicator.settled())
    runner.call(replicator.reconnect("A"))
    runner.call(replicator.settled())
    in_region("B", "us-west-2")
    assert (Room.get(room, consistent_read=True).seq, Room.get(room).seq_region) == (
        7,
        "us-east-1",
    )
    # Then B's next number jumps past its own, not from 7 (7 + 10^6 was given already)
    taken += changes(2)
    assert taken[-2:] == [12 + 2 * TAKEOVER_JUMP, 13 + 2 * TAKEOVER_JUMP]
    assert len(taken) == len(set(taken)), "a change number was given twice"


def test_the_fence_hands_the_stage_over_through_the_replicated_marker(
    dynamodb, region_b, configure
):
    """The fence end to end (docs/multi-region.md): B, finding A's health route failing, claims
    the stage; the marker reaches A as any item does, and A, finding B healthy, refuses writes
    from then on and tells Route 53 it is passive."""
    import json

    from devstack.dynamodb import ensure_tables
    from lambdas.errors import RegionMoved
    from lambdas.handlers import health
    from lambdas.models import ActiveRegion, Room, utcnow
    from lambdas.services.changes import TAKEOVER_JUMP, change_number
    from lambdas.services.fence import MARKER_KEY, region_marker
    from tests.helpers import load_event
    from tests.lambdas.test_fence import PeerHealth

    def no_marker() -> None:
        for endpoint in (dynamodb, region_b):
            configure(DYNAMODB_ENDPOINT_URL=endpoint)
            ActiveRegion(MARKER_KEY).delete()

    configure(DYNAMODB_ENDPOINT_URL=region_b)
    ensure_tables()
    no_marker()
    replicator = Replicator(
        {"A": dynamodb, "B": region_b}, lag=0.2, replicated=tables_ending("rooms", "messages")
    )
    runner = ReplicatorThread(replicator)
    runner.start()
    health_of = {"A": PeerHealth(), "B": PeerHealth()}  # each Region's route, as the other sees it
    names = {"A": "us-east-1", "B": "us-west-2"}
    try:

        def in_region(region: str) -> None:
            other = "B" if region == "A" else "A"
            configure(
                DYNAMODB_ENDPOINT_URL=replicator.endpoint(region),
                AWS_REGION=names[region],
                PRIMARY_REGION=names["A"],
                PEER_HEALTH_URL=health_of[other].url,
            )

        in_region("A")
        room = f"room-{uuid.uuid4().hex[:12]}"
        Room(room, title="", created_by="test", created_at=utcnow()).save()
        taken = [change_number(room=room).rev for _ in range(3)]
        runner.call(replicator.settled())
        # Given A fails: its health route answers 503, its writes stop replicating
        replicator.isolate("A")
        health_of["A"].status = 503
        # When B takes a number, it claims the stage, then takes the room over
        in_region("B")
        taken += [change_number(room=room).rev for _ in range(2)]
        assert (region_marker().region, region_marker().epoch) == (names["B"], 1)
        runner.call(replicator.settled())
        # Then A, with B's marker in its replica and B answering, takes no number
        in_region("A")
        with pytest.raises(RegionMoved):
            change_number(room=room)
        answer = health.handler(load_event("function-url-health"), None)
        assert answer["statusCode"] == 503
        assert json.loads(answer["body"])["error"] == "passive"
        assert taken == [1, 2, 3, 3 + TAKEOVER_JUMP, 4 + TAKEOVER_JUMP]
    finally:
        for server in health_of.values():
            server.close()
        runner.stop()
        no_marker()
