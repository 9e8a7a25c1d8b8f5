"""The search index kept current, end to end: messages sent, edited and deleted through the real
gateway reach `chat_searchentry` by the indexing function (invoked asynchronously, writing through
the local Data API into the site's PostgreSQL); a failing indexing function is retried by the
emulator's Lambda until the index catches up, and an event past its retries is given up to its
failure destination."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from chat.models import SearchEntry
from devstack.data_api import DataApi
from tests.helpers import recv_json, wait_for
from tests.site.test_search_index import found

CLUSTER = "arn:aws:rds:us-east-1:000000000000:cluster:local"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:local"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def search(data_api: DataApi, gateway, configure) -> Iterator[DataApi]:
    """The functions index into this test's database (pytest-django's, migrated) through the
    local Data API, as `make run`'s do into the stack's; none of its connections outlive the
    test (pytest-django drops the database at the end)."""
    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's full-text search")
    configure(
        RDS_DATA_ENDPOINT_URL=data_api.endpoint_url,
        SEARCH_DATABASE_ARN=CLUSTER,
        SEARCH_SECRET_ARN=SECRET,
        SEARCH_DATABASE_NAME=connection.settings_dict["NAME"],
    )
    data_api.requests.clear()
    yield data_api
    data_api.close_idle()


def send(client, **frame) -> dict:
    client.send(json.dumps(frame))
    return recv_json(client, skip=("presence", "unread"))


def entry(message_id: str, **expected: object) -> SearchEntry | None:
    """The message's index row once it holds `expected`, else None."""
    row = SearchEntry.objects.filter(message_id=message_id).first()
    if row is None or any(getattr(row, name) != value for name, value in expected.items()):
        return None
    return row


def test_a_sent_message_is_found_an_edit_replaces_it_a_delete_leaves_a_tombstone(
    search, connect, room
):
    word = f"zebra{uuid.uuid4().hex[:8]}"
    alice = connect(room, user_id="u-alice", username="alice")
    sent = send(alice, action="sendmessage", message=f"the {word} deploys failed")
    assert sent["type"] == "message"
    row = wait_for(lambda: entry(sent["id"]))
    assert row is not None, "the message never reached the index"
    assert (row.room, row.username, row.user_id, row.rev) == (room, "alice", "u-alice", sent["rev"])
    assert found(f"{word} deploy") == [sent["id"]]  # stemmed: deploys -> deploy

    edited = send(alice, action="editmessage", id=sent["id"], message="the rollback worked")
    assert edited["type"] == "message_updated"
    assert wait_for(lambda: entry(sent["id"], text="the rollback worked")) is not None
    assert found(word) == []

    send(alice, action="deletemessage", id=sent["id"])
    row = wait_for(lambda: entry(sent["id"], deleted=True))
    assert row is not None, "the deletion never reached the index"
    assert (row.text, row.document) == ("", None)
    assert found("rollback") == []
    # One Data API request per change: what AWS bills ($0.35 per million).
    assert search.requests["ExecuteStatement"] == 3


def test_the_index_catches_up_after_the_function_failed_and_was_retried(
    search, connect, room, gateway
):
    # Given a database unreachable for the first two attempts (each one 3 requests: botocore
    # retries a 504 twice itself before the function raises)
    search.fail_next(6, "DatabaseUnavailableException")
    alice = connect(room, user_id="u-alice", username="alice")
    given_up = len(gateway.failed_events)
    # When a message is sent
    sent = send(alice, action="sendmessage", message="retried until indexed")
    # Then Lambda's third attempt (its second retry) indexes it, and nothing is given up
    assert wait_for(lambda: entry(sent["id"])) is not None
    assert search.requests["ExecuteStatement"] == 7
    assert len(gateway.failed_events) == given_up


def test_a_change_past_its_retries_goes_to_the_failure_destination(search, connect, room, gateway):
    search.fail_next(9, "DatabaseUnavailableException")  # every attempt (1 + 2 retries)
    alice = connect(room, user_id="u-alice", username="alice")
    sent = send(alice, action="sendmessage", message="never indexed")

    def record() -> dict | None:
        return next(
            (
                r
                for r in gateway.failed_events
                if r["requestPayload"].get("changes", [{}])[0].get("message_id") == sent["id"]
            ),
            None,
        )

    given_up = wait_for(record)
    assert given_up is not None, "the event was never given up"
    assert given_up["requestContext"]["condition"] == "RetriesExhausted"
    assert given_up["requestContext"]["approximateInvokeCount"] == 3
    assert given_up["destination"].endswith(":IndexFailuresQueue")
    assert given_up["responseContext"]["functionError"] == "Unhandled"
    assert "DatabaseUnavailableException" in json.dumps(given_up["responsePayload"])
    assert entry(sent["id"]) is None
