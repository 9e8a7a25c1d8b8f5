"""Other people's WebSocket APIs behave locally as on AWS: authorizer refusals, route misses."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from emulator.gateway import GatewayThread, Settings
from emulator.template import read_api
from tests.helpers import DEADLINE
from tests.local.test_runtime import function, route, websocket_api

pytestmark = pytest.mark.server  # each test starts a gateway, its functions in processes

HERE = Path(__file__).parent


def template(authorizer_handler: str) -> dict:
    """`${request.body.action}` selection, an authorizer, `echo` and no `$default` route."""
    return {
        "Resources": {
            **websocket_api("${request.body.action}"),
            "Auth": function(authorizer_handler),
            "Echo": function("handlers.echo"),
            **route("$connect", "Echo", two_way=False, authorized=True),
            **route("echo", "Echo"),
        }
    }


@pytest.fixture
def serve():
    runners = []

    def serve(authorizer_handler: str):
        api = read_api(template(authorizer_handler), template_dir=HERE)
        runner = GatewayThread(api, Settings(mode="process", concurrency=2))
        runners.append(runner)
        return runner.start()

    yield serve
    for runner in runners:
        runner.stop()


def url(gateway) -> str:
    return f"{gateway.websocket_url}?{urlencode({'token': 't'})}"


def test_an_authorizer_raising_unauthorized_is_401(serve):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url(serve("handlers.unauthorized")), open_timeout=DEADLINE).close()
    assert refused.value.response.status_code == 401


def test_an_authorizer_context_holding_an_object_is_500(serve):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url(serve("handlers.nested_context")), open_timeout=DEADLINE).close()
    assert refused.value.response.status_code == 500


def test_braced_selection_routes_and_a_miss_without_default_is_forbidden(serve):
    """`${request.body.action}` selects `echo`; with no `$default`, a miss gets AWS's answer."""
    gateway = serve("handlers.allow")
    with ws_connect(url(gateway), open_timeout=DEADLINE, close_timeout=2) as client:
        client.send('{"action": "echo", "n": 1}')
        # The echo handler returns its event, whose body API Gateway sends back: the frame.
        assert json.loads(client.recv(timeout=DEADLINE)) == {"action": "echo", "n": 1}
        client.send('{"action": "nothing"}')
        miss = json.loads(client.recv(timeout=DEADLINE))
        assert miss["message"] == "Forbidden"
        assert miss["connectionId"] and miss["requestId"]


def test_a_sam_project_runs_unchanged_from_the_command_line(tmp_path):
    """Two functions both `app.handler`, each from its CodeUri; the Stage and variables hold;
    `sendmessage` answers through `https://{domainName}/{stage}` (the gateway's TLS listener,
    its development CA trusted by the environments), with no credentials on this machine."""
    from devstack.dynamodb import free_port
    from tests.helpers import ROOT, wait_for, wait_listening

    project = HERE / "projects" / "chat-sample"
    port = free_port()
    command = [sys.executable, "-m", "emulator", "--port", str(port)]
    command += ["--template", str(project / "template.yaml"), "--env", f"RECORD_DIR={tmp_path}"]
    tls_port = free_port()
    command += ["--tls-dir", str(tmp_path / "tls"), "--tls-port", str(tls_port)]
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    with (tmp_path / "gateway.log").open("w") as log:
        gateway = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, gateway)
        # Both functions' zygotes start with the gateway, before anything invokes them.
        log = tmp_path / "gateway.log"
        assert wait_for(lambda: "Zygotes ready      2 functions" in log.read_text())
        with ws_connect(f"ws://127.0.0.1:{port}/prod", open_timeout=DEADLINE) as client:
            client.send('{"action": "sendmessage"}')
            assert json.loads(client.recv(timeout=DEADLINE)) == {"sent": True}
        # wss:// too, as API Gateway serves it, verified against the development CA.
        trust = ssl.create_default_context(cafile=str(tmp_path / "tls" / "local-ca.pem"))
        with ws_connect(
            f"wss://localhost:{tls_port}/prod", ssl=trust, open_timeout=DEADLINE
        ) as client:
            client.send('{"action": "sendmessage"}')
            assert json.loads(client.recv(timeout=DEADLINE)) == {"sent": True}
    finally:
        gateway.terminate()
        gateway.wait(30)
    connect = json.loads((tmp_path / "connect.json").read_text())
    send = json.loads((tmp_path / "send.json").read_text())
    assert connect["file"] == str(project / "connect" / "app.py")
    assert send["file"] == str(project / "send" / "app.py")
    assert connect["table"] == "chat-prod-conns"  # Globals don't reach AWS::Lambda::Function
    assert send["table"] is None and send["stage"] == "prod"
