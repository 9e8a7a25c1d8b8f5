"""The lean `@connections` POST client of fan-out: one asyncio loop per process, pooled aiohttp."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from urllib.parse import quote

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import NoCredentialsError
from yarl import URL

from lambdas.config import get_config
from lambdas.management import Posted

# 400 (a malformed request) and 413 (a frame too large) answer the request, not the moment:
# sending it again cannot succeed. Every other status but 2xx and 410 is worth another attempt.
REFUSED = frozenset({400, 413})
# Ids handed to the loop at a time: each batch is signed with credentials frozen for it, and
# later batches are still being read (from the room index) while the first ones are posted.
BATCH = 500
# An idle pooled connection is dropped after this long rather than reused: a connection kept
# across a Lambda freeze may have been closed by the far end meanwhile (the loop's monotonic
# clock keeps running while frozen, so a long freeze expires the whole pool).
KEEPALIVE_SECONDS = 15.0
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=5)
MAX_CLIENTS = 8

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_clients: dict[tuple[str, str, int], FanoutClient] = {}
_sessions: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()  # closed at exit


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's fan-out loop, running in a daemon thread, started at first use."""
    global _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="fanout-loop", daemon=True)
            _thread.start()
        return _loop


def _close_sessions() -> None:
    # Closed while the loop still runs, so aiohttp finds no open session to warn about at exit.
    sessions = [session for session in _sessions if not session.closed]
    if _loop is not None and sessions:
        with contextlib.suppress(Exception):  # exiting anyway: a slow close must not stop it
            asyncio.run_coroutine_threadsafe(_close(sessions), _loop).result(timeout=2)


async def _close(sessions: list[aiohttp.ClientSession]) -> None:
    await asyncio.gather(*(session.close() for session in sessions), return_exceptions=True)


atexit.register(_close_sessions)


@lru_cache(maxsize=1)
def default_credentials():
    """botocore's standard chain; a role's RefreshableCredentials renew themselves when frozen."""
    import botocore.session

    return botocore.session.get_session().get_credentials()


def client_for(endpoint_url: str) -> FanoutClient:
    """The shared client of an endpoint under the current configuration."""
    config = get_config()
    key = (endpoint_url, config.region, config.fanout_concurrency)
    evicted = None
    with _lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= MAX_CLIENTS:  # tests start many gateways: drop the oldest
                evicted = _clients.pop(next(iter(_clients)))
            client = _clients[key] = FanoutClient(
                endpoint_url, region=config.region, concurrency=config.fanout_concurrency
            )
    if evicted is not None:
        evicted.close()  # outside the lock, which close() takes to find the loop
    return client


def _batches(connection_ids: Iterable[str]) -> Iterator[list[str]]:
    ids = iter(connection_ids)
    while batch := list(islice(ids, BATCH)):
        yield batch


class FanoutClient:
    """POSTs one frame to many connections of one endpoint, SigV4-signed, over keep-alive."""

    def __init__(
        self, endpoint_url: str, *, region: str, concurrency: int, credentials=None
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        # Signed and sent as given, the Host header also spares botocore parsing each URL twice.
        endpoint = URL(self.endpoint_url)
        host, port = endpoint.raw_host, endpoint.port
        self._host = host if endpoint.is_default_port() else f"{host}:{port}"
        self.region = region
        self.concurrency = concurrency
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None  # made on the loop, at first use

    def post_many(self, connection_ids: Iterable[str], data: bytes) -> Posted:
        """One attempt per connection, at most `concurrency` in flight; waits for every answer."""
        loop = event_loop()
        if threading.current_thread() is _thread:
            raise RuntimeError("post_many would wait on the loop it runs on")
        parts: list[Posted] = []
        futures = []
        try:
            # The ids are read here, in the caller's thread: a room index page is a blocking
            # DynamoDB query, which must never run on the loop.
            for batch in _batches(connection_ids):
                try:
                    credentials = self._frozen_credentials()
                except Exception as error:  # e.g. a refresh that failed: retried with the round
                    parts.append(Posted(retry=dict.fromkeys(batch, type(error).__name__)))
                    continue
                coroutine = self._post_batch(batch, data, credentials)
                futures.append(asyncio.run_coroutine_threadsafe(coroutine, loop))
        finally:
            parts += [future.result() for future in futures]
        posted = Posted()
        for part in parts:
            posted.delivered += part.delivered
            posted.gone += part.gone
            posted.refused |= part.refused
            posted.retry |= part.retry
        return posted

    def _frozen_credentials(self):
        """Credentials for one batch; a role's RefreshableCredentials renew here when due."""
        credentials = self._credentials if self._credentials is not None else default_credentials()
        if credentials is None:
            raise NoCredentialsError()
        # Blocking (a refresh may call the container credentials endpoint): never on the loop.
        return credentials.get_frozen_credentials()

    def close(self) -> None:
        """Close the connection pool (without waiting); a later post opens a new one."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            asyncio.run_coroutine_threadsafe(session.close(), event_loop())

    def _session_now(self) -> aiohttp.ClientSession:
        # Only ever called on the loop, so the check and the creation cannot interleave.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency, keepalive_timeout=KEEPALIVE_SECONDS
            )
            # No Content-Type, as boto3 sends none: the frame is the body, not typed content.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=TIMEOUT,
                auto_decompress=False,
                skip_auto_headers=("Content-Type",),
            )
            _sessions.add(self._session)
        return self._session

    async def _post_batch(self, ids: list[str], data: bytes, credentials) -> Posted:
        posted = Posted()
        session = self._session_now()
        signer = SigV4Auth(credentials, "execute-api", self.region)
        pending = iter(ids)

        async def worker() -> None:
            # Workers share one iterator, so each id is taken exactly once.
            for connection_id in pending:
                status, reason = await self._post(session, signer, connection_id, data)
                if 200 <= status < 300:
                    posted.delivered += 1
                elif status == 410:
                    posted.gone.append(connection_id)
                elif status in REFUSED:
                    posted.refused[connection_id] = reason
                else:
                    posted.retry[connection_id] = reason

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(ids)))))
        return posted

    async def _post(
        self, session: aiohttp.ClientSession, signer: SigV4Auth, connection_id: str, data: bytes
    ) -> tuple[int, str]:
        """One signed POST: its HTTP status, or 0 and the error's name if none came back."""
        url = f"{self.endpoint_url}/@connections/{quote(connection_id, safe='')}"
        try:
            request = AWSRequest(method="POST", url=url, data=data, headers={"Host": self._host})
            signer.add_auth(request)
            # encoded=True: send the path exactly as signed, without yarl re-quoting it.
            async with session.post(
                URL(url, encoded=True), data=data, headers=dict(request.headers.items())
            ) as response:
                await response.read()  # read to the end, so the connection goes back to the pool
                return response.status, f"HTTP {response.status}"
        except Exception as error:
            # Reported for this connection alone (and retried), never raised past the others:
            # ServerDisconnectedError (a pooled connection the far end had closed), timeouts,
            # refused connections, and whatever else one post may meet.
            return 0, type(error).__name__
