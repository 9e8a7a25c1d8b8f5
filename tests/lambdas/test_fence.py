"""The split-brain fence (docs/multi-region.md, "The fence"): without PRIMARY_REGION nothing
changes and nothing is read; with it, a warm container reads the active-Region marker once per
FENCE_TTL_SECONDS, a Region that is not active refuses change numbers (`region_moved`, the
sender's socket told and closed) while the active one answers its health route, and claims the
stage, once, when it does not; the primary's health route says `passive` while it is not active."""

from __future__ import annotations

import json
import uuid

import pytest

from lambdas.config import ConfigError, get_config, load_config
from lambdas.errors import InvalidRoom, RegionMoved
from lambdas.handlers import health, sendmessage
from lambdas.models import OPEN, ActiveRegion, Message, Room, utcnow
from lambdas.services.changes import TAKEOVER_JUMP, change_number
from lambdas.services.fence import (
    MARKER_KEY,
    Fence,
    Marker,
    fence_use,
    region_mark,
    region_marker,
)
from lambdas.services.rooms import room_check, rooms_backfill
from tests.helpers import Clock, PeerHealth, load_event
from tests.lambdas.test_handlers import CONTEXT, body, joined, message_event

PRIMARY, SECONDARY = "us-east-1", "us-west-2"


@pytest.fixture
def peer():
    server = PeerHealth()
    yield server
    server.close()


@pytest.fixture
def marker(dynamodb):
    """The session's stage has no marker before and after each test (the primary is active)."""
    ActiveRegion(MARKER_KEY).delete()
    yield
    ActiveRegion(MARKER_KEY).delete()


@pytest.fixture
def fenced(configure, peer, marker):
    """`fenced(region)`: the functions run in `region` of a two-Region stage whose primary is
    PRIMARY and whose other Region's health route is `peer`; returns the container's fence,
    on a clock the test moves."""

    def in_region(region: str, *, ttl: int = 5) -> Fence:
        configure(
            AWS_REGION=region,
            PRIMARY_REGION=PRIMARY,
            PEER_HEALTH_URL=peer.url,
            FENCE_TTL_SECONDS=ttl,
        )
        container = Fence(get_config(), clock=Clock())
        fence_use(container)
        return container

    yield in_region
    fence_use(None)


@pytest.fixture
def requests(dynamodb):
    """`requests()`: start recording the DynamoDB operations (by name, in order) made through
    the models' shared client from now on: call it after configuring, which makes a new one."""
    watched = []

    def watch() -> list[str]:
        calls: list[str] = []
        events = Room._get_connection().connection.client.meta.events
        unique_id = f"test-fence-{len(watched)}"
        events.register(
            "before-call.dynamodb", lambda model, **_: calls.append(model.name), unique_id=unique_id
        )
        watched.append((events, unique_id))
        return calls

    yield watch
    for events, unique_id in watched:
        events.unregister("before-call.dynamodb", unique_id=unique_id)


def seq_of(room: str) -> int:
    return int(Room.get(room, consistent_read=True).seq or 0)


# -- configuration -------------------------------------------------------------------------------


def test_a_primary_needs_the_other_regions_health_url():
    with pytest.raises(ConfigError, match="PEER_HEALTH_URL"):
        load_config({"PRIMARY_REGION": PRIMARY})
    with pytest.raises(ConfigError, match="http"):
        load_config({"PRIMARY_REGION": PRIMARY, "PEER_HEALTH_URL": "file:///etc/passwd"})
    config = load_config({})
    assert (config.fenced, config.primary_region, config.fence_ttl_seconds) == (False, None, 5)


# -- the hot path's cost -------------------------------------------------------------------------


def test_without_a_primary_the_fence_reads_nothing(room, configure, requests, marker):
    configure(AWS_REGION=SECONDARY)
    region_mark(region="eu-west-1", seen=None)  # even a marker naming another is not read
    calls = requests()
    assert [change_number(room=room).rev for _ in range(3)] == [1, 2, 3]
    assert calls == ["UpdateItem"] * 3


def test_a_warm_container_reads_the_marker_once_per_ttl(room, fenced, requests, peer):
    container = fenced(PRIMARY)
    calls = requests()
    taken = [change_number(room=room).rev for _ in range(5)]
    # One GetItem (the marker: absent, so the primary is active), then only the numbers
    assert taken == [1, 2, 3, 4, 5]
    assert calls == ["GetItem"] + ["UpdateItem"] * 5
    container.clock.now += 4.9  # within FENCE_TTL_SECONDS: nothing more
    change_number(room=room)
    container.clock.now += 0.1  # FENCE_TTL_SECONDS after the read: read again, once
    calls.clear()
    change_number(room=room)
    change_number(room=room)
    assert calls == ["GetItem", "UpdateItem", "UpdateItem"]
    assert peer.probes == 0  # the active Region never probes the other


# -- refusing, and claiming ----------------------------------------------------------------------


