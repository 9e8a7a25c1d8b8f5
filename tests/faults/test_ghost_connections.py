"""Connections that vanished without $disconnect (a killed gateway) never lock their user out."""

from __future__ import annotations

import contextlib
import os
import uuid
from urllib.parse import urlencode

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from devstack.dynamodb import free_port
from lambdas.models import Connection
from tests.helpers import DEADLINE, GatewayProcess

CAP = 10


@pytest.fixture
def gateway_process(dynamodb, keys, tmp_path):
    """A real gateway process with a per-user cap of 10; the test may kill and restart it."""
    env = {**os.environ, "MAX_CONNECTIONS_PER_USER": str(CAP)}
    gateway = GatewayProcess(port=free_port(), log=tmp_path / "gateway.log", env=env)
    yield gateway.start()
    gateway.stop()


def test_a_killed_gateways_ghosts_leave_their_user_room_at_once(gateway_process, keys, room):
    """10 sockets at the cap, gateway SIGKILLed, restarted: 10 connect again; the 11th is 429."""
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    url = f"{gateway_process.websocket_url}?" + urlencode(
        {"token": keys.token(user_id=user_id, username="tabs"), "room": room}
    )

    def open_tabs(count: int, into: contextlib.ExitStack) -> None:
        for _ in range(count):
            into.enter_context(connect(url, open_timeout=DEADLINE, close_timeout=1))

    def refused_status() -> int:
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=DEADLINE)
        return refused.value.response.status_code

    with contextlib.ExitStack() as first:
        open_tabs(CAP, first)
        # Every counted connection is live: the cap holds.
        assert refused_status() == 429
        # Given a crash: nothing closes the sockets, no $disconnect runs, the items stay.
        gateway_process.kill()
    ghosts = {c.connection_id for c in Connection.user_index.query(user_id)}
    assert len(ghosts) == CAP

    gateway_process.start()
    with contextlib.ExitStack() as second:
        open_tabs(CAP, second)  # at once: well inside the 30 s grace, still admitted
        assert refused_status() == 429  # ... and the new ones count
        live = {c.connection_id for c in Connection.user_index.query(user_id)} - ghosts
        assert len(live) == CAP
