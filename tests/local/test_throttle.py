"""A WebSocket API's throttles are per route, not per client: through the local gateway (which
enforces them as API Gateway does), one client flooding a route is cut off after its bucket's
share, and everyone else keeps the route."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from emulator.gateway import LocalGateway, Settings
from emulator.intrinsics import Stack as IntrinsicStack
from emulator.template import load_template, read_api
from emulator.throttles import ACCOUNT, StageThrottles, Throttle, Throttling, stage_throttles
from lambdas.config import RATE_DEFAULTS
from lambdas.models import Connection, Message
from lambdas.services.limits import ROUTE_BUCKETS
from tests.helpers import (
    DEADLINE,
    GATEWAY_MODE,
    ROOT,
    gateway_thread,
    share_thread_variables,
    thread_variables,
    wait_for,
)


def frozen() -> float:
    """The gateway's throttle clock, stopped: a route's budget is its burst for the whole test,
    however fast or slow the machine hands frames on."""
    return 0.0


@dataclass
class Stack:
    gateway: object
    connect: Callable[..., object]


@contextlib.contextmanager
def own_stack(keys, **settings) -> Iterator[Stack]:
    """A gateway of the test's own; its clients are closed and the gateway stopped after, and
    what a thread-mode gateway pointed this process's handlers at is put back."""
    shared = thread_variables()
    runner = gateway_thread(**settings)
    gateway = runner.start()
    with contextlib.ExitStack() as opened:

        def connect(room: str, *, user_id: str, username: str = "someone"):
            token = keys.token(user_id=user_id, username=username)
            url = f"{gateway.websocket_url}?{urlencode({'token': token, 'room': room})}"
            client = ws_connect(url, open_timeout=DEADLINE, close_timeout=2)
            return opened.enter_context(client)

        try:
            yield Stack(gateway, connect)
        finally:
            opened.close()
            runner.stop()
            share_thread_variables(shared)


@pytest.fixture
def stack(dynamodb, keys) -> Iterator[Stack]:
    """The functions run in this process (thread mode), so the test moves their clock."""
    with own_stack(keys, mode="thread") as stack:
        yield stack


def a_user() -> str:
    return f"u-{uuid.uuid4().hex[:10]}"


def until_closed(client) -> list[dict]:
    """Every frame the client gets until the server closes its socket."""
    heard = []
    with pytest.raises(ConnectionClosed):
        while True:
            heard.append(json.loads(client.recv(timeout=DEADLINE)))
    return heard


def say(client, text: str) -> None:
    """Send a message and wait for the room's copy of it to come back to the sender."""
    client.send(json.dumps({"action": "sendmessage", "message": text}))
    while True:
        frame = json.loads(client.recv(timeout=DEADLINE))
        assert frame.get("message") != "Too Many Requests", frame
        assert frame.get("type") != "error", frame
        if frame.get("type") == "message" and frame["text"] == text:
            return


def texts(frames: list[dict]) -> list[str]:
    return [f["text"] for f in frames if f.get("type") == "message"]


