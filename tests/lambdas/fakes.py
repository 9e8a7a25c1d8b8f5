"""In-memory fakes of AWS APIs for unit tests of services."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

from lambdas.management import ConnectionGone, Posted


class FakeManagementApi:
    """Records posts per connection; ids in `gone` answer like API Gateway's 410, ids in
    `failing` time out, ids in `refused` answer 413."""

    endpoint_url = "https://fake.execute-api.us-east-1.amazonaws.com/test"

    def __init__(
        self,
        gone: set[str] = frozenset(),
        failing: set[str] = frozenset(),
        refused: set[str] = frozenset(),
    ) -> None:
        self.gone, self.failing, self.refused = set(gone), set(failing), set(refused)
        self.posts: dict[str, list[dict]] = {}
        self.attempts: dict[str, int] = {}
        self.deleted: list[str] = []
        self._lock = threading.Lock()  # shards whose Invoke failed post from a thread pool

    def post_many(self, connection_ids: Iterable[str], data: bytes) -> Posted:
        """One attempt per connection, as the lean client makes them."""
        posted = Posted()
        for connection_id in connection_ids:
            with self._lock:
                self.attempts[connection_id] = self.attempts.get(connection_id, 0) + 1
            if connection_id in self.gone:
                posted.gone.append(connection_id)
            elif connection_id in self.refused:
                posted.refused[connection_id] = "HTTP 413"
            elif self._fails(connection_id):
                posted.retry[connection_id] = "TimeoutError"
            else:
                with self._lock:
                    self.posts.setdefault(connection_id, []).append(json.loads(data))
                posted.delivered += 1
        return posted

    def _fails(self, connection_id: str) -> bool:
        return connection_id in self.failing

    def get(self, connection_id: str) -> dict:
        from datetime import UTC, datetime

        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        return {
            "ConnectedAt": moment,
            "Identity": {"SourceIp": "1.2.3.4", "UserAgent": "test"},
            "LastActiveAt": moment,
        }

    def delete(self, connection_id: str) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        self.deleted.append(connection_id)


class FakeLambda:
    """Records Invoke calls like boto3's `lambda` client; `failing` makes every Invoke raise."""

    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.invocations: list[dict] = []
        self._lock = threading.Lock()  # shards are invoked from a thread pool

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:  # noqa: N803
        if self.failing:
            raise ConnectionError("the Lambda endpoint did not answer")
        with self._lock:
            self.invocations.append(
                {"function": FunctionName, "type": InvocationType, "payload": Payload}
            )
        return {"StatusCode": 202}


class FlakyManagementApi(FakeManagementApi):
    """Each connection in `flaky` fails its first `failures` posts, then delivers."""

    def __init__(self, flaky: dict[str, int], gone: set[str] = frozenset()) -> None:
        super().__init__(gone=gone)
        self.remaining = dict(flaky)

    def _fails(self, connection_id: str) -> bool:
        with self._lock:
            failing = self.remaining.get(connection_id, 0) > 0
            if failing:
                self.remaining[connection_id] -= 1
        return failing
