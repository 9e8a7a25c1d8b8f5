"""A connection whose $disconnect never ran is cleaned up: 410 on fan-out, TTL, presence."""

import json

from emulator.gateway import LocalGateway
from lambdas.models import Connection
from tests.helpers import recv_json, wait_for


def test_a_lost_disconnect_is_cleaned_up_by_the_next_fan_out(gateway, connect, room, monkeypatch):
    """The orphaned item answers 410 on fan-out, is deleted, and leaves presence."""
    alice = connect(room, user_id="31", username="alice")
    ghost = connect(room, user_id="32", username="ghost")
    (ghost_id,) = [
        c.connection_id for c in Connection.room_index.query(room) if c.username == "ghost"
    ]

    async def lost(self, api, client):  # API Gateway's $disconnect is best effort
        return None

    monkeypatch.setattr(LocalGateway, "_disconnect", lost)
    ghost.close()
    assert wait_for(lambda: ghost_id not in gateway.clients)
    assert Connection.get(ghost_id)  # the item outlived its socket
    monkeypatch.undo()

    # Backdate the orphan past the grace a connection gets while its $connect runs.
    from datetime import timedelta

    item = Connection.get(ghost_id)
    item.update(actions=[Connection.connected_at.set(item.connected_at - timedelta(minutes=5))])
    alice.send(json.dumps({"action": "sendmessage", "message": "anyone?"}))
    assert recv_json(alice)["text"] == "anyone?"
    assert wait_for(lambda: not list(Connection.query(ghost_id)))
    alice.send(json.dumps({"action": "presence"}))
    assert [u["username"] for u in recv_json(alice, skip=())["users"]] == ["alice"]
