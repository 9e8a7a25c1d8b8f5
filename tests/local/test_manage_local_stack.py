"""`manage.py` commands on this machine use the local stack's endpoints and tables by default: a
second terminal's shell sees what `make run` does (dynamowave_site/local_stack.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from devstack.dynamodb import free_port
from dynamowave_site.local_stack import (
    STATE_FILE,
    data_dir,
    stack_defaults,
    stack_defaults_apply,
    stack_state_write,
)
from tests.faults.test_stack_stop import kill_session
from tests.helpers import DEADLINE, ROOT, wait_listening

PASSWORD = "correct horse battery staple"

# -- the defaults, as a function of the environment ----------------------------------------------

STACK_ENV = {
    "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:9102",
    "MANAGEMENT_ENDPOINT_URL": "http://127.0.0.1:9101/local",
    "WEBSOCKET_URL": "ws://127.0.0.1:9101/local",
    "STAGE": "local",
    "TABLE_PREFIX": "dynamowave-local-",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "a-real-looking-key",
    "AWS_SECRET_ACCESS_KEY": "a-real-looking-secret",
    "DJANGO_DEBUG": "true",
}


def test_without_a_running_stack_the_defaults_are_make_runs(tmp_path):
    """No state file: `make run`'s endpoints (dynalite's port as DYNALITE_PORT says), stage
    `local` and throwaway credentials, so nothing ever reaches AWS by accident."""
    env = {"LOCAL_DATA_DIR": str(tmp_path)}
    assert stack_defaults(env) == {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8002",
        "MANAGEMENT_ENDPOINT_URL": "http://127.0.0.1:8001/local",
        "WEBSOCKET_URL": "ws://127.0.0.1:8001/local",
        "STAGE": "local",
    }
    assert stack_defaults(env | {"DYNALITE_PORT": "9000"})["DYNAMODB_ENDPOINT_URL"] == (
        "http://127.0.0.1:9000"
    )


def test_a_running_stacks_values_are_used_but_never_its_secrets(tmp_path):
    """With a state file the stack's endpoints and tables apply; its credentials are not
    written down (local ones are used), nor anything it does not share."""
    path = stack_state_write(folder=tmp_path, env=STACK_ENV)
    assert path == tmp_path / STATE_FILE
    assert "a-real-looking" not in path.read_text() and "DJANGO_DEBUG" not in path.read_text()
    defaults = stack_defaults({"LOCAL_DATA_DIR": str(tmp_path)})
    assert defaults == {
        **{name: STACK_ENV[name] for name in ("DYNAMODB_ENDPOINT_URL", "MANAGEMENT_ENDPOINT_URL")},
        **{name: STACK_ENV[name] for name in ("WEBSOCKET_URL", "STAGE", "TABLE_PREFIX")},
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }


def test_the_environment_always_wins(tmp_path):
    """Set (non-empty) variables stay; a STAGE set keeps the stack's TABLE_PREFIX out (the
    stage's own is derived), and an own access key the local secret."""
    stack_state_write(folder=tmp_path, env=STACK_ENV)
    environ = {
        "LOCAL_DATA_DIR": str(tmp_path),
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:7000",
        "WEBSOCKET_URL": "",
        "STAGE": "local",
        "AWS_ACCESS_KEY_ID": "mine",
    }
    applied = stack_defaults_apply(environ)
    assert environ["DYNAMODB_ENDPOINT_URL"] == "http://127.0.0.1:7000"
    assert environ["WEBSOCKET_URL"] == STACK_ENV["WEBSOCKET_URL"]  # empty means unset
    assert environ["STAGE"] == "local" and "TABLE_PREFIX" not in environ
    assert "AWS_SECRET_ACCESS_KEY" not in environ
    assert set(applied) == {"MANAGEMENT_ENDPOINT_URL", "WEBSOCKET_URL", "AWS_DEFAULT_REGION"}


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"DYNAMOWAVE_LOCAL_STACK": "0"},
        {"DJANGO_SECURE": "true"},
        {"AWS_LAMBDA_FUNCTION_NAME": "dynamowave-site-dev"},
        {"DATABASE_URL": "postgres://dynamowave@db.example.com/dynamowave"},
        {"STAGE": "dev"},
    ],
)
def test_no_defaults_where_the_environment_means_another_stage(tmp_path, elsewhere):
    """Opted out, deployed, another database than the running stack's (a deployed stage's,
    say) or another stage: no local endpoint is guessed, stack or none."""
    env = {"LOCAL_DATA_DIR": str(tmp_path), **elsewhere}
    assert stack_defaults(env) == {}
    stack_state_write(folder=tmp_path, env=STACK_ENV)
    assert stack_defaults(env) == {}


