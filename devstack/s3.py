"""The local S3: moto's server mode with the uploads bucket, behind the emulator's S3 relay
(emulator/s3_relay.py), which checks presigned POSTs and GETs as S3 does and delivers the
bucket's object-created notifications to the function template.yaml subscribes to them; and the
bucket's lifecycle rules, read from template.yaml, applied by a sweeper (emulator/s3_lifecycle.py:
moto applies none)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from devstack.dynamodb import free_port
from emulator import processes
from emulator.s3_lifecycle import LifecycleSweeper, lifecycle_rules
from emulator.s3_relay import S3Relay

ROOT = Path(__file__).resolve().parents[1]
BUCKET_RESOURCE = "UploadsBucket"  # template.yaml's bucket, whose lifecycle rules apply here
# How often the sweeper applies them: S3 acts on due objects some time after midnight UTC, once
# a day; every 10 minutes is sooner than that and costs a listing of the (small) bucket.
LIFECYCLE_SWEEP_SECONDS = 600.0


def uploads_bucket_name(stage: str) -> str:
    """The bucket's name as template.yaml gives it, in the emulator's account."""
    from emulator.intrinsics import ACCOUNT_ID

    return f"dynamowave-{stage}-uploads-{ACCOUNT_ID}"


def s3_notifications(template: dict | None = None) -> list[tuple[str, str]]:
    """(function, key prefix) of every function the template subscribes to the uploads bucket's
    object-created events (`Events: {Type: S3}`)."""
    from emulator.template import load_template

    template = load_template() if template is None else template
    found = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "S3":
                continue
            rules = event["Properties"].get("Filter", {}).get("S3Key", {}).get("Rules", [])
            prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
            found.append((name, prefix))
    return found


class LambdaNotifier:
    """Delivers an S3 event to a function as S3 does: an asynchronous Invoke (the gateway's
    Lambda API, `lambda_url`), set once the gateway is up (`None`: events are dropped)."""

    def __init__(self, function: str):
        self.function = function
        self.lambda_url: str | None = None

    def __call__(self, event: dict) -> None:
        if self.lambda_url is None:
            return
        request = urllib.request.Request(
            f"{self.lambda_url}/2015-03-31/functions/{self.function}/invocations",
            data=json.dumps(event).encode(),
            headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).read()


class LocalS3:
    """moto's server on a free port with `bucket` created, and the relay in front of it:
    `endpoint_url` is the relay's, what the site and the functions use."""

    def __init__(
        self,
        *,
        bucket: str,
        secrets: dict[str, str],
        shielded: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        from emulator.template import load_template

        self.bucket, self.secrets, self.shielded = bucket, secrets, shielded
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        template = load_template()
        notifications = s3_notifications(template)
        function, prefix = notifications[0] if notifications else ("", "")
        self.notifier = LambdaNotifier(function)
        self.relay = S3Relay(
            f"http://127.0.0.1:{self.port}",
            secrets=secrets,
            notify=self.notifier if function else None,
            prefixes=(prefix,) if prefix else (),
        )
        # `clock` is the sweeper's now (epoch seconds): tests move it days ahead.
        self.lifecycle = LifecycleSweeper(
            None, bucket, lifecycle_rules(template, BUCKET_RESOURCE), clock=clock
        )

    @property
    def endpoint_url(self) -> str:
        return self.relay.endpoint_url

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LocalS3:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **(processes.shielded() if self.shielded else {}),
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("moto's server exited: is moto[server] installed?")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto did not listen on {self.moto_url}") from None
                time.sleep(0.05)
        request = urllib.request.Request(f"{self.moto_url}/{self.bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=10).read()
        self.relay.start()
        self.lifecycle.client = self.moto_client()
        self.lifecycle.start(every=LIFECYCLE_SWEEP_SECONDS)
        return self

    def moto_client(self):
        """A boto3 client of moto's server itself (behind the relay: S3's own actions)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.moto_url,
            region_name="us-east-1",
            aws_access_key_id="lifecycle",
            aws_secret_access_key="lifecycle",
        )

    def stop(self) -> None:
        self.lifecycle.stop()
        self.relay.stop()
        if self.process is not None:
            processes.terminate(self.process, timeout=5)
        self.process = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
