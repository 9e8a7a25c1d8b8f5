"""A failover as the page lives it (docs/multi-region.md, "The fence"), in Chromium: the page's
gateway plays the secondary Region of a two-Region stage whose primary is still active and
answers, so its send is refused `region_moved` and its socket closed. The message stays in the
outbox, pending and waiting (never failed, no notice to act on), while the page reconnects;
once this Region becomes the active one (its claim, or a failback), the page's next socket
sends it, once."""

from __future__ import annotations

import pytest

from lambdas.models import ActiveRegion, Message
from lambdas.services.fence import MARKER_KEY, region_mark
from tests.browser.chatpage import axe_violations, screenshot, send, shown, wait_until
from tests.helpers import PeerHealth, RestartableGateway, bind_config

HERE, PRIMARY = "us-east-1", "us-west-2"  # the emulator's functions run in us-east-1
WAITING = "() => document.querySelector('#messages li.pending.waiting') !== null"
DELIVERED = "() => document.querySelectorAll('#messages li.message:not(.pending)').length === 1"


@pytest.fixture
def secondary(site, gateway, settings):
    """The pages' gateway: functions in this process, in the secondary of a stage whose primary
    (the peer's health route) is active (no marker) and healthy; markers read afresh each time
    (FENCE_TTL_SECONDS=0), so the test's hand-over is seen at once."""
    peer = PeerHealth(PRIMARY)
    own = RestartableGateway(mode="thread")
    settings.WEBSOCKET_URL = own.start().websocket_url
    ActiveRegion(MARKER_KEY).delete()
    bind_config(PRIMARY_REGION=PRIMARY, PEER_HEALTH_URL=peer.url, FENCE_TTL_SECONDS=0)
    yield peer
    own.restore()
    bind_config()
    peer.close()
    ActiveRegion(MARKER_KEY).delete()


@pytest.mark.parametrize(
    "viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}]
)
def test_a_send_refused_region_moved_waits_then_goes_once_the_region_is_active(
    secondary, open_chat, room, viewport
):
    alice = open_chat(room, "alice", viewport=viewport)
    send(alice, "sent while the chat moves")
    # The page keeps it, pending and waiting, and goes on reconnecting: not failed, no notice
    wait_until(alice, WAITING)
    assert secondary.probes > 0  # the Region asked the active one before refusing
    assert alice.locator("#messages li.failed").count() == 0
    assert not alice.locator("#notice").is_visible()
    screenshot(alice, f"region-moved-waiting-{viewport['width']}")
    assert axe_violations(alice) == []
    # When this Region becomes the active one, the next socket sends it: stored and shown once
    region_mark(region=HERE, seen=None)
    wait_until(alice, DELIVERED)
    alice.wait_for_selector("#status[data-state=live]")
    screenshot(alice, f"region-moved-delivered-{viewport['width']}")
    assert [m.text for m in Message.query(room)] == ["sent while the chat moves"]
    assert [m["text"] for m in shown(alice)] == ["sent while the chat moves"]
