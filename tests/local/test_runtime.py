"""Process mode runs each function in execution environments like Lambda's (awslambdaric workers).

The functions are the small handlers of tests/local/functions/, in a template built here.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from emulator.cli import main, read_env_vars
from emulator.gateway import GatewayThread, Settings
from emulator.iam import role_credentials
from emulator.template import read_api
from tests.helpers import DEADLINE, load_event, wait_for
from tests.local.test_events import assert_same_shape

HERE = Path(__file__).parent
API = {"Ref": "Api"}


def function(handler: str, **properties: object) -> dict:
    properties = {"Handler": handler, "CodeUri": "functions", **properties}
    return {"Type": "AWS::Serverless::Function", "Properties": properties}


def route(key: str, function_id: str, *, two_way: bool = True, authorized: bool = False) -> dict:
    """The Route, Integration (and RouteResponse) resources of one route to one function."""
    name = "".join(c for c in key if c.isalnum()).title()
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${{{function_id}.Arn}}"
    props: dict = {
        "ApiId": API,
        "RouteKey": key,
        "Target": {"Fn::Sub": f"integrations/${{{name}I}}"},
    }
    if authorized:
        props |= {"AuthorizationType": "CUSTOM", "AuthorizerId": {"Ref": "Authorizer"}}
    resources = {
        f"{name}I": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": API,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::Sub": uri},
            },
        },
        f"{name}R": {"Type": "AWS::ApiGatewayV2::Route", "Properties": props},
    }
    if two_way:
        resources[f"{name}RR"] = {
            "Type": "AWS::ApiGatewayV2::RouteResponse",
            "Properties": {
                "ApiId": API,
                "RouteId": {"Ref": f"{name}R"},
                "RouteResponseKey": "$default",
            },
        }
    return resources


def websocket_api(selection: str) -> dict:
    """The Api and its REQUEST authorizer (function `Auth`, identity `?token=`) resources."""
    authorizer_uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${Auth.Arn}"
    return {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": selection},
        },
        "Authorizer": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": API,
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": {"Fn::Sub": authorizer_uri},
                "IdentitySource": ["route.request.querystring.token"],
            },
        },
    }


def template(record_dir: Path) -> dict:
    return {
        "Globals": {
            "Function": {
                "Runtime": "python3.13",
                "Timeout": 10,
                "Environment": {
                    "Variables": {"SHARED": "from Globals", "RECORD_DIR": str(record_dir)}
                },
            }
        },
        "Resources": {
            **websocket_api("$request.body.action"),
            "Auth": function("recorder.authorize"),
            "Record": function("recorder.route"),
            "CounterA": function("handlers.counter"),
            "CounterB": function("handlers.counter"),
            "EnvA": function("handlers.environment", Environment={"Variables": {"ONLY_A": "a"}}),
            "EnvB": function("handlers.environment", Environment={"Variables": {"ONLY_B": "b"}}),
            "Slow": function("handlers.sleep", Timeout=1),
            "Sleeper": function("handlers.sleep", Timeout=60),  # held by its tests
            "Lineage": function("handlers.lineage"),
            "Single": function("handlers.sleep", ReservedConcurrentExecutions=1, Timeout=60),
            "Never": function("handlers.sleep", ReservedConcurrentExecutions=0),
            "Failing": function("handlers.fail"),
            "Chatty": function("handlers.chatter"),
            "Logs": function("handlers.log_lines"),
            "Broken": function("broken.handler"),
            **route("$connect", "Record", two_way=False, authorized=True),
            **route("$disconnect", "Record", two_way=False),
            **route("$default", "Record"),
            **route("ping", "Record"),
            **route("broken", "Broken"),
            **route("slow", "Slow"),
            **route("never", "Never"),
            **route("fail", "Failing"),
        },
    }


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("events")


@pytest.fixture(
    scope="module", params=[("boto3", "botocore:dynamodb"), None], ids=["zygote", "fresh"]
)
def gateway(record_dir, request):
    """A process-mode gateway over the test template: default concurrency 3, local overrides;
    environments forked from a zygote that preloaded boto3 and botocore's DynamoDB data, or each
    a fresh interpreter."""
    api = read_api(template(record_dir), template_dir=HERE)
    settings = Settings(
        mode="process",
        concurrency=3,
        environment_overrides={"LOCAL_OVERRIDE": "for every function"},
        function_overrides={"EnvB": {"ONLY_B_LOCALLY": "b"}},
        preload=request.param,
    )
    runner = GatewayThread(api, settings)
    gateway = runner.start()
    yield gateway
    runner.stop()


@pytest.fixture(scope="module")
def lam(gateway):
    """boto3's Lambda client on the gateway's Invoke API; no retries, so throttles show."""
    config = Config(retries={"total_max_attempts": 1}, read_timeout=30)
    return boto3.client(
        "lambda", endpoint_url=gateway.lambda_url, region_name="us-east-1", config=config
    )


def invoke(lam, name: str, event: dict | None = None, **kwargs) -> tuple[object, str | None]:
    """The decoded payload and FunctionError of one Invoke."""
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    body = answer["Payload"].read()
    return (json.loads(body) if body else None), answer.get("FunctionError")


def in_background(call, *args, **kwargs) -> dict:
    """Run call(*args) in a thread; the returned dict gets "result" when it is done."""
    box: dict = {}

    def run() -> None:
        box["result"] = call(*args, **kwargs)

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


def pid_of(path: Path) -> int:
    assert wait_for(lambda: path.exists() and path.read_text()), "never started"
    return int(path.read_text())


# -- environments --------------------------------------------------------------------------------


def test_module_state_lives_as_long_as_one_environment_and_only_there(lam):
    """Invocations of one function share an environment's module state; another function's
    environment (even running the same module) has its own."""
    a = [invoke(lam, "CounterA")[0] for _ in range(3)]
    b = invoke(lam, "CounterB")[0]
    assert [r["invocations"] for r in a] == [1, 2, 3]
    assert len({r["pid"] for r in a}) == 1 and b["pid"] != a[0]["pid"]
    assert b["invocations"] == 1
    assert {r["function_name"] for r in a} == {"CounterA"} and b["function_name"] == "CounterB"
    assert len({r["request_id"] for r in a}) == 3
    assert all(0 < r["remaining_ms"] <= 10_000 for r in a)


def test_each_environment_has_its_own_functions_variables_and_lambdas(lam, gateway):
    """A function sees its own Environment, Lambda's variables and the local overrides: never
    another function's variables, nor the gateway's own environment."""
    a, _ = invoke(lam, "EnvA")
    b, _ = invoke(lam, "EnvB")
    assert a["ONLY_A"] == "a" and "ONLY_A" not in b
    assert b["ONLY_B"] == "b" and "ONLY_B" not in a
    assert b["ONLY_B_LOCALLY"] == "b" and "ONLY_B_LOCALLY" not in a
    assert a["SHARED"] == b["SHARED"] == "from Globals"
    assert a["LOCAL_OVERRIDE"] == b["LOCAL_OVERRIDE"] == "for every function"
    assert a["MANAGEMENT_ENDPOINT_URL"] == gateway.management_url
    assert a["LAMBDA_ENDPOINT_URL"] == gateway.lambda_url
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME": "EnvA",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(HERE / "functions"),
        "_HANDLER": "handlers.environment",
        # Its role's session, never this machine's keys (emulator/iam.py).
        **role_credentials("EnvA"),
    }
    assert {name: a.get(name) for name in expected} == expected
    assert b["AWS_LAMBDA_FUNCTION_NAME"] == "EnvB"
    assert b["AWS_ACCESS_KEY_ID"] != a["AWS_ACCESS_KEY_ID"]  # one role per function
    # Nothing else: not the test process's own configuration (tests/conftest.py), for one.
    lambdas_own = {
        *expected,
        *("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_INITIALIZATION_TYPE", "_X_AMZN_TRACE_ID"),
        *("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"),
        *("PATH", "LANG", "TZ", "PYTHONPATH"),
    }
    local = {"MANAGEMENT_ENDPOINT_URL", "LAMBDA_ENDPOINT_URL", "LOCAL_OVERRIDE"}
    local |= {"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"}  # the SDKs
    template = {"SHARED", "RECORD_DIR", "ONLY_A"}
    # (Python itself adds LC_CTYPE where the C locale is coerced to UTF-8.)
    assert set(a) - {"LC_CTYPE"} == lambdas_own | local | template


def test_environments_fork_from_one_zygote_and_share_no_state(lam, gateway):
    """Two environments at once: each its own process group and module state, both children of
    the function's zygote (which preloaded boto3), or of nobody but the gateway."""
    calls = [in_background(invoke, lam, "Lineage", {"seconds": 0.6}) for _ in range(2)]
    for call in calls:
        call["thread"].join(DEADLINE)
    (a, _), (b, _) = (call["result"] for call in calls)
    assert a["pid"] != b["pid"] and a["invocations"] == b["invocations"] == 1
    assert a["pgid"] == a["pid"] and b["pgid"] == b["pid"]
    assert a["ppid"] == b["ppid"]
    zygote = gateway.settings.preload is not None
    assert (a["ppid"] != os.getpid()) is zygote
    assert a["boto3_before_init"] is b["boto3_before_init"] is zygote
    assert a["botocore_data_parsed"] is zygote  # a new session's loader starts with the data


