"""API Gateway's WebSocket handshake and frame rules, on top of aiohttp's WebSocket server.

API Gateway refuses a request on the WebSocket URL that is not an upgrade before it invokes
anything (no authorizer, no `$connect`), and closes a connection with 1009 when a data frame
carries more than 32 KB, or a message of several frames more than 128 KB ("Quotas for
configuring and running a WebSocket API in API Gateway": larger messages "must be split into
multiple frames, each 32 KB or under"). aiohttp checks only the message; the frame is checked by
a reader of our own, which relies on aiohttp's pure-Python reader (pinned in pyproject.toml;
tests/local/test_fidelity.py fails if a new aiohttp stops calling it).
"""

from __future__ import annotations

from aiohttp import WSCloseCode, web
from aiohttp._websocket.reader_py import WebSocketDataQueue, WebSocketReader
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.http import WebSocketError

_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary


def handshake_refusal(request: web.Request) -> web.Response | None:
    """426 for a plain HTTP request, 400 for a broken handshake; None for a valid upgrade."""
    if web.WebSocketResponse().can_prepare(request).ok:
        return None
    if request.headers.get("Upgrade", "").strip().lower() != "websocket":
        # RFC 9110 §15.5.22: a 426 names the protocol to upgrade to. API Gateway's body for it
        # is not documented; this is its usual {"message": ...} shape.
        return web.json_response(
            {"message": "Upgrade Required"}, status=426, headers={"Upgrade": "websocket"}
        )
    return web.json_response({"message": "Bad Request"}, status=400)


class _FrameLimitedReader(WebSocketReader):
    """aiohttp's reader, refusing a data frame over `max_frame` bytes and a message over
    `max_message` bytes (inflated, if compressed)."""

    def __init__(self, queue, *, max_frame: int, max_message: int, **kwargs: object) -> None:
        # aiohttp refuses a message as large as its limit as it reads its frames' headers, and
        # one larger than it once inflated: one byte more for the first, the limit for the second.
        super().__init__(queue, max_message + 1, **kwargs)  # type: ignore[arg-type]
        self._max_frame, self._max_message = max_frame, max_message

    def _handle_frame(self, fin, opcode, payload, compressed) -> None:  # type: ignore[override]
        # The payload as it crossed the wire (compressed, when the client negotiated
        # permessage-deflate, as API Gateway lets it), one frame of the message.
        if opcode in _DATA_OPCODES and len(payload) > self._max_frame:
            raise WebSocketError(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"Frame size {len(payload)} exceeds limit {self._max_frame}",
            )
        if not compressed:
            super()._handle_frame(fin, opcode, payload, compressed)
            return
        self._max_msg_size = self._max_message
        try:
            super()._handle_frame(fin, opcode, payload, compressed)
        finally:
            self._max_msg_size = self._max_message + 1


class LimitedWebSocketResponse(web.WebSocketResponse):
    """A WebSocket that closes with 1009 past API Gateway's frame and message sizes."""

    def __init__(self, *, max_frame_bytes: int, max_message_bytes: int, **kwargs: object) -> None:
        super().__init__(max_msg_size=max_message_bytes, **kwargs)  # type: ignore[arg-type]
        self._max_frame_bytes = max_frame_bytes

    def _post_start(self, request, protocol, writer) -> None:  # type: ignore[override]
        # aiohttp 3.14's own, with our reader (over the pure-Python queue it needs) in place of
        # the compiled one: the parser can be set once only, before any frame is read.
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        self._reader = WebSocketDataQueue(request._protocol, DEFAULT_CHUNK_SIZE, loop=self._loop)
        self._parser = _FrameLimitedReader(
            self._reader,
            max_frame=self._max_frame_bytes,
            max_message=self._max_msg_size,
            compress=bool(self._compress),
            decode_text=self._decode_text,
        )
        callback = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(self._parser, data_received_cb=callback)
        request.protocol.keep_alive(False)  # no HTTP keep-alive on a WebSocket
