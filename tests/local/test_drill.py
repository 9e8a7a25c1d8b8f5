"""`make drill`, shortened (bench/drill.py): two Regions of real gateways on
devstack/replicator.py, the front playing Route 53, three pages chatting through it; the
primary is killed. Every page is live again through the secondary; what is missing is only
what the primary had not replicated (and it arrives when the primary is back); no duplicates
after the failover, at most the sends in flight at the kill once the primary is back; each
sender's order kept; the takeover's jump of change numbers; every page shows every stored
message. Then the primary comes back passive (its health route 503, a send reaching it refused
`region_moved` and stored nowhere) until `deploy.failback` hands the stage back: a page loaded
once the domain answers the primary takes it back with its first message, and every page is live
on the primary again, with no duplicates and every sender's order kept. In a process of its
own: the drill points its environment at its own tables."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT


def test_a_region_fails_while_three_pages_chat(tmp_path):
    figures = tmp_path / "drill.json"
    args = ["--before", "4", "--after", "2", "--lag", "0.5", "--interval", "0.5", "--ttl", "1"]
    args += ["--settle", "4", "--fence-ttl", "1", "--backoff-base", "0.5", "--deadline", "120"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.drill", *args, "--no-results", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(figures.read_text())
    assert report["problems"] == []
    assert sorted(report["live_again"]) == ["p0", "p1", "p2"]
    assert report["unhealthy_after"] is not None and report["switched_after"] is not None
    assert report["duplicates"] == 0 and report["order_kept"]
    assert report["lost"] == [] and set(report["pages_missing"].values()) == {0}
    assert report["duplicates_after_return"] <= 3
    assert report["largest_jump"] >= 1_000_000  # the secondary took the room's numbers over
    assert report["acked_total"] > report["acked_before"] > 0  # chat before and after
    assert report["late"] >= len(report["missing"])  # the missing came back with the primary
    # The primary back: passive until failback by hand, then every page on it again
    assert report["back_health"] == 503
    assert (report["stray"], report["stray_stored"]) == ("region_moved", 0)
    assert report["newcomer"] == "stored"  # handed the stage, the primary took it back
    assert sorted(report["failback_live"]) == ["p0", "p1", "p2"]
    assert report["moved"] > 0  # the secondary's fence sent the pages back
    assert report["final_duplicates"] <= 3 and report["final_order_kept"]
    assert set(report["final_pages_missing"].values()) == {0}
