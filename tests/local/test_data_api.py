"""The local RDS Data API (devstack/data_api.py) answers boto3's `rds-data` client as AWS does:
typed parameters and records, AWS-shaped errors, transactions, injected failures."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.data_api import DataApi, statement

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:local"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:local"


@pytest.fixture
def rds(data_api: DataApi):
    client = boto3.client("rds-data", endpoint_url=data_api.endpoint_url, region_name="us-east-1")

    def call(operation: str, **kwargs):
        return getattr(client, operation)(resourceArn=CLUSTER, secretArn=SECRET, **kwargs)

    return call


@pytest.fixture
def table(rds) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    rds("execute_statement", sql=f"CREATE TABLE {name} (id bigint PRIMARY KEY, note text)")
    return name


def test_typed_parameters_come_back_as_typed_fields(rds):
    answer = rds(
        "execute_statement",
        sql="SELECT :s AS s, :n AS n, :d AS d, :b AS b, :z AS z, :t AS t, '50%' AS p, 1::int AS c",
        parameters=[
            {"name": "s", "value": {"stringValue": "it's"}},
            {"name": "n", "value": {"longValue": 2**40}},
            {"name": "d", "value": {"doubleValue": 1.5}},
            {"name": "b", "value": {"booleanValue": True}},
            {"name": "z", "value": {"isNull": True}},
            {"name": "t", "value": {"stringValue": "2026-12-07 12:00:00"}, "typeHint": "TIMESTAMP"},
        ],
        includeResultMetadata=True,
    )
    assert answer["records"] == [
        [
            {"stringValue": "it's"},
            {"longValue": 2**40},
            {"doubleValue": 1.5},
            {"booleanValue": True},
            {"isNull": True},
            {"stringValue": "2026-12-07 12:00:00"},
            {"stringValue": "50%"},
            {"longValue": 1},
        ]
    ]
    assert [c["name"] for c in answer["columnMetadata"]] == ["s", "n", "d", "b", "z", "t", "p", "c"]
    assert answer["columnMetadata"][5]["typeName"] == "timestamp"


def test_writes_count_their_rows_and_json_records_read_back(rds, table):
    insert = f"INSERT INTO {table} (id, note) VALUES (:id, :note)"
    rows = [
        [
            {"name": "id", "value": {"longValue": n}},
            {"name": "note", "value": {"stringValue": f"#{n}"}},
        ]
        for n in (1, 2, 3)
    ]
    batch = rds("batch_execute_statement", sql=insert, parameterSets=rows)
    assert len(batch["updateResults"]) == 3
    updated = rds("execute_statement", sql=f"UPDATE {table} SET note = note || '!' WHERE id > 1")
    assert updated["numberOfRecordsUpdated"] == 2
    read = rds(
        "execute_statement", sql=f"SELECT id, note FROM {table} ORDER BY id", formatRecordsAs="JSON"
    )
    assert read["formattedRecords"] == (
        '[{"id": 1, "note": "#1"}, {"id": 2, "note": "#2!"}, {"id": 3, "note": "#3!"}]'
    )


def test_errors_have_aws_shapes(rds, table):
    with pytest.raises(ClientError) as refused:
        rds("execute_statement", sql="SELECT * FROM no_such_table")
    error = refused.value.response
    assert error["Error"]["Code"] == "DatabaseErrorException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "no_such_table" in error["Error"]["Message"]
    assert error["Error"]["Message"].endswith("SQLState: 42P01")
    with pytest.raises(ClientError) as missing:
        rds("execute_statement", sql=f"SELECT * FROM {table} WHERE id = :id")
    assert missing.value.response["Error"]["Code"] == "BadRequestException"
    assert "id" in missing.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as gone:
        rds("commit_transaction", transactionId="no-such-transaction")
    assert gone.value.response["Error"]["Code"] == "TransactionNotFoundException"


def test_a_transaction_is_seen_only_once_committed_and_a_rollback_leaves_nothing(rds, table):
    def count() -> int:
        return rds("execute_statement", sql=f"SELECT count(*) FROM {table}")["records"][0][0][
            "longValue"
        ]

    kept = rds("begin_transaction")["transactionId"]
    dropped = rds("begin_transaction")["transactionId"]
    rds("execute_statement", sql=f"INSERT INTO {table} VALUES (1, 'kept')", transactionId=kept)
    rds("execute_statement", sql=f"INSERT INTO {table} VALUES (2, 'no')", transactionId=dropped)
    assert count() == 0
    assert rds("commit_transaction", transactionId=kept)["transactionStatus"] == (
        "Transaction Committed"
    )
    assert rds("rollback_transaction", transactionId=dropped)["transactionStatus"] == (
        "Rollback Complete"
    )
    assert count() == 1


def test_injected_failures_answer_the_next_statements_then_stop(rds, data_api):
    data_api.fail_next(1)
    data_api.fail_next(1, "DatabaseResumingException")
    codes = []
    for _ in range(3):
        try:
            rds("execute_statement", sql="SELECT 1")
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    # (botocore retries a 504 by itself; the client here is the standard one, 3 attempts)
    assert codes == ["DatabaseResumingException", "ok", "ok"]


def test_parameters_in_literals_and_casts_are_left_alone():
    sql, values = statement(
        "SELECT ':not' || :a::text, \"col:x\", '5%', 100 % 7",
        [{"name": "a", "value": {"stringValue": "x"}}],
    )
    assert sql == "SELECT ':not' || %(a)s::text, \"col:x\", '5%%', 100 %% 7"
    assert values == {"a": "x"}