def test_a_killed_zygote_takes_its_environments_and_comes_back(lam, gateway):
    """SIGKILL to the zygote: its environments die with it (no orphans), and the function's next
    invocation is served by a new zygote's environment."""
    if gateway.settings.preload is None:
        pytest.skip("no zygote without preload")
    first, _ = invoke(lam, "Lineage")
    os.kill(first["ppid"], signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{first['pid']}"))
    again, error = invoke(lam, "Lineage")
    assert error is None and again["ppid"] != first["ppid"] and again["invocations"] == 1


def test_a_zygote_started_with_over_1024_descriptors_open_still_forks(lam, gateway):
    """A gateway serving many sockets hands a new zygote a descriptor past select()'s 1,024
    (found by 50 clients in one test: every cold start of a new function failed)."""
    if gateway.settings.preload is None:
        pytest.skip("no zygote without preload")
    first, _ = invoke(lam, "Lineage")
    os.kill(first["ppid"], signal.SIGKILL)  # the next invocation starts a new zygote
    assert wait_for(lambda: not os.path.exists(f"/proc/{first['pid']}"))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        again, error = invoke(lam, "Lineage")
    finally:
        for descriptor in held:
            os.close(descriptor)
    assert error is None and again["ppid"] != first["ppid"]


def test_the_timeout_stops_a_slow_handler_and_the_next_gets_a_fresh_environment(lam, tmp_path):
    """Past its Timeout (1 s) an invocation fails as Lambda reports it; its environment is gone."""
    span = tmp_path / "span"
    error, kind = invoke(
        lam, "Slow", {"seconds": 30, "pid_file": str(tmp_path / "first"), "span_file": str(span)}
    )
    assert kind == "Unhandled" and error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    first = int((tmp_path / "first").read_text())
    assert wait_for(lambda: not os.path.exists(f"/proc/{first}"))  # the process was stopped
    assert not span.exists()  # mid-sleep: the answer did not wait for the handler's 30 s
    again, kind = invoke(lam, "Slow", {"seconds": 0})
    assert kind is None and again["pid"] != first


def test_a_worker_killed_mid_invocation_fails_only_that_invocation(lam, tmp_path):
    """SIGKILL while its handler runs: that invocation fails (Runtime.ExitError), others are
    served meanwhile, and the next invocation gets a fresh environment."""
    pid_file = tmp_path / "pid"
    running = in_background(invoke, lam, "Sleeper", {"seconds": 30, "pid_file": str(pid_file)})
    pid = pid_of(pid_file)
    # While it hangs, the gateway serves everyone else.
    assert invoke(lam, "Sleeper", {"seconds": 0})[1] is None
    os.kill(pid, signal.SIGKILL)
    running["thread"].join(DEADLINE)
    error, kind = running["result"]
    assert kind == "Unhandled" and error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert invoke(lam, "Sleeper", {"seconds": 0})[0]["pid"] != pid


def test_over_its_concurrency_limit_a_function_is_throttled(lam, tmp_path):
    """ReservedConcurrentExecutions 1: a second synchronous invocation meanwhile is a 429
    TooManyRequestsException; an asynchronous one waits for the environment instead."""
    pid_file, span, release = tmp_path / "pid", tmp_path / "span", tmp_path / "release"
    held = {"seconds": 50, "pid_file": str(pid_file), "release_file": str(release)}
    running = in_background(invoke, lam, "Single", held)
    pid = pid_of(pid_file)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
        invoke(lam, "Single", {})
    response = throttled.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    queued = lam.invoke(
        FunctionName="Single", InvocationType="Event", Payload=json.dumps({"span_file": str(span)})
    )
    assert queued["StatusCode"] == 202
    assert not span.exists()  # it waits: the one environment is still held
    release.touch()
    running["thread"].join(DEADLINE)
    assert running["result"][0]["pid"] == pid
    assert wait_for(lambda: span.exists())
    assert json.loads(span.read_text())["pid"] == pid  # the one environment, reused


def test_without_reserved_concurrency_a_burst_waits_for_environments_instead(lam):
    """Five at once with the local cap at 3: none is throttled (AWS's account pool would take
    them all); at most 3 environments run them."""
    calls = [in_background(invoke, lam, "Sleeper", {"seconds": 0.5}) for _ in range(5)]
    for call in calls:
        call["thread"].join(DEADLINE)
    answers = [call["result"] for call in calls]
    assert [error for _, error in answers] == [None] * 5
    assert 1 <= len({payload["pid"] for payload, _ in answers}) <= 3


def test_asynchronous_invocations_run_at_once_in_environments_of_their_own(lam, tmp_path):
    """Three Event invocations (fan-out shards) run in three environments at the same time:
    each is held running until all three have started."""
    pids = [tmp_path / f"pid{n}" for n in range(3)]
    spans = [tmp_path / f"span{n}" for n in range(3)]
    release = tmp_path / "release"
    for pid, span in zip(pids, spans, strict=True):
        event = {"seconds": 50, "pid_file": str(pid), "span_file": str(span)}
        event["release_file"] = str(release)
        lam.invoke(FunctionName="Sleeper", InvocationType="Event", Payload=json.dumps(event))
    assert wait_for(lambda: all(p.exists() for p in pids)), "not all three started"
    assert not any(s.exists() for s in spans)  # none had ended: all three were running
    release.touch()
    assert wait_for(lambda: all(s.exists() for s in spans))
    ran = [json.loads(s.read_text()) for s in spans]
    assert len({r["pid"] for r in ran}) == 3
    assert max(r["started"] for r in ran) < min(r["ended"] for r in ran)  # they overlapped


def test_an_init_error_is_reported_as_lambda_reports_it(lam):
    """A handler module that cannot be imported: every invocation gets Runtime.ImportModuleError."""
    for _ in range(2):  # and the failed environment is not kept: the next one tries again
        error, kind = invoke(lam, "Broken")
        assert kind == "Unhandled"
        assert error == {
            "errorMessage": (
                "Unable to import module 'broken': No module named 'not_a_module_anywhere'"
            ),
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        }


def test_a_handlers_exception_is_its_error_document(lam):
    """An exception is answered 200 with X-Amz-Function-Error and awslambdaric's document."""
    error, kind = invoke(lam, "Failing", {"n": 4})
    assert kind == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom 4")
    assert error["requestId"] and error["stackTrace"]


def test_a_worker_that_prints_garbage_disturbs_nothing(lam):
    """Bytes that are not UTF-8 on stdout, stderr and the Runtime API: the answer is whole."""
    for _ in range(2):
        assert invoke(lam, "Chatty") == ({"ok": True}, None)


def test_what_a_function_prints_is_metered_as_cloudwatch_logs_would_bill_it(lam, gateway):
    """Each line on stdout or stderr is one log event of its UTF-8 bytes plus 26: 3 lines of
    10, 0 and 5 bytes (é is two) are 3 events of 36 + 26 + 31 = 93 bytes."""

    def logs() -> dict:
        with urllib.request.urlopen(gateway.meter_url, timeout=DEADLINE) as answer:
            usage = json.load(answer)["cloudwatch_logs"]["functions"]
        return usage.get("Logs", {"events": 0, "bytes": 0})

    before = logs()
    assert invoke(lam, "Logs", {"out": ["0123456789", ""], "err": ["café"]}) == ({"ok": True}, None)

    def counted() -> dict:
        now = logs()
        return {key: now[key] - before[key] for key in ("events", "bytes")}

    assert wait_for(lambda: counted() == {"events": 3, "bytes": 93}), counted()


# -- through API Gateway -------------------------------------------------------------------------


def websocket(gateway, **query: str):
    url = f"{gateway.websocket_url}?{urlencode({'token': 't', 'room': 'r', **query})}"
    return ws_connect(url, open_timeout=DEADLINE, close_timeout=2)


def recorded(record_dir: Path, function_id: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(record_dir.glob(f"{function_id}-*.json"))]


def test_events_have_the_keys_of_the_captured_aws_events(gateway, record_dir):
    """Authorizer, $connect, MESSAGE and $disconnect events reach the worker with AWS's shape."""
    for path in record_dir.glob("*.json"):
        path.unlink()
    with websocket(gateway) as client:
        client.send('{"action": "ping"}')
        assert json.loads(client.recv(timeout=DEADLINE)) == {"action": "ping"}
        client.send("not json")
        assert client.recv(timeout=DEADLINE) == "not json"
    assert wait_for(lambda: len(recorded(record_dir, "Record")) == 4)
    (authorizer,) = recorded(record_dir, "Auth")
    by_route = {e["requestContext"]["routeKey"]: e for e in recorded(record_dir, "Record")}
    assert_same_shape(authorizer, load_event("websocket-authorizer-request"))
    assert_same_shape(by_route["$connect"], load_event("websocket-connect"))
    assert_same_shape(by_route["ping"], load_event("websocket-message"))
    assert_same_shape(by_route["$default"], load_event("websocket-message"))
    assert_same_shape(by_route["$disconnect"], load_event("websocket-disconnect"))
    expected = {"principalId": "7", "userId": "7", "username": "gus", "isStaff": "true"}
    assert by_route["ping"]["requestContext"]["authorizer"] == expected


@pytest.mark.parametrize("action", ["broken", "slow", "never", "fail"])
def test_a_failed_route_invocation_gets_api_gateways_error_frame(gateway, action):
    """Init error, timeout, throttle or exception: the client gets the Internal server error
    frame, and the connection goes on."""
    with websocket(gateway) as client:
        client.send(json.dumps({"action": action, "seconds": 30}))
        reply = json.loads(client.recv(timeout=DEADLINE))
        assert reply["message"] == "Internal server error"
        assert reply["connectionId"] and reply["requestId"]
        client.send('{"action": "ping"}')
        assert json.loads(client.recv(timeout=DEADLINE)) == {"action": "ping"}


@pytest.mark.parametrize(
    "query",
    [{"fail": "authorizer"}, {"crash": "authorizer"}, {"fail": "connect"}, {"crash": "connect"}],
)
def test_a_failed_handshake_invocation_is_500_and_leaves_no_connection(gateway, query):
    """An authorizer or $connect that raises or crashes refuses the handshake with 500."""
    with pytest.raises(InvalidStatus) as refused:
        websocket(gateway, **query).__enter__()
    assert refused.value.response.status_code == 500
    assert gateway.clients == {}


# -- the command line ----------------------------------------------------------------------------


def test_env_vars_are_read_in_sam_locals_format(tmp_path, monkeypatch):
    """--env-vars: "Parameters" for every function, a logical id's section for that function;
    --env NAME=VALUE, or NAME alone for the gateway's own value, after the file."""
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"Parameters": {"A": "1", "N": 2}, "EnvB": {"B": "b"}}))
    assert read_env_vars(path) == ({"A": "1", "N": "2"}, {"EnvB": {"B": "b"}})
    started: list[Settings] = []
    monkeypatch.setattr("emulator.cli.serve", lambda h, p, settings, api: started.append(settings))
    monkeypatch.setattr("emulator.cli.asyncio.run", lambda serving: None)
    monkeypatch.setenv("FROM_HERE", "here")
    main(
        ["--env-vars", str(path), "--env", "A=override", "--env", "FROM_HERE", "--concurrency", "4"]
    )
    (settings,) = started
    assert settings.mode == "process" and settings.concurrency == 4
    assert settings.environment_overrides == {"A": "override", "N": "2", "FROM_HERE": "here"}
    assert settings.function_overrides == {"EnvB": {"B": "b"}}


