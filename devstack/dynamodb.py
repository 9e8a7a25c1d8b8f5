"""Starts dynalite (a DynamoDB-compatible server from npm) and creates the tables when missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from pynamodb.models import Model

from emulator import processes
from lambdas.models import TABLES, Connection

ROOT = Path(__file__).resolve().parents[1]
DYNALITE = ROOT / "node_modules" / "dynalite" / "cli.js"


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, and not one this process handed out before: the kernel may give a
    port just closed again, and two servers told the same port fail at start (a stack's site
    and its dynalite did). dynalite treats --port 0 as "use the default", hence picking."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class Dynalite:
    """A dynalite process on 127.0.0.1: in memory, or persisted in `path` across restarts.

    `shielded`: in a process group of its own, so a terminal's Ctrl-C leaves it running until
    `stop()` (the local stack stops it last, after every $disconnect has written).
    """

    def __init__(
        self,
        *,
        path: Path | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        shielded: bool = False,
    ):
        self.path, self.host, self.shielded = path, host, shielded
        self.port = port or free_port(host)
        self.process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> Dynalite:
        node = shutil.which("node")
        if node is None or not DYNALITE.exists():
            raise RuntimeError("dynalite is not installed: run `npm ci` (make does it for you)")
        command = [
            node,
            str(DYNALITE),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ]
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            command += ["--path", str(self.path)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **(processes.shielded() if self.shielded else {}),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dynalite exited: {self.process.stderr.read().decode()[-2000:]}"
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dynalite did not listen on {self.endpoint_url} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None:
            processes.terminate(self.process, timeout=5)
        self.process = None

    def __enter__(self) -> Dynalite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_tables(models: list[type[Model]] | None = None) -> list[str]:
    """Create the tables (as template.yaml declares them) that do not exist yet, and rebuild
    those kept by an earlier `make run` whose indexes changed since; return their names."""
    created = []
    for model in models or list(TABLES):
        if model.exists():
            if not _indexes_differ(model):
                continue
            _rebuild(model)
        else:
            _create(model)
        created.append(model.Meta.table_name)
    return created


def _create(model: type[Model]) -> None:
    # dynalite has no UpdateTimeToLive; nothing relies on TTL running (readers filter).
    model.create_table(wait=True, ignore_update_ttl_errors=True)


def _indexes_differ(model: type[Model]) -> bool:
    described = model.describe_table().get("GlobalSecondaryIndexes", [])
    return {index["IndexName"] for index in described} != {
        index["index_name"] for index in model._get_schema()["global_secondary_indexes"]
    }


def _rebuild(model: type[Model]) -> None:
    """Recreate a table with its items. CloudFormation adds a GSI to a live table with an
    UpdateTable that DynamoDB backfills; dynalite cannot add one, so a local table is copied."""
    client = model._get_connection().connection.client
    name = model.Meta.table_name
    items: list[dict] = []
    for page in client.get_paginator("scan").paginate(TableName=name):
        items.extend(page["Items"])
    client.delete_table(TableName=name)
    # dynalite deletes (and creates) a moment later, even with --deleteTableMs 0.
    fast = {"Delay": 0.05, "MaxAttempts": 200}
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=fast)
    _create(model)
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        requests = {name: batch}
        while requests:  # dynalite never leaves items unprocessed, DynamoDB may
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems")


def connections_forget_all() -> int:
    """Delete every connection item; how many there were.

    For a local gateway that is about to start: it knows no connections yet, so every item is
    left over from an earlier run whose $disconnect never came (a crash, a kill -9).
    """
    forgotten = 0
    with Connection.batch_write() as batch:
        for connection in Connection.scan(attributes_to_get=["connection_id"]):
            batch.delete(connection)
            forgotten += 1
    return forgotten


def local_aws_environment() -> dict[str, str]:
    """Credentials and region for local endpoints, which check neither."""
    return {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
