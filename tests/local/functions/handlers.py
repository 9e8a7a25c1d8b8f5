"""Handlers the runtime tests run in worker processes: state, environment, slowness, failure."""

import json
import os
import socket
import sys
import time

INVOCATIONS = 0  # module state: it lives as long as the execution environment
STARTED_PID = os.getpid()
BOTO3_BEFORE_INIT = "boto3" in sys.modules  # imported already: a zygote preloaded it


def counter(event: dict, context) -> dict:
    """How many invocations this environment has served, and who it is."""
    global INVOCATIONS
    INVOCATIONS += 1
    return {
        "invocations": INVOCATIONS,
        "pid": STARTED_PID,
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def lineage(event: dict, context) -> dict:
    """Who started this environment, and whether boto3 was imported before its init."""
    global INVOCATIONS
    INVOCATIONS += 1
    time.sleep(event.get("seconds", 0))
    return {
        "pid": STARTED_PID,
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "invocations": INVOCATIONS,
        "boto3_before_init": BOTO3_BEFORE_INIT,
        "botocore_data_parsed": bool(_new_loader_cache()),
    }


def _new_loader_cache() -> dict:
    """What a new botocore Loader (as each new session makes) holds already."""
    import botocore.loaders

    return botocore.loaders.Loader()._cache


def environment(event: dict, context) -> dict:
    """The environment variables this environment was given."""
    return dict(os.environ)


def echo(event: dict, context) -> dict:
    """The event, exactly as the handler received it."""
    return event


def sleep(event: dict, context) -> dict:
    """Sleeps for "seconds" (of the event, or of a route's frame); writes its pid first (a test
    may kill it meanwhile) and {"pid", "started", "ended"} to "span_file" at the end. With a
    "release_file", it ends as soon as that file exists ("seconds" is then only a limit): a
    test holds it running for as long as it needs, however slow the machine."""
    started = time.time()
    arguments = json.loads(event["body"]) if "requestContext" in event else event
    if "pid_file" in arguments:
        with open(arguments["pid_file"], "w") as out:
            out.write(str(os.getpid()))
    if "release_file" in arguments:
        limit = time.monotonic() + arguments.get("seconds", 0)
        while not os.path.exists(arguments["release_file"]) and time.monotonic() < limit:
            time.sleep(0.02)
    else:
        time.sleep(arguments.get("seconds", 0))
    if "span_file" in arguments:
        with open(arguments["span_file"], "w") as out:
            json.dump({"pid": os.getpid(), "started": started, "ended": time.time()}, out)
    return {"slept": arguments.get("seconds", 0), "pid": STARTED_PID}


def fail(event: dict, context) -> dict:
    """Raises, as a handler with a bug does."""
    raise ValueError(f"boom {event.get('n')}")


def chatter(event: dict, context) -> dict:
    """Prints garbage (not UTF-8, no newline) and sends some to the Runtime API, then answers."""
    os.write(1, b"\xff\xfe garbage \x00" * 1000)
    os.write(2, b"\x1b[31m more \xff")
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    with socket.create_connection((host, int(port))) as runtime_api:
        runtime_api.sendall(b"\x00\xff NOT HTTP\r\n\r\n")
        runtime_api.recv(1024)
    return {"ok": True}


def allow(event: dict, context) -> dict:
    """An authorizer that lets everyone in."""
    return {
        "principalId": "1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"user": "one", "staff": False, "level": 3},
    }


def unauthorized(event: dict, context) -> dict:
    """An authorizer that refuses the way AWS's blueprints do."""
    raise Exception("Unauthorized")  # noqa: TRY002 - the exact exception API Gateway expects


def nested_context(event: dict, context) -> dict:
    """An authorizer whose context holds an object, which API Gateway does not accept."""
    return {**allow(event, context), "context": {"user": {"id": 1}}}


def log_lines(event: dict, context) -> dict:
    """Print the event's `out` lines to stdout and `err` lines to stderr: the function's log."""
    for line in event.get("out", []):
        print(line, flush=True)
    for line in event.get("err", []):
        print(line, file=sys.stderr, flush=True)
    return {"ok": True}
