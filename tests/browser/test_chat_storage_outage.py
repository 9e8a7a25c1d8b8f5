"""A Region whose tables fail while its gateway stays up, as the page lives it
(docs/multi-region.md, "When a Region's tables fail"): the page's socket still works, but every
frame it sends is answered `unavailable`. Its send waits ("briefly unavailable, retrying…");
after three such answers in a row the page opens another socket through the domain, which
Route 53 (devstack/front.py) now sends to the healthy Region; the page takes it, and the send
goes there, once."""

from __future__ import annotations

import pytest

from devstack.front import Front, Region
from lambdas.models import Message
from tests.browser.chatpage import axe_violations, screenshot, send, shown, wait_until
from tests.helpers import RestartableGateway, TcpRelay, function_settings, wait_for

WAITING = """() => [...document.querySelectorAll('#messages li.pending.waiting')]
    .some((li) => li.textContent.includes('briefly unavailable'))"""
SETTLED = "() => document.getAnimations().every((a) => a.playState !== 'running')"
DELIVERED = "() => document.querySelectorAll('#messages li.message:not(.pending)').length === 1"


def health(gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}/@url/HealthFunction/health"


@pytest.fixture
def regions(site, gateway, dynamodb, settings):
    """The primary: a gateway of its own whose functions reach DynamoDB through a relay the test
    cuts; the secondary: the session's gateway, on the same tables. The pages' WebSocket URL is
    the front's: Route 53 with health checks every 0.2 s, one failure to fail over, TTL 0."""
    relay = TcpRelay(int(dynamodb.rsplit(":", 1)[1]))
    primary = RestartableGateway(
        mode="process",
        environment_overrides={**function_settings(), "DYNAMODB_ENDPOINT_URL": relay.url},
    )
    primary.start()
    own = primary.runner.gateway
    front = gateway.runner.call(
        Front(
            Region("primary", f"ws://127.0.0.1:{own.port}", health(own)),
            Region("secondary", f"ws://127.0.0.1:{gateway.port}", health(gateway)),
            interval=0.2,
            threshold=1,
            ttl=0,
        ).start()
    )
    settings.WEBSOCKET_URL = front.url(f"/{gateway.websocket_url.rsplit('/', 1)[1]}")
    yield front, relay
    gateway.runner.call(front.stop())
    primary.restore()
    relay.cut()


def test_a_page_whose_regions_tables_fail_moves_to_the_healthy_region(regions, open_chat, room):
    front, relay = regions
    alice = open_chat(room, "alice", viewport={"width": 1440, "height": 900})
    assert front.relayed == {"primary": 1, "secondary": 0}
    # Given the primary's tables fail (its gateway stays up: the page's socket is not closed)
    relay.cut()
    assert wait_for(lambda: not front.primary.healthy)
    # When Alice sends, the send waits, retrying, never failed (or it is already delivered: the
    # page's own opening frames, answered after the cut, may have moved it before she sent)
    send(alice, "sent while the tables fail")
    wait_until(alice, f"() => ({WAITING})() || ({DELIVERED})()")
    assert alice.locator("#messages li.failed").count() == 0
    assert not alice.locator("#notice").is_visible()  # nothing to do: the page retries
    screenshot(alice, "storage-outage-waiting-1440")
    assert axe_violations(alice) == []
    alice.set_viewport_size({"width": 390, "height": 844})
    wait_until(alice, SETTLED)  # the panels' slide to the phone layout
    screenshot(alice, "storage-outage-waiting-390")
    # Then the page hands over to a socket in the healthy Region, and it goes there, once
    wait_until(alice, DELIVERED)
    alice.wait_for_selector("#status[data-state=live]")
    assert front.relayed["secondary"] >= 1
    screenshot(alice, "storage-outage-delivered-390")
    assert [m.text for m in Message.query(room)] == ["sent while the tables fail"]
    assert [m["text"] for m in shown(alice)] == ["sent while the tables fail"]
    assert alice.locator("#messages li.failed").count() == 0