def test_a_region_that_is_not_active_refuses_while_the_active_one_answers(room, fenced, peer):
    # Given the primary is active (no marker) and answers its health route
    fenced(SECONDARY)
    # Then the secondary takes no number, and probes the primary once per TTL
    for _ in range(3):
        with pytest.raises(RegionMoved) as refused:
            change_number(room=room)
    assert refused.value.code == "region_moved" and "reconnect" in refused.value.message
    assert seq_of(room) == 0 and region_marker(consistent=True) is None
    assert peer.probes == 1


@pytest.mark.parametrize("failure", ["unhealthy", "passive", "down"])
def test_a_region_claims_the_stage_when_the_active_one_does_not_answer(room, fenced, peer, failure):
    # Given the primary answers 503 (unhealthy, or passive: it says itself it is not active),
    # or nothing listens where its health route was (a refused connection)
    peer.status = 503
    container = fenced(SECONDARY)
    if failure == "down":
        peer.close()
    # When the secondary takes a number
    assert change_number(room=room).rev == 1
    # Then it named itself the active Region, epoch 1, and takes the next without reading
    stored = region_marker(consistent=True)
    assert (stored.region, stored.epoch) == (SECONDARY, 1)
    assert container._marker[1] == stored
    assert change_number(room=room).rev == 2


def test_concurrent_claims_in_one_region_write_the_marker_once(room, fenced, peer, configure):
    # Given two containers of the secondary, both having read no marker, the primary down
    peer.status = 503
    first = fenced(SECONDARY)
    second = Fence(get_config(), clock=Clock())
    assert first._cached_marker() is None and second._cached_marker() is None
    # When both claim
    first.check()
    second.check()  # its conditional write fails: it reads the marker, names its Region
    # Then one write, epoch 1, and both take numbers
    stored = region_marker(consistent=True)
    assert (stored.region, stored.epoch) == (SECONDARY, 1)
    assert second._marker[1] == stored


def test_the_primary_refuses_once_the_secondary_took_over(room, fenced, peer):
    # Given the secondary claimed the stage and answers its health route
    region_mark(region=SECONDARY, seen=None)
    peer.region = SECONDARY
    fenced(PRIMARY)
    with pytest.raises(RegionMoved):
        change_number(room=room)
    # And if the secondary then stops answering, the primary claims it back (epoch 2)
    peer.status = 503
    fenced(PRIMARY)
    assert change_number(room=room).rev == 1
    assert region_marker(consistent=True) == Marker(PRIMARY, 2, region_marker(consistent=True).at)


def test_a_marker_read_is_trusted_for_the_ttl_only(room, fenced, peer):
    """A container that read "primary active" goes on taking numbers for up to FENCE_TTL_SECONDS
    after another Region claimed: that, plus the replication lag, is the fence's window."""
    container = fenced(PRIMARY)
    change_number(room=room)
    region_mark(region=SECONDARY, seen=None)
    peer.region = SECONDARY
    change_number(room=room)  # still within the TTL
    container.clock.now += 5
    with pytest.raises(RegionMoved):
        change_number(room=room)


# -- the sendmessage route -----------------------------------------------------------------------


def test_a_refused_send_is_told_to_reconnect_and_its_socket_closed(room, fenced, api):
    fenced(SECONDARY)
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}")
    frame = {"action": "sendmessage", "message": "hello", "clientMessageId": "cm-moved-1"}
    response = sendmessage.handler(message_event(frame, connection_id), CONTEXT)
    # Then the error frame was posted to the sender (a route's answer would find the socket
    # closed), the socket closed, and nothing stored
    assert response == {"statusCode": 421}
    [told] = api.posts[connection_id]
    assert told["type"] == "error" and told["code"] == "region_moved"
    assert told["client_message_id"] == "cm-moved-1" and told["action"] == "sendmessage"
    assert "reconnect" in told["message"]
    assert api.deleted == [connection_id]
    assert list(Message.query(room)) == []


def test_a_refused_send_whose_socket_cannot_be_closed_answers_the_frame(room, fenced, api):
    fenced(SECONDARY)
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}")
    api.failing.add(connection_id)  # posts time out

    def refuse(connection_id: str) -> None:
        raise ConnectionError("no answer")

    api.delete = refuse
    frame = {"action": "sendmessage", "message": "hello", "clientMessageId": "cm-moved-2"}
    response = sendmessage.handler(message_event(frame, connection_id), CONTEXT)
    assert response["statusCode"] == 421
    assert body(response)["code"] == "region_moved"


# -- the health route ----------------------------------------------------------------------------


def health_answer() -> tuple[int, dict]:
    answer = health.handler(load_event("function-url-health"), None)
    return answer["statusCode"], json.loads(answer["body"])


