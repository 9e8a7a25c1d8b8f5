"""The Lambda package, run as Lambda runs it: `lambda.zip` unpacked as the code (/var/task), every
function under CPython 3.13 with awslambdaric (as /var/runtime holds it), through the local
gateway's execution environments, against dynalite. Built for this machine's architecture (the
same pins and code as the deployed arm64 zip, whose compiled modules test_lambda_package.py
checks), since only those modules can load here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.sync.client import connect as ws_connect

from deploy.config import BUILD
from devstack import PRELOAD
from emulator.gateway import GatewayThread, Settings
from emulator.template import load_template, read_api
from tests.helpers import (
    DEADLINE,
    function_settings,
    python_313,
    recv_json,
    stage_name,
    wait_for,
)

RUNTIME_DIR = BUILD / "runtime-3.13"  # Lambda's /var/runtime, locally: awslambdaric for 3.13
SHARD_SIZE = 4  # rooms above it fan out through asynchronous invocations of FanoutFunction
MEMBERS = 9  # so a message to the room goes out in 3 shards


def awslambdaric_version() -> str:
    from importlib.metadata import version

    return version("awslambdaric")  # the one pyproject pins for the local stack


def runtime_dir(python: str) -> Path:
    """awslambdaric (and its dependencies) installed for `python` into RUNTIME_DIR, once."""
    stamp = RUNTIME_DIR / f".installed-{awslambdaric_version()}"
    if not stamp.exists():
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + ["--target", str(RUNTIME_DIR), f"awslambdaric=={awslambdaric_version()}"],
            check=True,
        )
        stamp.touch()
    return RUNTIME_DIR


@pytest.fixture(scope="module")
def package_gateway(lambda_package_here, dynamodb, tmp_path_factory):
    python = python_313()
    if python is None:
        pytest.skip(
            "no CPython 3.13 here: install one (`pyenv install 3.13`) or set PYTHON313 to one"
        )
    task = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(lambda_package_here.zip_path) as archive:
        archive.extractall(task)
    api = read_api(load_template(), code_dir=task, parameters={"StageName": stage_name()})
    settings = Settings(
        mode="process",
        python=python,
        runtime_dir=runtime_dir(python),
        preload=PRELOAD,
        concurrency=20,
        environment_overrides={**function_settings(), "FANOUT_SHARD_SIZE": str(SHARD_SIZE)},
    )
    runner = GatewayThread(api, settings)
    gateway = runner.start()
    gateway.task = task
    yield gateway
    runner.stop()


def send(client, **frame) -> None:
    client.send(json.dumps(frame))


def test_every_route_runs_from_the_package_on_python_313(package_gateway, keys, make_room):
    """Connect with a token, presence, send (in 3 fan-out shards), typing, edit, react,
    markread, history, delete, ping, $default, disconnect: every function from the unpacked
    zip, in 3.13 environments."""
    room = make_room()
    with contextlib.ExitStack() as opened:
        clients = []
        for n in range(MEMBERS):
            token = keys.token(user_id=f"31{n}", username=f"p{n}")
            url = f"{package_gateway.websocket_url}?{urlencode({'token': token, 'room': room})}"
            clients.append(
                opened.enter_context(ws_connect(url, open_timeout=DEADLINE, close_timeout=2))
            )
        alice, bob = clients[0], clients[1]
        send(alice, action="presence")
        presence = recv_json(alice, skip=())
        while presence["type"] != "presence" or len(presence["users"]) < MEMBERS:
            presence = recv_json(alice, skip=())
        assert {user["username"] for user in presence["users"]} == {f"p{n}" for n in range(9)}

        send(alice, action="sendmessage", message="from the package")
        received = [recv_json(c, skip=("presence", "typing")) for c in clients]
        assert {frame["text"] for frame in received} == {"from the package"}
        message_id = received[0]["id"]
        assert package_gateway.invocations.get("FanoutFunction", 0) >= MEMBERS // SHARD_SIZE

        send(bob, action="typing")
        assert recv_json(alice, skip=("presence",))["type"] == "typing"

        send(alice, action="editmessage", id=message_id, message="edited from the package")
        updated = recv_json(bob, skip=("presence", "typing"))
        assert (updated["type"], updated["text"]) == ("message_updated", "edited from the package")
        send(bob, action="react", id=message_id, emoji="🎉")
        reacted = recv_json(alice, skip=("presence", "typing"))
        while reacted["type"] != "message_updated" or "reactions" not in reacted:
            reacted = recv_json(alice, skip=("presence", "typing"))
        assert reacted["reactions"][0]["emoji"] == "🎉"
        send(bob, action="markread", id=message_id)  # its tabs hear `unread`
        send(bob, action="history")
        history = recv_json(bob, skip=("presence", "typing", "message_updated", "unread"))
        assert history["type"] == "history"
        assert [(m["id"], m["text"]) for m in history["messages"]] == [
            (message_id, "edited from the package")
        ]

        send(alice, action="deletemessage", id=message_id)
        deleted = recv_json(bob, skip=("presence", "typing"))
        assert deleted.pop("rev") > 1  # after the message's own number and its edit's
        assert deleted == {"type": "message_deleted", "id": message_id, "room": room}

        send(bob, action="ping")
        assert recv_json(bob, skip=("presence", "typing"))["type"] == "pong"
        bob.send("not json")  # $default
        assert recv_json(bob, skip=("presence", "typing"))["type"] == "error"
    # $disconnect ran for each: the room's connections are gone.
    from lambdas.services.broadcast import room_connection_ids

    assert wait_for(lambda: not list(room_connection_ids(room=room)))

    # No upload in this scenario: the thumbnail function runs once from the package too, on
    # S3's captured event (its object, `files/<id>`, belongs to no upload: it is skipped).
    import boto3

    event = json.loads(
        (Path(__file__).parents[1] / "events" / "s3-object-created.json").read_text()
    )
    event["Records"][0]["s3"]["object"]["key"] = "files/nobodys"
    boto3.client("lambda", endpoint_url=package_gateway.lambda_url, region_name="us-east-1").invoke(
        FunctionName="ThumbnailFunction", Payload=json.dumps(event).encode()
    )
    # Route 53's health check, through the function URL the template gives it.
    with urllib.request.urlopen(
        package_gateway.function_url_of("HealthFunction") + "health", timeout=30
    ) as response:
        assert response.status == 200 and json.loads(response.read())["ok"] is True
    # Every function that ran, ran from the package, in a 3.13 interpreter.
    ran = {key[0] for key, pool in package_gateway.pools.items() if pool.cold_started}
    assert ran == set(package_gateway.api.functions)  # all of them, fan-out shards included
    for pool in package_gateway.pools.values():
        for environment in pool.environments:
            exe = os.readlink(f"/proc/{environment.process.pid}/exe")
            assert "3.13" in exe, exe
            assert environment.code_dir == package_gateway.task
