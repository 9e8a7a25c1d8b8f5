"""The @connections client types a 410 by its HTTP status, whatever headers come with it."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lambdas.management import ConnectionGone, endpoint_for, management_api


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/local"
    server.shutdown()


@pytest.mark.parametrize("method", ["post", "get", "delete"])
def test_410_without_error_type_header_is_connection_gone(bare_410_endpoint, method):
    """A plain ClientError with HTTP 410 becomes ConnectionGone for that connection id."""
    api = management_api(bare_410_endpoint)
    args = ("abc=",) + (({"type": "x"},) if method == "post" else ())
    with pytest.raises(ConnectionGone) as gone:
        getattr(api, method)(*args)
    assert gone.value.connection_id == "abc="


def test_endpoint_is_built_from_the_event_unless_overridden(monkeypatch):
    """Without an override the callback URL is https://{domainName}/{stage}."""
    from tests.helpers import reconfigure

    monkeypatch.delenv("MANAGEMENT_ENDPOINT_URL", raising=False)
    reconfigure()
    try:
        assert endpoint_for("abc.execute-api.eu-west-1.amazonaws.com", "prod") == (
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        )
        monkeypatch.setenv("MANAGEMENT_ENDPOINT_URL", "https://chat.example.com/ws")
        reconfigure()
        assert endpoint_for("abc.execute-api.eu-west-1.amazonaws.com", "prod") == (
            "https://chat.example.com/ws"
        )
    finally:
        monkeypatch.undo()
        reconfigure()
