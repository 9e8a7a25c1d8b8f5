"""The embedded dynalite keeps data across restarts, and tables are created only when missing."""

import os
from datetime import timedelta

from devstack.dynamodb import Dynalite, ensure_tables
from lambdas.models import TABLES, Connection, Message, Room, utcnow
from tests.helpers import bind_config


def test_data_survives_a_restart_and_tables_are_not_recreated(tmp_path, dynamodb):
    """A message written before a restart of a persisted dynalite is there after it."""
    path = tmp_path / "dynalite"
    try:
        with Dynalite(path=path) as first:
            bind_config(DYNAMODB_ENDPOINT_URL=first.endpoint_url)
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
            bind_config(DYNAMODB_ENDPOINT_URL=second.endpoint_url)
            assert ensure_tables() == []
            assert [m.text for m in Message.query("lobby")] == ["still here?"]
            assert [c.connection_id for c in Connection.room_index.query("lobby")] == ["c1"]
    finally:
        bind_config()
    assert os.environ["DYNAMODB_ENDPOINT_URL"] == dynamodb


def test_a_kept_table_whose_indexes_changed_is_rebuilt_with_its_items(tmp_path, dynamodb):
    """A rooms table made before the by-status index (dynalite cannot add one) is recreated
    with the index and every item it held; an up-to-date table is left alone."""
    path = tmp_path / "dynalite"
    try:
        with Dynalite(path=path) as server:
            bind_config(DYNAMODB_ENDPOINT_URL=server.endpoint_url)
            client = Room._get_connection().connection.client
            client.create_table(
                TableName=Room.Meta.table_name,
                AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            client.get_waiter("table_exists").wait(
                TableName=Room.Meta.table_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
            )
            for i in range(30):  # more than one BatchWriteItem
                client.put_item(
                    TableName=Room.Meta.table_name,
                    Item={"name": {"S": f"old-{i:02}"}, "archived": {"BOOL": i == 0}},
                )
            assert Room.Meta.table_name in ensure_tables()
            indexes = Room.describe_table()["GlobalSecondaryIndexes"]
            assert [index["IndexName"] for index in indexes] == ["by-status"]
            items = client.scan(TableName=Room.Meta.table_name)["Items"]
            assert sorted(item["name"]["S"] for item in items) == [f"old-{i:02}" for i in range(30)]
            assert {"name": {"S": "old-00"}, "archived": {"BOOL": True}} in items
            assert ensure_tables() == []
    finally:
        bind_config()
