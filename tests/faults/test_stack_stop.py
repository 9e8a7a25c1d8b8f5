"""`make run` stops in order on a terminal's Ctrl-C, and starts again knowing no connection."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from websockets.sync.client import connect

from devstack.dynamodb import Dynalite, free_port
from tests.helpers import DEADLINE, ROOT, Keys, wait_listening

pytestmark = pytest.mark.server  # each test runs `manage.py runstack`

TABS = 10


def kill_session(session: int) -> None:
    """SIGKILL every process of the session: the stack and the children it shields from Ctrl-C."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the command's closing parenthesis: state, ppid, pgrp, session, ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                os.kill(int(stat.parent.name), signal.SIGKILL)


class Stack:
    """One `manage.py runstack` with its own ports, folders and tables, and a cap of 10."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = {
            name: value
            for name, value in os.environ.items()
            # The test session's endpoints, keys and database are not the stack's.
            if not name.endswith(("_ENDPOINT_URL", "DATABASE_URL"))
            and not name.startswith(("TOKEN_", "PYTEST"))
        } | {
            "LOCAL_DATA_DIR": str(work / "data"),
            "LOCAL_KEYS_DIR": str(work / "keys"),
            "DYNALITE_PORT": str(free_port()),
            "STAGE": "stack",
            "TABLE_PREFIX": "dynamowave-stack-",
            "MAX_CONNECTIONS_PER_USER": str(TABS),
        }
        self.gateway_port = free_port()
        self.log = work / "runstack.log"

    def table(self, endpoint: str | None = None):
        """The connections table, through plain boto3 (not this process's bound models)."""
        endpoint = endpoint or f"http://127.0.0.1:{self.env['DYNALITE_PORT']}"
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        return client, f"{self.env['TABLE_PREFIX']}connections"

    def items(self, endpoint: str | None = None) -> list[dict]:
        client, name = self.table(endpoint)
        return client.scan(TableName=name)["Items"]

    @contextlib.contextmanager
    def running(self) -> Iterator[subprocess.Popen]:
        """The stack started as a terminal's foreground job: a process group of its own."""
        command = [sys.executable, "manage.py", "runstack", "--site-port", str(free_port())]
        command += ["--gateway-tls-port", "0"]
        command += ["--gateway-port", str(self.gateway_port)]
        with self.log.open("a") as log:
            stack = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            try:
                wait_listening(self.gateway_port, stack, timeout=60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {self.log.read_text()[-3000:]}") from None
            yield stack
        finally:
            kill_session(stack.pid)
            stack.wait()

    def open_tabs(self, tabs: contextlib.ExitStack) -> None:
        pem = (self.work / "keys" / "token-signing-key.pem").read_bytes()
        token = Keys(load_pem_private_key(pem, password=None)).token(user_id="7", username="tabs")
        url = f"ws://127.0.0.1:{self.gateway_port}/local?" + urlencode({"token": token})
        for _ in range(TABS):
            tabs.enter_context(connect(url, open_timeout=DEADLINE, close_timeout=5))


@pytest.fixture
def stack(stack_tmp_path) -> Stack:
    return Stack(stack_tmp_path)


def test_ctrl_c_with_tabs_open_leaves_no_connection_behind(stack):
    """SIGINT to runstack's whole process group, 10 sockets open: exit 0 and 0 items left."""
    with stack.running() as process, contextlib.ExitStack() as tabs:
        stack.open_tabs(tabs)
        assert len(stack.items()) == TABS
        # When: Ctrl-C, which the terminal sends to every process of the foreground group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=90) == 0

    # Then: what dynalite kept on disk, read with nothing of the stack running; PostgreSQL was
    # shut down cleanly (it removes its pid file last).
    with Dynalite(path=stack.work / "data" / "dynalite") as dynalite:
        assert stack.items(dynalite.endpoint_url) == []
    assert (stack.work / "data" / "postgres" / "PG_VERSION").exists()
    assert not (stack.work / "data" / "postgres" / "postmaster.pid").exists()


def test_a_restarted_stack_forgets_the_connections_of_a_killed_one(stack):
    """Items a crashed run left (no $disconnect) are gone once the stack is up again."""
    with stack.running() as process, contextlib.ExitStack() as tabs:
        stack.open_tabs(tabs)
        kill_session(process.pid)  # a crash: everything dies at once, nothing is closed
        process.wait()
    with Dynalite(path=stack.work / "data" / "dynalite") as dynalite:
        assert len(stack.items(dynalite.endpoint_url)) == TABS

    with stack.running(), contextlib.ExitStack() as tabs:
        assert stack.items() == []
        stack.open_tabs(tabs)  # the same user's 10 tabs, at once
        assert len(stack.items()) == TABS
    assert f"Forgot {TABS} connections left by an earlier run" in stack.log.read_text()
