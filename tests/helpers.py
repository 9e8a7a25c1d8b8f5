"""Helpers for tests: captured AWS events, token signing, waiting for effects."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack import FUNCTION_SETTINGS as STACK_SETTINGS
from emulator.processes import terminate
from lambdas.config import Config, configure, load_config

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).parent / "events"
ISSUER, AUDIENCE = "dynamowave-site", "dynamowave-websocket"
# How the test gateways run the functions: "thread" (in this process, where tests can patch
# them) or "process" (execution environments like Lambda's, what `make run` uses: the
# default). GATEWAY_MODE=thread picks the other.
GATEWAY_MODE = os.environ.get("GATEWAY_MODE", "process")
# This process's configuration that the functions must share when they run out of it, handed
# over as `sam local --env-vars` would: the rest of their environment is template.yaml's.
FUNCTION_SETTINGS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", *STACK_SETTINGS)
_PROCESS_GATEWAYS: weakref.WeakSet = weakref.WeakSet()  # see bind_config()
# What the running thread-mode gateway gave its functions, which run in this process (its
# endpoints: Settings.thread_environment): part of every configuration bound here.
_THREAD_VARIABLES: dict[str, str] = {}
_OVERRIDES: dict[str, str] = {}  # a test's own variables (bind_config)
_BOUND: dict[str, str] = {}  # the environment lambdas were last configured from
# How long a test waits for what must happen (a frame, a repair, a process gone): long enough
# that only a hang runs past it, never a busy machine. A wait ends as soon as its condition
# holds; how long things take is `make bench`'s to measure, never a test's to assert.
DEADLINE = 60.0


def bind_config(**overrides: object) -> Config:
    """Configure lambdas as a new Lambda environment with this process's environment and
    `overrides` would be: in this process (with a thread-mode gateway's variables), and in new
    execution environments of this process's process-mode gateways. The environment itself is
    left alone; the overrides hold until the next call (none: the session's configuration)."""
    _OVERRIDES.clear()
    _OVERRIDES.update({name: str(value) for name, value in overrides.items()})
    return _bind()


def _bind() -> Config:
    env = {**os.environ, **_THREAD_VARIABLES, **_OVERRIDES}
    config = configure(load_config(env))
    _BOUND.clear()
    _BOUND.update(env)
    for runner in list(_PROCESS_GATEWAYS):
        if runner.loop.is_running():
            runner.call(runner.gateway.reconfigure(function_settings(env)))
    return config


def share_thread_variables(variables: dict[str, str]) -> None:
    """A thread-mode gateway's Settings.thread_environment: its functions, in this process, see
    its endpoints from now on (as the Lambda service would set them)."""
    _THREAD_VARIABLES.clear()
    _THREAD_VARIABLES.update(variables)
    _bind()


def thread_variables() -> dict[str, str]:
    """What thread-mode handlers see now (to put back with share_thread_variables)."""
    return dict(_THREAD_VARIABLES)


def function_settings(env: dict[str, str] | None = None) -> dict[str, str]:
    """The FUNCTION_SETTINGS that are set (in `env`, else in what bind_config() last bound)."""
    env = (_BOUND or os.environ) if env is None else env
    return {name: env[name] for name in FUNCTION_SETTINGS if env.get(name)}


def stage_name(env: dict[str, str] | None = None) -> str:
    """The template's StageName for the session's stack: its STAGE (tests/conftest.py)."""
    return (os.environ if env is None else env).get("STAGE", "local")


def gateway_thread(template: dict | None = None, **settings: object):
    """template.yaml's gateway (or `template`'s, run from this checkout) on a loop of its own,
    not started, functions in GATEWAY_MODE."""
    from devstack import PRELOAD
    from emulator.gateway import GatewayThread, Settings
    from emulator.template import load_template, read_api

    if settings.get("mode", GATEWAY_MODE) == "process":
        # An account's default is 1,000 concurrent executions: the suite's bursts (50 clients
        # reconnecting at once) stay under a limit, as they would in AWS. Environments are still
        # added only as invocations wait, a few at a time.
        settings = {
            "mode": "process",
            "concurrency": 100,
            "environment_overrides": function_settings(),
            "preload": PRELOAD,  # as `make run`
            **settings,
        }
    else:
        settings = {"thread_environment": share_thread_variables, **settings}
    # A failed asynchronous invocation is retried at once, not after AWS's minute and two.
    settings = {"retry_delays": (0.05, 0.1), **settings}
    # template.yaml's CodeUri is the package build: locally the functions run from the source.
    template = load_template() if template is None else template
    api = read_api(template, code_dir=ROOT, parameters={"StageName": stage_name()})
    runner = GatewayThread(api, Settings(**settings))
    if runner.gateway.settings.mode == "process":
        _PROCESS_GATEWAYS.add(runner)
    return runner


def load_event(name: str) -> dict:
    """A fresh copy of a captured API Gateway event from tests/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def with_user(
    event: dict, *, user_id: str = "1", username: str = "alice", staff: bool = False
) -> dict:
    """The event as API Gateway sends it after our authorizer allowed the connection."""
    event = copy.deepcopy(event)
    event["requestContext"]["authorizer"] = {
        "principalId": user_id,
        "userId": user_id,
        "username": username,
        "isStaff": "true" if staff else "false",
    }
    return event


class Keys:
    def __init__(self, private: Ed25519PrivateKey | None = None) -> None:
        self.private = private or Ed25519PrivateKey.generate()
        self.public_pem = (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def token(
        self,
        *,
        user_id: str = "1",
        username: str = "alice",
        staff: bool = False,
        key: Ed25519PrivateKey | None = None,
        **claims: object,
    ) -> str:
        now = int(time.time())
        payload = {
            "sub": user_id,
            "username": username,
            "staff": staff,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": round(time.time(), 3),  # to the millisecond, as the site issues it
            "nbf": now,
            "exp": now + 300,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.private, algorithm="EdDSA")


class Clock:
    """A clock a test moves by hand (`clock.now += 5`) instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PeerHealth:
    """The other Region's health route as seen over HTTP: answers `status` with the body a
    health route gives (or a body of the test's), and counts the probes."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.status, self.region, self.probes = 200, region, 0
        peer = self

        class Answer(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                peer.probes += 1
                ok = peer.status == 200
                data = json.dumps({"ok": ok, "region": peer.region}).encode()
                self.send_response(peer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TcpRelay:
    """A TCP relay to 127.0.0.1:`port` that a test can cut: what stands between a Region's
    functions and its storage, so that storage can fail for them alone (`cut()`: every open
    connection reset, every new one refused), the gateway staying up."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed: cut
            while True:
                client, _ = self.listener.accept()
                if self._cut:  # (closing a listener does not stop an accept() under way)
                    client.close()
                    return
                upstream = socket.create_connection(("127.0.0.1", self.target))
                with self._lock:
                    self._open.update((client, upstream))
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._cut = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self.listener.close()
        with self._lock:
            for end in self._open:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def recv_json(client, timeout: float = DEADLINE, *, skip: tuple[str, ...] = ("presence",)) -> dict:
    """The next frame, passing over `presence` announcements (noise unless a test wants them)."""
    while True:
        frame = json.loads(client.recv(timeout=timeout))
        if frame.get("type") not in skip:
            return frame


def wait_for(predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.05):
    """Poll until predicate() is truthy (for effects that land after a socket closes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@contextlib.contextmanager
def room_clients(gateway, keys, room: str, names: tuple[str, ...]) -> Iterator[list]:
    """WebSocket clients of `gateway` (any, not only the session's) in `room`, one per name
    (user ids 1, 2 …), open while the `with` lasts."""
    from websockets.sync.client import connect

    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                connect(
                    f"{gateway.websocket_url}?"
                    + urlencode({"room": room, "token": keys.token(user_id=str(n), username=name)}),
                    open_timeout=DEADLINE,
                )
            )
            for n, name in enumerate(names, start=1)
        ]


class RestartableGateway:
    """A gateway of a test's own on a fixed port, so it can stop and come back at one URL.

    Starting a thread-mode gateway points the in-process handlers at it (their environment, as
    the Lambda service would set it): `restore()` points them back where they were.
    """

    def __init__(self, **settings: object) -> None:
        """`settings` as gateway_thread's (mode="thread": functions a test can patch)."""
        from devstack.dynamodb import free_port

        self.port = free_port()
        self.runner = None
        self.settings = settings
        self._shared = thread_variables()

    def start(self):
        self.runner = gateway_thread(**self.settings)
        return self.runner.start(port=self.port)

    def stop(self) -> None:
        if self.runner is None:
            return
        runner, self.runner = self.runner, None
        runner.stop()  # stops listening, closes every socket with 1001, runs each $disconnect

    def restore(self) -> None:
        self.stop()
        share_thread_variables(self._shared)


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until something accepts on 127.0.0.1:port; fails if `process` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"exited with {process.returncode} before listening"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listened on port {port}"
            time.sleep(0.05)


class GatewayProcess:
    """`python -m emulator` in a process of its own, as `make run` starts it.

    Its functions (in execution environments of their own) get the FUNCTION_SETTINGS of `env`
    (this process's environment otherwise) through `--env-vars`; its output goes to `log`, since
    a pipe nobody reads would block the handlers' logging.
    """

    def __init__(self, *, port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.port, self.log, self.env = port, log, env or dict(os.environ)
        self.process: subprocess.Popen | None = None

    def start(self) -> GatewayProcess:
        env_vars = self.log.with_suffix(".env.json")
        env_vars.write_text(json.dumps({"Parameters": function_settings(self.env)}))
        command = [sys.executable, "-m", "emulator", "--port", str(self.port)]
        command += ["--code-dir", str(ROOT), "--env-vars", str(env_vars)]
        # The template's stage is the session's (its tables); clients connect to /local.
        command += ["--parameter-overrides", f"StageName={stage_name(self.env)}"]
        command += ["--stage", "local"]
        # One stack serves every test of the session, far faster than people would use a stage:
        # the stage's throttles are tested on gateways of their own (tests/local/test_throttle.py).
        command += ["--no-throttle"]
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_listening(self.port, self.process)
        return self

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/local"

    def kill(self) -> None:
        """SIGKILL: no socket is closed, no $disconnect runs."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=60)


def python_313() -> str | None:
    """A CPython 3.13 interpreter: $PYTHON313, python3.13 on PATH, or pyenv's."""
    from deploy.config import runtime_python

    return runtime_python()