def test_the_stacks_own_database_is_shared_but_never_a_url_of_the_environment(tmp_path):
    """The PostgreSQL server the stack started (no password in its URL) is every terminal's
    database; a DATABASE_URL the developer set is never written down, and a terminal that uses
    another database gets none of the stack's endpoints."""
    own = "postgres://dynamowave@127.0.0.1:9103/dynamowave"
    stack_state_write(folder=tmp_path, env=STACK_ENV | {"DATABASE_URL": own}, own_database=True)
    env = {"LOCAL_DATA_DIR": str(tmp_path)}
    assert stack_defaults(env)["DATABASE_URL"] == own
    assert stack_defaults(env | {"DATABASE_URL": own})["STAGE"] == "local"
    assert stack_defaults(env | {"DATABASE_URL": own.replace("9103", "9104")}) == {}

    secret = "postgres://dynamowave:s3cret@db.example.com/dynamowave"
    path = stack_state_write(folder=tmp_path, env=STACK_ENV | {"DATABASE_URL": secret})
    assert "s3cret" not in path.read_text()
    # This terminal would use SQLite, not the stack's database: not the stack's either.
    alone = stack_defaults(env)
    assert "DATABASE_URL" not in alone
    assert alone["DYNAMODB_ENDPOINT_URL"] != STACK_ENV["DYNAMODB_ENDPOINT_URL"]
    assert stack_defaults(env | {"DATABASE_URL": secret})["STAGE"] == "local"


def test_an_old_sqlite_database_with_users_is_mentioned(tmp_path):
    """A data folder's db.sqlite3 from before PostgreSQL: its users are counted and the way to
    copy them is printed; a SQLite file without users, or none, says nothing."""
    from devstack.management.commands.runstack import Command

    def mention(path: Path) -> str:
        out = io.StringIO()
        Command(stdout=out)._sqlite_users_mention(path)
        return out.getvalue()

    path = tmp_path / "db.sqlite3"
    assert mention(path) == "" and not path.exists()  # and none is made
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE auth_user (id integer primary key, username text)")
    assert mention(path) == ""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany("INSERT INTO auth_user (username) VALUES (?)", [("ann",), ("ben",)])
    printed = mention(path)
    assert f"{path} holds 2 users" in printed
    assert f"DATABASE_URL=sqlite:///{path} .venv/bin/python manage.py dumpdata" in printed
    assert "manage.py loaddata" in printed


def test_the_state_file_is_where_the_settings_keep_data():
    """manage.py finds it before the settings load, in settings.DATA_DIR."""
    assert data_dir(os.environ) == settings.DATA_DIR


# -- a second terminal while `make run` runs -----------------------------------------------------


def terminal_environment(work: Path) -> dict[str, str]:
    """What a developer's terminal has: no endpoint, key, stage or AWS credentials of the test
    session; the stack's folders (both terminals work in the same checkout)."""
    dropped = ("PYTEST", "TOKEN_", "AWS_", "DJANGO_SETTINGS_MODULE", "STAGE", "TABLE_PREFIX")
    dropped += ("DATABASE_URL", "TEST_DATABASE")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(dropped) and not name.endswith("_ENDPOINT_URL")
    }
    return env | {"LOCAL_DATA_DIR": str(work / "data"), "LOCAL_KEYS_DIR": str(work / "keys")}