def test_the_primary_is_passive_while_the_marker_names_the_other(fenced):
    fenced(PRIMARY)
    assert health_answer() == (200, {"ok": True, "region": PRIMARY})
    region_mark(region=SECONDARY, seen=None)
    assert health_answer() == (
        503,
        {"ok": False, "region": PRIMARY, "error": "passive", "active": SECONDARY},
    )
    # Failback by hand hands the stage back (the secondary still active): healthy, so that
    # Route 53 sends clients back before the primary takes the writes
    region_mark(region=SECONDARY, seen=region_marker(consistent=True), handover=PRIMARY)
    assert health_answer() == (200, {"ok": True, "region": PRIMARY})
    # and names it active once complete: healthy
    region_mark(region=PRIMARY, seen=region_marker(consistent=True))
    assert health_answer() == (200, {"ok": True, "region": PRIMARY})


def test_a_region_handed_the_stage_back_takes_it_with_its_first_change(room, fenced, peer):
    """Failback's hand-over (deploy/failback.py): the secondary goes on taking the writes until
    a client reaches the primary, whose first change takes the stage back without probing the
    secondary (healthy, and active until then); the secondary then refuses."""
    region_mark(region=SECONDARY, seen=None)
    region_mark(region=SECONDARY, seen=region_marker(consistent=True), handover=PRIMARY)
    peer.region = SECONDARY  # healthy: the probe would refuse
    fenced(SECONDARY)
    assert change_number(room=room).rev == 1  # the secondary is still the active one
    fenced(PRIMARY)
    assert change_number(room=room).rev == 1 + TAKEOVER_JUMP  # and the room, with the jump
    assert peer.probes == 0
    taken = region_marker(consistent=True)
    assert (taken.region, taken.epoch, taken.handover) == (PRIMARY, 3, None)
    peer.region = PRIMARY
    fenced(SECONDARY)
    with pytest.raises(RegionMoved):
        change_number(room=room)


def test_the_secondary_is_healthy_whenever_it_reads_its_table(fenced):
    fenced(SECONDARY)
    assert health_answer() == (200, {"ok": True, "region": SECONDARY})
    region_mark(region=SECONDARY, seen=None)
    assert health_answer() == (200, {"ok": True, "region": SECONDARY})


def test_the_health_route_reads_only_the_marker(fenced, requests):
    fenced(PRIMARY)
    calls = requests()
    health_answer()
    assert calls == ["GetItem"]


# -- the marker among rooms ----------------------------------------------------------------------


def test_the_marker_is_never_taken_for_a_room(marker, dynamodb):
    """It shares the rooms table under a key no room name can take, and has no status: the
    deploy's backfill (the one Scan of rooms) leaves it alone, and no list of rooms holds it."""
    region_mark(region=SECONDARY, seen=None)
    rooms_backfill()
    raw = ActiveRegion._get_connection().get_item(MARKER_KEY, consistent_read=True)["Item"]
    assert set(raw) == {"name", "region", "epoch", "at"}
    assert MARKER_KEY not in {room.name for room in Room.status_index.query(OPEN)}
    with pytest.raises(InvalidRoom):
        room_check(MARKER_KEY)


def test_a_takeover_jumps_past_the_highest_number_stored_here(room, configure):
    """The room's item may hold a lower number than the Region's own messages (split brain,
    last writer wins): the jump starts from the higher."""
    configure(AWS_REGION=PRIMARY)
    change_number(room=room)
    Message(
        room,
        f"m-{uuid.uuid4().hex}",
        user_id="1",
        username="alice",
        text="x",
        sent_at=utcnow(),
        rev=5 + TAKEOVER_JUMP,  # a number this Region gave after an earlier takeover
    ).save()
    # Given the room's item came back as the other Region's, at a lower number
    Room(room).update(actions=[Room.seq.set(7), Room.seq_region.set(SECONDARY)])
    assert change_number(room=room).rev == 5 + 2 * TAKEOVER_JUMP


def test_through_the_gateway_the_sender_hears_region_moved_then_its_socket_closes(
    connect, room, configure, peer, marker
):
    """Real sockets on the local gateway: the refused sender reads the frame, then the close
    (the @connections DELETE); someone else in the room hears nothing."""
    from websockets.exceptions import ConnectionClosed

    from tests.helpers import recv_json

    # Given the gateway's functions (in us-east-1, as the emulator runs them) are the secondary
    # of a stage whose primary, us-west-2, is active (no marker) and answers
    configure(PRIMARY_REGION=SECONDARY, PEER_HEALTH_URL=peer.url)
    other = connect(room, user_id="8", username="erin")
    sender = connect(room, user_id="9", username="finn")
    sender.send(json.dumps({"action": "sendmessage", "message": "hi", "clientMessageId": "cm-g"}))
    frames = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frames.append(recv_json(sender))
    refused = [f for f in frames if f.get("type") != "presence"]
    assert [(f["type"], f["code"], f["client_message_id"]) for f in refused] == [
        ("error", "region_moved", "cm-g")
    ]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    with pytest.raises(TimeoutError):
        while True:
            frame = json.loads(other.recv(timeout=0.5))
            assert frame.get("type") == "presence", frame
    assert list(Message.query(room)) == []
