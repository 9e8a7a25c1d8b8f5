"""The local gateway serves the template's function URLs: the health route answers through it
with the Region's name, from an event of the captured shape; other paths are refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.helpers import load_event
from tests.local.test_events import assert_same_shape, recorded  # noqa: F401 - a fixture


def get(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_the_health_route_answers_through_its_function_url(gateway, recorded):  # noqa: F811
    status, headers, body = get(gateway.function_url_of("HealthFunction") + "health")
    assert status == 200
    assert body == {"ok": True, "region": body["region"]} and body["region"]
    assert headers["cache-control"] == "no-store"
    ((handler, event),) = [(h, e) for h, e in recorded if h == "health"]
    assert_same_shape(event, load_event("function-url-health"))
    assert (event["rawPath"], event["requestContext"]["http"]["method"]) == ("/health", "GET")


def test_a_function_without_a_url_is_not_served(gateway):
    status, _, _ = get(gateway.function_url_of("PingFunction") + "health")
    assert status == 403