def test_thread_mode_hands_its_hook_the_local_variables_process_mode_sets(lam, record_dir):
    """Thread mode leaves this process's environment alone: the embedding program's hook gets
    what a function finds in process mode on top of the template's and Lambda's own variables
    (for the thread-mode gateway's own endpoints), again after reconfigure()."""
    a, _ = invoke(lam, "EnvA")
    lambdas_own = {name for name in a if name.startswith(("AWS_LAMBDA_", "_"))}
    lambdas_own |= {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT"}
    lambdas_own |= {"PATH", "LANG", "TZ", "PYTHONPATH", "LC_CTYPE", *role_credentials("EnvA")}
    declared = {"SHARED", "RECORD_DIR", "ONLY_A"}
    seen: list[dict[str, str]] = []
    settings = Settings(
        mode="thread",
        environment_overrides={"LOCAL_OVERRIDE": "for every function"},
        thread_environment=seen.append,
    )
    before = dict(os.environ)
    runner = GatewayThread(read_api(template(record_dir), template_dir=HERE), settings)
    own = runner.start()
    try:
        (variables,) = seen
        assert set(variables) == set(a) - lambdas_own - declared
        assert variables["LOCAL_OVERRIDE"] == a["LOCAL_OVERRIDE"]
        assert variables["MANAGEMENT_ENDPOINT_URL"] == own.management_url
        assert variables["LAMBDA_ENDPOINT_URL"] == own.lambda_url
        runner.call(own.reconfigure({"LOCAL_OVERRIDE": "changed"}))
        assert seen[-1]["LOCAL_OVERRIDE"] == "changed"
    finally:
        runner.stop()
    assert dict(os.environ) == before


def test_the_cli_in_thread_mode_hands_the_functions_variables_to_its_own_environment(monkeypatch):
    """`--mode thread`: the CLI's process is the functions' own, so their variables become its
    environment (nobody else's is touched); process mode needs no hook."""
    started: list[Settings] = []
    monkeypatch.setattr("emulator.cli.serve", lambda h, p, settings, api: started.append(settings))
    monkeypatch.setattr("emulator.cli.asyncio.run", lambda serving: None)
    main(["--mode", "thread"])
    main([])
    thread, process = started
    assert thread.thread_environment == os.environ.update
    assert process.thread_environment is None