@contextlib.contextmanager
def running_stack(work: Path, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`manage.py runstack` on free ports, as `make run` starts it; its site and gateway ports.
    Stopped with a Ctrl-C (which must leave no state file), killed if that hangs."""
    site_port, gateway_port = free_port(), free_port()
    command = [sys.executable, "manage.py", "runstack", "--site-port", str(site_port)]
    command += ["--gateway-port", str(gateway_port), "--gateway-tls-port", "0"]
    with (work / "runstack.log").open("a") as log:
        stack = subprocess.Popen(
            command,
            cwd=ROOT,
            # The port typed on the first terminal's command line, not exported.
            env=env | {"DYNALITE_PORT": str(free_port())},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_listening(gateway_port, stack, timeout=DEADLINE)
        wait_listening(site_port, stack, timeout=DEADLINE)
        yield site_port, gateway_port
        os.killpg(stack.pid, signal.SIGINT)
        assert stack.wait(timeout=90) == 0
        assert not (work / "data" / STATE_FILE).exists()
        # The gateway's meter: its address when it starts, what it counted when it stops.
        printed = (work / "runstack.log").read_text()
        assert f"127.0.0.1:{gateway_port}/@meter" in printed
        assert re.search(r"gateway +metered: [\d,]+ API Gateway messages", printed), printed
    finally:
        kill_session(stack.pid)
        stack.wait()


def shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def token_for(site_port: int, username: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{site_port}/api/token/",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        return json.load(response)["token"]


def closed_within(client, seconds: float) -> bool:
    """Whether the server closes the socket within `seconds` (frames before that are read)."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            client.recv(timeout=left)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False
    return False


@pytest.mark.server  # `manage.py runstack`
def test_a_second_terminals_shell_ends_the_sessions_of_the_user_it_deactivates(stack_tmp_path):
    """A `manage.py shell` subprocess started with only the environment a developer's second
    terminal has deactivates a user while the stack runs: their socket closes within 5 s and
    their token is refused. Both use the PostgreSQL server the stack started."""
    env = terminal_environment(stack_tmp_path)
    assert "DYNAMODB_ENDPOINT_URL" not in env and "AWS_ACCESS_KEY_ID" not in env
    assert "DATABASE_URL" not in env
    with running_stack(stack_tmp_path, env) as (site_port, gateway_port):
        # Given: a user (made from a shell too) with a token and a live socket in #general.
        made = shell(
            "from django.contrib.auth import get_user_model\n"
            "from django.db import connection\n"
            f"get_user_model().objects.create_user('troll', password={PASSWORD!r})\n"
            "print(connection.vendor, connection.settings_dict['HOST'])",
            env,
        )
        assert made.returncode == 0, made.stderr
        assert made.stdout.splitlines()[-1] == "postgresql 127.0.0.1"
        token = token_for(site_port, "troll")
        url = f"ws://127.0.0.1:{gateway_port}/local?" + urlencode(
            {"token": token, "room": "general"}
        )
        with connect(url, open_timeout=DEADLINE, close_timeout=5) as client:
            client.send(json.dumps({"action": "ping"}))
            while json.loads(client.recv(timeout=DEADLINE))["type"] != "pong":
                pass

            # When: a second terminal deactivates them, as any Django developer would.
            deactivated = shell(
                "from django.contrib.auth import get_user_model\n"
                "user = get_user_model().objects.get(username='troll')\n"
                "user.is_active = False\n"
                "user.save()",
                env,
            )

            # Then: the shell succeeded, the socket is closed, the token no longer connects.
            assert deactivated.returncode == 0, deactivated.stderr
            # The bound (counted from the shell's exit: the save ends the sessions).
            assert closed_within(client, 5)
        with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=DEADLINE):
            pass
        assert refused.value.response.status_code == 403
