"""The end-to-end benchmark's baselines, each started as its own server process on a free port:
the Django Channels tutorial chat on Daphne, and a raw `websockets` broadcast server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from emulator.processes import terminate

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "test-artifacts" / "bench"  # git-ignored, as bench/stack.py's child logs


class Server:
    """A baseline server process, ready once its port accepts connections; stderr goes to a log.

    Polling the port rather than reading a banner: Daphne logs to stderr, and a pipe nobody
    reads would fill up and stall it.
    """

    def __init__(self, name: str, args: list[str], *, port: int, env: dict | None = None) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{name}.log"
        with self.log.open("w") as log:
            self.popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + 30
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{name} exited before it was ready; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not listen on {port}; see {self.log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        terminate(self.popen)


def start_channels(port: int) -> Server:
    """The Channels tutorial chat (async consumer, InMemoryChannelLayer) on Daphne."""
    args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    return Server(
        "channels-daphne",
        [*args, "bench.baselines.channels_chat.asgi:application"],
        port=port,
        # Its own settings, explicitly: never the project's (dynamowave_site) settings.
        env={"DJANGO_SETTINGS_MODULE": "bench.baselines.channels_chat.settings"},
    )


def channels_url(port: int, room: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/chat/{room}/"  # the tutorial's route


def start_websockets(port: int) -> Server:
    """The raw `websockets` broadcast server (bench/baselines/websockets_server.py)."""
    args = ["-m", "bench.baselines.websockets_server", "--port", str(port)]
    return Server("websockets-server", args, port=port)


def websockets_url(port: int, room: str) -> str:
    return f"ws://127.0.0.1:{port}/{room}"
