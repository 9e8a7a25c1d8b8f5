"""Browser sessions through the real gateway: a token's `sid` is stored with its connection,
and after a logout that session's tokens get 403 while the user's other sessions connect."""

import json
import uuid

from chat.services.sessions import session_revoke
from lambdas.models import Connection
from tests.helpers import recv_json
from tests.local.test_gateway import handshake_status


def test_a_logged_out_session_is_refused_and_another_of_the_same_user_connects(connect, room, keys):
    """The token's session reaches the stored connection; once that session is revoked its
    tokens, even unused ones, get 403, while another session of the same user connects and a
    socket it holds keeps working."""
    user_id = f"s{uuid.uuid4().hex[:10]}"
    kept = connect(room, user_id=user_id, username="erin", sid="kept-session")
    (item,) = list(Connection.user_index.query(user_id))
    assert Connection.get(item.connection_id).sid == "kept-session"
    unused = keys.token(user_id=user_id, username="erin", sid="gone-session")

    session_revoke(user_id=user_id, session_id="gone-session")

    assert handshake_status(connect, room, token=unused) == 403
    assert connect(room, user_id=user_id, username="erin", sid="kept-session")
    assert connect(room, user_id=user_id, username="erin")  # a token of no session
    kept.send(json.dumps({"action": "ping"}))
    assert recv_json(kept)["type"] == "pong"
