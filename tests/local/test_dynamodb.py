"""The embedded dynalite keeps data across restarts, and tables are created only when missing."""

import os
from datetime import timedelta

from lambdas.local.dynamodb import Dynalite, ensure_tables
from lambdas.models import TABLES, Connection, Message, utcnow
from tests.helpers import reconfigure


def test_data_survives_a_restart_and_tables_are_not_recreated(tmp_path, monkeypatch, dynamodb):
    """A message written before a restart of a persisted dynalite is there after it."""
    path = tmp_path / "dynalite"
    try:
        with Dynalite(path=path) as first:
            monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", first.endpoint_url)
            reconfigure()
            assert sorted(ensure_tables()) == sorted(m.Meta.table_name for m in TABLES)
            now = utcnow()
            Message(
                "lobby",
                "01JABCDEFGHJKMNPQRSTVWXYZ0",
                user_id="1",
                username="alice",
                text="still here?",
                sent_at=now,
            ).save()
            Connection(
                "c1",
                user_id="1",
                username="alice",
                room="lobby",
                connected_at=now,
                expires_at=now + timedelta(hours=2),
            ).save()
        with Dynalite(path=path) as second:
            monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", second.endpoint_url)
            reconfigure()
            assert ensure_tables() == []
            assert [m.text for m in Message.query("lobby")] == ["still here?"]
            assert [c.connection_id for c in Connection.room_index.query("lobby")] == ["c1"]
    finally:
        monkeypatch.undo()
        reconfigure()
    assert os.environ["DYNAMODB_ENDPOINT_URL"] == dynamodb
