"""The @connections client types a 410 by its HTTP status, whatever headers come with it."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lambdas.management import ConnectionGone, ManagementApi, endpoint_for, management_api


class _Answer410(BaseHTTPRequestHandler):
    """Answers every request with a bare 410: no x-amzn-ErrorType, so boto3 cannot name it."""

    def _gone(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(410)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = do_DELETE = _gone

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def bare_410_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer410)
    # Polled often: shutdown() waits for the next poll (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/local"
    server.shutdown()


@pytest.mark.parametrize("method", ["get", "delete"])
def test_410_without_error_type_header_is_connection_gone(bare_410_endpoint, method):
    """A plain ClientError with HTTP 410 becomes ConnectionGone for that connection id."""
    api = management_api(bare_410_endpoint)
    with pytest.raises(ConnectionGone) as gone:
        getattr(api, method)("abc=")
    assert gone.value.connection_id == "abc="


def test_a_bare_410_to_a_post_is_gone_by_its_status(bare_410_endpoint):
    """The fan-out client reads the status alone: that connection is gone, nothing else."""
    posted = management_api(bare_410_endpoint).post_many(["abc=", "def="], b'{"type": "x"}')
    assert sorted(posted.gone) == ["abc=", "def="]
    assert (posted.delivered, posted.retry, posted.refused) == (0, {}, {})


def test_posting_builds_no_boto3_client(bare_410_endpoint):
    """boto3 stays off the fan-out path: it is built only for GET and DELETE."""
    api = ManagementApi(bare_410_endpoint)
    api.post_many(["abc="], b"{}")
    assert api._client is None
    with pytest.raises(ConnectionGone):
        api.get("abc=")
    assert api._client is not None


def test_endpoint_is_built_from_the_event_unless_overridden():
    """Without an override the callback URL is https://{domainName}/{stage}."""
    from tests.helpers import bind_config

    bind_config(MANAGEMENT_ENDPOINT_URL="")
    try:
        assert endpoint_for("abc.execute-api.eu-west-1.amazonaws.com", "prod") == (
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        )
        bind_config(MANAGEMENT_ENDPOINT_URL="https://chat.example.com/ws")
        assert endpoint_for("abc.execute-api.eu-west-1.amazonaws.com", "prod") == (
            "https://chat.example.com/ws"
        )
    finally:
        bind_config()