def handshake_status(stack: Stack, room: str, user_id: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        stack.connect(room, user_id=user_id)
    return refused.value.response.status_code


def test_a_flooder_is_cut_off_and_the_route_stays_open_for_everyone_else(
    stack, configure, clock, room
):
    """sendmessage may take 20 frames (its burst: the throttle's clock stands still). One client
    sends 200 at once: it hears `rate_limited` for those past its bucket (1/s, bursts of 3) and is
    closed by the server after 5 more refusals, having used 9 of the 20; its user's reconnect is
    refused until the cooldown is over. Another user sends and receives all along, and a third
    hears every message stored."""
    configure(
        RATE_MESSAGES_PER_SECOND=1,
        RATE_MESSAGES_BURST=3,
        FLOOD_REFUSALS_ALLOWED=5,
        FLOOD_COOLDOWN_SECONDS=60,
    )
    throttling = stack.gateway.throttle(
        StageThrottles(routes={"sendmessage": Throttle(rate=5, burst=20)}), clock=frozen
    )
    flooder_id = a_user()
    flooder = stack.connect(room, user_id=flooder_id, username="flood")
    bystander = stack.connect(room, user_id=a_user(), username="calm")
    listener = stack.connect(room, user_id=a_user(), username="ear")

    # When the flooder sends 200 messages at once, and the bystander one while they are handled
    for n in range(200):
        flooder.send(json.dumps({"action": "sendmessage", "message": f"flood {n}"}))
    say(bystander, "calm 1")
    heard = until_closed(flooder)

    # Then the flooder was refused, then closed; nothing it sent was refused by the route
    refusals = [f for f in heard if f.get("code") == "rate_limited"]
    assert len(refusals) == 5, heard  # the 6th refusal's answer went down with the socket
    assert all(0 < f["retry_after"] <= 1 for f in refusals)
    assert "flood 3" not in texts(heard)
    assert throttling.refused == {}  # 9 frames of the flooder and the bystander's: under 20
    assert wait_for(lambda: not list(Connection.user_index.query(flooder_id)))
    assert handshake_status(stack, room, flooder_id) == 429
    say(bystander, "calm 2")
    say(bystander, "calm 3")

    clock[0] += 61  # the cooldown is over, and the flooder's strikes have faded
    back = stack.connect(room, user_id=flooder_id, username="flood")
    say(back, "calm now")
    expected = ["flood 0", "flood 1", "flood 2", "calm 1", "calm 2", "calm 3", "calm now"]
    assert sorted(m.text for m in Message.query(room)) == sorted(expected)
    seen: list[str] = []
    assert wait_for(lambda: seen.extend(texts(drain(listener))) or len(seen) >= len(expected))
    assert sorted(seen) == sorted(expected)
    assert throttling.refused == {}


def drain(client) -> list[dict]:
    """The frames that have arrived already."""
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append(json.loads(client.recv(timeout=0)))
    return frames


def test_without_the_cutoff_one_flooder_takes_the_whole_route(stack, configure, clock, room):
    """The same flood with no cutoff (refusals unlimited) empties sendmessage's budget: the
    bystander's message is refused by the route ("Too Many Requests") and never stored. This
    is what the cutoff prevents."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=3, FLOOD_REFUSALS_ALLOWED=1000000)
    throttling = stack.gateway.throttle(
        StageThrottles(routes={"sendmessage": Throttle(rate=5, burst=20)}), clock=frozen
    )
    flooder = stack.connect(room, user_id=a_user(), username="flood")
    bystander = stack.connect(room, user_id=a_user(), username="calm")
    for n in range(50):
        flooder.send(json.dumps({"action": "sendmessage", "message": f"flood {n}"}))
    answers: list[dict] = []

    def answered() -> bool:
        """Each frame is answered once: its copy, rate_limited, or the route's refusal."""
        answers.extend(drain(flooder))
        return len(answers) >= 50

    assert wait_for(answered), len(answers)
    throttled = [a for a in answers if a.get("message") == "Too Many Requests"]
    assert len(throttled) == 30 and len(texts(answers)) == 3  # 3 stored, 17 rate_limited
    assert throttled[0]["connectionId"] and throttled[0]["requestId"]
    bystander.send(json.dumps({"action": "sendmessage", "message": "calm 1"}))
    answer = {"type": "message"}
    while answer.get("type") == "message":  # the flooder's 3, then the answer to this one
        answer = json.loads(bystander.recv(timeout=DEADLINE))
    assert answer["message"] == "Too Many Requests"
    assert throttling.refused == {"sendmessage": 31}
    assert "calm 1" not in [m.text for m in Message.query(room)]


def test_a_ping_flood_is_cut_off_and_others_keep_pinging(stack, configure, clock, room):
    """ping (4/s, bursts of 8: a quarter in memory first, then the shared bucket): a flooder
    gets 10 pongs and 4 refusals, then is closed; another user's pings are answered."""
    configure(RATE_PING_PER_SECOND=4, RATE_PING_BURST=8, FLOOD_REFUSALS_ALLOWED=4)
    throttling = stack.gateway.throttle(
        StageThrottles(default=Throttle(rate=5, burst=40)), clock=frozen
    )
    flooder = stack.connect(room, user_id=a_user(), username="flood")
    bystander = stack.connect(room, user_id=a_user(), username="calm")
    for _ in range(100):
        flooder.send(json.dumps({"action": "ping"}))
    heard = until_closed(flooder)
    assert [f.get("code", f.get("type")) for f in heard] == ["pong"] * 10 + ["rate_limited"] * 4
    for _ in range(3):
        bystander.send(json.dumps({"action": "ping"}))
        assert json.loads(bystander.recv(timeout=DEADLINE))["type"] == "pong"
    assert throttling.refused == {}


def test_a_throttled_route_answers_as_api_gateway_does(stack, room):
    """Past a route's burst a frame gets API Gateway's Too Many Requests frame and reaches no
    function; past $connect's, the handshake is refused with 429."""
    stack.gateway.throttle(
        StageThrottles(
            default=Throttle(rate=1, burst=2),
            routes={"ping": Throttle(rate=1, burst=1)},
        ),
        clock=frozen,
    )
    client = stack.connect(room, user_id=a_user())
    client.send(json.dumps({"action": "ping"}))
    assert json.loads(client.recv(timeout=DEADLINE))["type"] == "pong"
    client.send(json.dumps({"action": "ping"}))
    refused = json.loads(client.recv(timeout=DEADLINE))
    assert refused["message"] == "Too Many Requests"
    assert set(refused) == {"message", "connectionId", "requestId"}
    stack.connect(room, user_id=a_user())  # $connect's second token
    assert handshake_status(stack, room, a_user()) == 429


def test_the_stage_throttles_are_the_templates():
    """The gateway reads each stage's throttles as the template declares them, and enforces
    them when asked (`--throttle`), not otherwise."""
    api = read_api(load_template())
    assert LocalGateway(api, Settings(throttle=True)).throttling.throttles == api.throttles
    assert LocalGateway(api, Settings()).throttling is None
    for stage in ("dev", "prod"):
        parameters = json.loads((ROOT / "deploy" / "parameters" / f"{stage}.json").read_text())
        parameters = {name: v for name, v in parameters.items() if isinstance(v, str)}
        throttles = read_api(load_template(), parameters=parameters).throttles
        assert throttles.default == Throttle(
            rate=float(parameters["ThrottlingRateLimit"]),
            burst=int(parameters["ThrottlingBurstLimit"]),
        )
        assert throttles.routes == {
            "sendmessage": Throttle(
                rate=float(parameters["SendMessageRateLimit"]),
                burst=int(parameters["SendMessageBurstLimit"]),
            )
        }


# -- the roles the cutoff needs ------------------------------------------------------------------

# A frame of each route, valid or not: either way it takes a token from the route's bucket.
FLOODS = {
    "sendmessage": {"action": "sendmessage", "message": "flood"},
    "editmessage": {"action": "editmessage"},
    "deletemessage": {"action": "deletemessage"},
    "react": {"action": "react"},
    "markread": {"action": "markread"},
    "typing": {"action": "typing"},
    "history": {"action": "history"},
    "presence": {"action": "presence"},
    "ping": {"action": "ping"},
    "$default": {"action": "nothing-of-the-kind"},
}


@pytest.mark.skipif(GATEWAY_MODE != "process", reason="IAM is enforced in process mode only")
def test_every_route_cuts_off_with_the_grants_it_asks_for(configure, dynamodb, keys, room):
    """In execution environments of their own, each function signing as its role as
    template.yaml grants it (`Sid: Limits`, `Sid: CutOff`): a flooder of each route is closed
    and cooled down, and no call was denied."""
    assert set(FLOODS) == set(ROUTE_BUCKETS)
    configure(
        FLOOD_REFUSALS_ALLOWED=1,
        **{f"RATE_{bucket.upper()}_PER_SECOND": 1 for bucket in RATE_DEFAULTS},
        **{f"RATE_{bucket.upper()}_BURST": 1 for bucket in RATE_DEFAULTS},
    )
    with own_stack(keys, template=load_template()) as stack:
        for route, frame in FLOODS.items():
            flooder_id = a_user()
            flooder = stack.connect(room, user_id=flooder_id)
            for _ in range(30):
                flooder.send(json.dumps(frame))
            heard = until_closed(flooder)
            assert any(f.get("code") == "rate_limited" for f in heard), (route, heard)
            assert handshake_status(stack, room, flooder_id) == 429, route
        assert not stack.gateway.iam.denied


def test_a_setting_with_one_limit_takes_the_other_from_the_next_level():
    """RouteSettings giving only a burst take the stage default's rate; a stage default giving
    only a rate takes the account's burst (5,000); a route with no settings has none of its
    own, and draws from the account's quota."""
    stage = {
        "DefaultRouteSettings": {"ThrottlingRateLimit": 50},
        "RouteSettings": {
            "sendmessage": {"ThrottlingBurstLimit": 4},
            "typing": {"ThrottlingRateLimit": "2", "ThrottlingBurstLimit": "3"},
            "history": {"DataTraceEnabled": False},
        },
    }
    throttles = stage_throttles(IntrinsicStack({}), stage)
    assert throttles.default == Throttle(rate=50, burst=ACCOUNT.burst)
    assert throttles.routes == {
        "sendmessage": Throttle(rate=50, burst=4),
        "typing": Throttle(rate=2, burst=3),
    }
    assert throttles.of("history") == throttles.default
    alone = stage_throttles(
        IntrinsicStack({}), {"RouteSettings": {"ping": {"ThrottlingRateLimit": 1}}}
    )
    assert alone.default is None and alone.routes == {"ping": Throttle(rate=1, burst=5_000)}


def test_routes_without_settings_share_the_accounts_quota():
    """With no stage or route settings, every route draws from one bucket, the account's
    (10,000 a second, bursts of 5,000): its burst is spent across routes, not per route."""
    throttling = Throttling(StageThrottles(), clock=frozen)
    taken = [throttling.take("sendmessage" if n % 2 else "$connect") for n in range(ACCOUNT.burst)]
    assert all(taken)
    assert not throttling.take("ping")
    assert throttling.refused == {"ping": 1}


@pytest.mark.parametrize("flag", [[], ["--no-throttle"]])
def test_the_command_line_enforces_the_stages_throttles_unless_told_not_to(tmp_path, flag):
    """`python -m emulator` throttles as the stage says by default (a burst of 1 on $connect,
    refilled once in 100 s: the second handshake is 429); `--no-throttle` lets both in."""
    import os
    import subprocess
    import sys

    from devstack.dynamodb import free_port
    from tests.helpers import ROOT, wait_listening
    from tests.local.test_gateway_auth import HERE, template

    project = tmp_path / "project"
    project.mkdir()
    (project / "functions").symlink_to(HERE / "functions")
    tree = template(tmp_path)
    tree["Resources"]["Stage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": {"Ref": "Api"},
            "StageName": "local",
            "DefaultRouteSettings": {"ThrottlingRateLimit": 0.01, "ThrottlingBurstLimit": 1},
        },
    }
    (project / "template.json").write_text(json.dumps(tree))  # JSON is YAML
    port = free_port()
    command = [sys.executable, "-m", "emulator", "--port", str(port), "--no-tls", *flag]
    command += ["--template", str(project / "template.json")]
    with (tmp_path / "gateway.log").open("w") as out:
        gateway = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
        )
    statuses = []
    try:
        wait_listening(port, gateway)
        for _ in range(2):
            try:
                with ws_connect(f"ws://127.0.0.1:{port}/local", open_timeout=DEADLINE):
                    statuses.append(101)
            except InvalidStatus as refused:
                statuses.append(refused.response.status_code)
    finally:
        gateway.terminate()
        gateway.wait(30)
    assert statuses == ([101, 101] if flag else [101, 429])
