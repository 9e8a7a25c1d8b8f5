"""In-memory fakes of AWS APIs for unit tests of services."""

from __future__ import annotations

import json
import threading

from lambdas.management import ConnectionGone


class FakeManagementApi:
    """Records posts per connection; ids in `gone` answer like API Gateway's 410."""

    def __init__(self, gone: set[str] = frozenset(), failing: set[str] = frozenset()) -> None:
        self.gone, self.failing = set(gone), set(failing)
        self.posts: dict[str, list[dict]] = {}
        self.deleted: list[str] = []
        self._lock = threading.Lock()  # broadcast posts from a thread pool

    def post(self, connection_id: str, payload: dict | bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        if connection_id in self.failing:
            raise TimeoutError("the endpoint did not answer")
        frame = json.loads(payload) if isinstance(payload, bytes) else payload
        with self._lock:
            self.posts.setdefault(connection_id, []).append(frame)

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
