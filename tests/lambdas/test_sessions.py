"""Ended sessions: a user's (a ban) or one browser's (a logout) are refused at `$connect`, for
the one read `$connect` made before, and a logout leaves the user's other browsers alone."""

import time
import uuid
from collections import Counter

import pytest

from chat.services.sessions import session_revoke, sessions_revoke
from emulator.events import LambdaContext
from lambdas.errors import TokenRevoked
from lambdas.handlers import connect
from lambdas.models import Connection, Revocation, item_bytes
from lambdas.services.sessions import MAX_ENDED, session_check
from lambdas.tokens import User
from tests.helpers import load_event, with_user
from tests.lambdas.fakes import FakeManagementApi


def a_user() -> str:
    """A user id of this test's own: revocations stay in the table for the whole session."""
    return f"u{uuid.uuid4().hex[:12]}"


def token_of(user_id: str, session_id: str | None, *, issued_at: float | None = None) -> User:
    """Who a token says its bearer is, as the authorizer hands it on."""
    issued_at = time.time() if issued_at is None else issued_at
    return User(user_id, "alice", False, issued_at=issued_at, session_id=session_id)


def refused(user: User) -> bool:
    try:
        session_check(user=user)
    except TokenRevoked:
        return True
    return False


def sid() -> str:
    return uuid.uuid4().hex[:22]  # as long as the site's (token_urlsafe(16))


@pytest.fixture
def dynamodb_calls(dynamodb):
    """Counts the DynamoDB operations made through the models' shared client."""
    client = Revocation._get_connection().connection.client
    calls: Counter[str] = Counter()

    def count(model, params, **kwargs):
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", count)


# -- one browser session -----------------------------------------------------------------------


def test_a_logged_out_session_is_refused_and_the_users_other_sessions_are_not(
    dynamodb, dynamodb_calls
):
    """After a logout, tokens of that session are refused, issued before it or after, for the
    one GetItem `$connect` made before; tokens of the user's other sessions, and tokens without
    a session, still connect."""
    user_id, gone, kept = a_user(), sid(), sid()
    before = time.time()
    session_revoke(user_id=user_id, session_id=gone)
    dynamodb_calls.clear()
    assert refused(token_of(user_id, gone, issued_at=before))
    assert dynamodb_calls == {"GetItem": 1}
    assert refused(token_of(user_id, gone, issued_at=time.time() + 1))
    assert not refused(token_of(user_id, kept, issued_at=before))
    assert not refused(token_of(user_id, None, issued_at=before))
    assert not refused(token_of(a_user(), gone))  # another user's session of the same id


def test_each_logout_adds_its_session_with_one_write(dynamodb, dynamodb_calls):
    """A logout is one UpdateItem, creating the item or adding to it: earlier logouts stay."""
    user_id, first, second = a_user(), sid(), sid()
    session_revoke(user_id=user_id, session_id=first)
    session_revoke(user_id=user_id, session_id=second)
    assert dynamodb_calls == {"UpdateItem": 2}
    item = Revocation.get(f"revoked#{user_id}")
    assert item.ended == {first, second} and item.not_before is None
    assert refused(token_of(user_id, first)) and refused(token_of(user_id, second))


def test_the_ended_sessions_are_capped_and_a_full_set_becomes_a_moment(dynamodb):
    """At MAX_ENDED ids the item still reads for half a unit (under 1 KB); the next logout
    starts the set again and refuses every token issued until then in place of the ids it
    drops, while tokens issued afterwards by the user's other sessions connect."""
    user_id, first = a_user(), sid()
    issued = time.time()
    session_revoke(user_id=user_id, session_id=first)
    for _ in range(MAX_ENDED - 1):
        session_revoke(user_id=user_id, session_id=sid())
    full = Revocation.get(f"revoked#{user_id}")
    assert len(full.ended) == MAX_ENDED and full.not_before is None
    assert item_bytes(full) < 1024
    last = sid()
    session_revoke(user_id=user_id, session_id=last)
    item = Revocation.get(f"revoked#{user_id}")
    assert item.ended == {last} and item.not_before is not None
    assert refused(token_of(user_id, first, issued_at=issued))  # dropped, but older
    assert refused(token_of(user_id, last))
    assert not refused(token_of(user_id, sid(), issued_at=time.time() + 0.01))


def test_an_expired_revocation_refuses_nothing(dynamodb):
    """Once every token it could refuse has expired, the item (dynalite keeps it) is ignored."""
    user_id, gone = a_user(), sid()
    session_revoke(user_id=user_id, session_id=gone, now=time.time() - 3600)
    assert not refused(token_of(user_id, gone))


# -- with a ban ------------------------------------------------------------------------------


def test_a_logout_keeps_an_earlier_ban(dynamodb):
    """A ban's moment survives a later logout in the same item."""
    user_id = a_user()
    before = time.time()
    sessions_revoke(user_id=user_id)
    session_revoke(user_id=user_id, session_id=sid())
    assert refused(token_of(user_id, None, issued_at=before - 1))
    assert refused(token_of(user_id, sid(), issued_at=before - 1))
    assert not refused(token_of(user_id, sid(), issued_at=time.time() + 0.01))


def test_a_ban_after_a_logout_still_refuses_the_logged_out_session(dynamodb):
    """The ban replaces the item, and its moment covers the tokens of the session it drops."""
    user_id, gone = a_user(), sid()
    issued = time.time()
    session_revoke(user_id=user_id, session_id=gone)
    sessions_revoke(user_id=user_id)
    assert refused(token_of(user_id, gone, issued_at=issued))


# -- $connect ----------------------------------------------------------------------------------


def connect_event(connection_id: str, user_id: str, session_id: str | None) -> dict:
    event = with_user(load_event("websocket-connect"), user_id=user_id, username="alice")
    event["requestContext"]["connectionId"] = connection_id
    if session_id is not None:
        event["requestContext"]["authorizer"]["sessionId"] = session_id
    return event


def test_connect_stores_the_tokens_session_and_refuses_a_logged_out_one(dynamodb, monkeypatch):
    """The authorizer's `sessionId` is stored with the connection (none without it); after a
    logout, a token of that session gets 403 `token_revoked` and nothing is stored."""
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda e: FakeManagementApi())
    context = LambdaContext(function_name="test", aws_request_id="req-1")
    user_id, gone, kept = a_user(), sid(), sid()
    ids = {name: f"{name}-{user_id}" for name in ("gone", "kept", "none", "again", "other")}
    for name, session_id in [("gone", gone), ("kept", kept), ("none", None)]:
        response = connect.handler(connect_event(ids[name], user_id, session_id), context)
        assert response == {"statusCode": 200}
    assert Connection.get(ids["gone"]).sid == gone
    assert Connection.get(ids["kept"]).sid == kept
    assert Connection.get(ids["none"]).sid is None

    session_revoke(user_id=user_id, session_id=gone)
    response = connect.handler(connect_event(ids["again"], user_id, gone), context)
    assert response["statusCode"] == 403 and '"token_revoked"' in response["body"]
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(ids["again"])
    response = connect.handler(connect_event(ids["other"], user_id, kept), context)
    assert response == {"statusCode": 200}
