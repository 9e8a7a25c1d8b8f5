"""The gateway's DynamoDB relay (emulator/dynamodb_proxy.py) as an HTTP client must be."""

from __future__ import annotations

import http.client
import socket
import threading
from urllib.parse import urlsplit

ANSWER = b'{"TableNames": []}'


def closing_server() -> tuple[str, list[int]]:
    """An HTTP server that answers one request per connection and then closes it without
    saying so, as dynalite (Node) does to a keep-alive connection idle for 5 s; the number of
    requests each connection served."""
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def serve() -> None:
        while True:
            connection, _ = listener.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        b"0",
                    )
                )
                while len(body) < length:
                    body += connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
                )
                served.append(1)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", served


def test_a_connection_the_upstream_closed_while_idle_is_not_a_failed_request(gateway):
    """The second request of a function's keep-alive connection, relayed on an upstream
    connection DynamoDB closed meanwhile, is sent again on a new one and answered."""
    upstream, served = closing_server()
    relay = urlsplit(gateway.dynamodb_endpoint(upstream))
    client = http.client.HTTPConnection(relay.hostname, relay.port, timeout=30)
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/json"}
    for _ in range(3):  # the same client connection each time
        client.request("POST", "/", body=b"{}", headers=headers)
        response = client.getresponse()
        assert (response.status, response.read()) == (200, ANSWER)
    assert len(served) == 3
    client.close()
