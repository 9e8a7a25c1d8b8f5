"""The search index's handing-over and writing (lambdas/services/indexing.py): a change is one
asynchronous Invoke that never fails the message's function, and one typed Data API request that
raises for Lambda to retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from lambdas.handlers import index
from lambdas.services import indexing
from lambdas.services.search_index import UPSERT, IndexChange
from tests.helpers import bind_config

SENT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:c"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"


def message(**fields) -> SimpleNamespace:
    return SimpleNamespace(
        message_id="01JEXAMPLE0000000000000001",
        room="general",
        user_id="u1",
        username="alice",
        text="the deploy failed",
        sent_at=SENT,
        **fields,
    )


class FakeLambda:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    def invoke(self, **kwargs) -> dict:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"StatusCode": 202}


class FakeDataApi:
    """Answers like the Data API; the first `failures` calls raise `code`."""

    def __init__(self, failures: int = 0, code: str = "DatabaseResumingException") -> None:
        self.calls: list[tuple[str, dict]] = []
        self.failures, self.code = failures, code

    def _call(self, operation: str, kwargs: dict) -> dict:
        self.calls.append((operation, kwargs))
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "x"}}, operation)
        return {"numberOfRecordsUpdated": 1, "generatedFields": []}

    def execute_statement(self, **kwargs) -> dict:
        return self._call("ExecuteStatement", kwargs)

    def batch_execute_statement(self, **kwargs) -> dict:
        return self._call("BatchExecuteStatement", kwargs)


@pytest.fixture
def invoked(monkeypatch) -> FakeLambda:
    fake = FakeLambda()
    monkeypatch.setattr(indexing, "index_lambda_client", lambda: fake)
    bind_config(INDEX_FUNCTION_NAME="index-fn:live")
    yield fake
    bind_config()


@pytest.fixture
def database(monkeypatch) -> FakeDataApi:
    fake = FakeDataApi()
    monkeypatch.setattr(indexing, "data_api_client", lambda: fake)
    bind_config(SEARCH_DATABASE_ARN=CLUSTER, SEARCH_SECRET_ARN=SECRET, SEARCH_DATABASE_NAME="db")
    yield fake
    bind_config()


def test_a_change_is_one_asynchronous_invoke_with_the_changes_fields(invoked):
    assert indexing.search_index_enqueue(message=message(thread="01JPARENT"), rev=7)
    (call,) = invoked.calls
    assert (call["FunctionName"], call["InvocationType"]) == ("index-fn:live", "Event")
    event = json.loads(call["Payload"])
    (change,) = indexing.changes_of(event)
    assert change == IndexChange(
        message_id="01JEXAMPLE0000000000000001",
        room="general",
        user_id="u1",
        username="alice",
        text="the deploy failed",
        sent_at=SENT,
        rev=7,
        thread="01JPARENT",
    )
    assert isinstance(event["enqueued_at"], int)


def test_a_deletion_carries_no_text_and_a_message_without_threads_has_none(invoked):
    indexing.search_index_enqueue(message=message(), rev=9, deleted=True)
    (change,) = indexing.changes_of(json.loads(invoked.calls[0]["Payload"]))
    assert (change.deleted, change.text, change.thread) == (True, "", None)


def test_an_invoke_that_fails_is_logged_and_counted_never_raised(invoked, caplog, monkeypatch):
    counted: list[str] = []
    monkeypatch.setattr(indexing, "metric_count", lambda name, value=1: counted.append(name))
    invoked.error = RuntimeError("Lambda is down")
    assert indexing.search_index_enqueue(message=message(), rev=3) is False
    assert counted == ["IndexEnqueueFailures"]
    assert "not enqueued" in caplog.text


def test_without_an_index_function_nothing_is_invoked(monkeypatch):
    monkeypatch.setattr(indexing, "index_lambda_client", lambda: pytest.fail("invoked"))
    bind_config(INDEX_FUNCTION_NAME="")
    assert indexing.search_index_enqueue(message=message(), rev=1) is False


def test_one_change_is_one_typed_execute_statement(database):
    change = IndexChange.from_event(
        {**indexing.index_change_of(message(), rev=4).as_event(), "thread": None}
    )
    assert indexing.index_apply(changes=[change]) == 1
    ((operation, call),) = database.calls
    assert operation == "ExecuteStatement"
    assert (call["resourceArn"], call["secretArn"], call["database"]) == (CLUSTER, SECRET, "db")
    assert call["sql"] == UPSERT
    values = {p["name"]: p["value"] for p in call["parameters"]}
    assert values["rev"] == {"longValue": 4}
    assert values["deleted"] == {"booleanValue": False}
    assert values["thread"] == {"isNull": True}
    assert values["sent_at"] == {"stringValue": "2026-12-07T12:00:00+00:00"}
    assert values["language"] == {"stringValue": "english"}


def test_several_changes_are_one_batch(database):
    changes = [indexing.index_change_of(message(), rev=n) for n in (1, 2)]
    assert indexing.index_apply(changes=changes) == 2
    ((operation, call),) = database.calls
    assert operation == "BatchExecuteStatement" and len(call["parameterSets"]) == 2


def test_a_resuming_database_is_waited_for_then_a_lasting_failure_raises(database):
    waits: list[float] = []
    database.failures = 2
    change = indexing.index_change_of(message(), rev=1)
    assert indexing.index_apply(changes=[change], sleep=waits.append) == 1
    assert waits == [indexing.RESUME_POLL_SECONDS] * 2
    database.failures, database.code = 1, "DatabaseErrorException"
    with pytest.raises(ClientError):
        indexing.index_apply(changes=[change], sleep=waits.append)
    database.failures, database.code = 100, "DatabaseResumingException"
    with pytest.raises(ClientError):
        indexing.index_apply(changes=[change], sleep=lambda s: None)


def test_without_a_search_database_nothing_is_written(monkeypatch):
    monkeypatch.setattr(indexing, "data_api_client", lambda: pytest.fail("called"))
    # What the emulator makes of the template's `!GetAtt DatabaseCluster.DBClusterArn`.
    bind_config(SEARCH_DATABASE_ARN="DatabaseCluster.DBClusterArn", SEARCH_SECRET_ARN="x")
    try:
        assert indexing.index_apply(changes=[indexing.index_change_of(message(), rev=1)]) == 0
    finally:
        bind_config()


@pytest.mark.parametrize(
    "event",
    [{}, {"changes": []}, {"changes": [{"message_id": "m"}]}, {"changes": [{"sent_at": "x"}]}],
)
def test_a_malformed_event_raises_for_the_failure_destination(event):
    with pytest.raises(ValueError):
        indexing.changes_of(event)


def test_the_handler_applies_the_events_changes(database):
    context = SimpleNamespace(
        function_name="index",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:index",
        aws_request_id="req",
    )
    event = {"changes": [indexing.index_change_of(message(), rev=2).as_event()]}
    assert index.handler(event, context) == {"changes": 1, "applied": 1}
