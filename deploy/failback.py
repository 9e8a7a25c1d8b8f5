"""`python -m deploy.failback --stage prod --region us-east-1 [--complete] [--endpoint-url URL]`:
failback by hand (docs/multi-region.md, "The fence"), in two steps, so that clients are sent back
to the primary before it takes the writes (without a write outage while DNS catches up).

After a failover the secondary holds the stage (the active-Region marker names it) and the
primary's health route answers 503 `passive`, so Route 53 keeps the domain on the secondary
even once the primary is well.

1. `failback` (the hand-over): the marker keeps naming the secondary, which goes on taking the
   writes, and gains `handover: <primary>`. The primary's health route answers 200 again;
   Route 53 calls it healthy after its threshold of checks and answers the domain with it, and
   clients that reconnect or load a page then reach it. The primary takes the stage back with
   the first change such a client makes (no probe of the secondary); the secondary, seeing the
   marker within the replication lag + FENCE_TTL_SECONDS, refuses writes and closes its
   sockets, whose pages reconnect, through the domain, to the primary.
2. `failback --complete`, once the domain answers the primary (Route 53's health check of the
   primary Healthy, plus the record's TTL): names the primary the active Region at once, for a
   stage with no client reaching the primary to take it back by itself.

Each write has the next epoch and is conditional on the epoch read (a claim in between makes it
stop, and say so). Run it with credentials of the account, from a machine that reaches the
primary's DynamoDB. Exit codes: 0 done (or nothing to do), 1 the marker changed meanwhile or
could not be written.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from lambdas.config import configure, load_config
from lambdas.services.fence import MarkerChanged, region_mark, region_marker


@dataclass(frozen=True)
class Failback:
    table: str
    region: str
    before: str | None  # the Region the marker named (None: absent, the primary already)
    before_epoch: int
    epoch: int | None  # the epoch written; None: nothing to do
    handover: bool = False  # the hand-over (step 1) rather than the active Region named

    @property
    def done(self) -> bool:
        return self.epoch is not None


def run_failback(
    *,
    stage: str,
    region: str,
    endpoint_url: str | None = None,
    table_prefix: str | None = None,
    complete: bool = False,
) -> Failback:
    """Hand the stage over to `region` (the stage's primary) in its own replica of the stage's
    rooms table, or with `complete` name it the active Region; MarkerChanged if another write
    came between the read and the write."""
    env = {"STAGE": stage, "AWS_REGION": region}
    if endpoint_url:
        env["DYNAMODB_ENDPOINT_URL"] = endpoint_url
    if table_prefix:
        env["TABLE_PREFIX"] = table_prefix
    config = configure(load_config(env))
    table = config.table_name("rooms")
    seen = region_marker(consistent=True)
    if seen is None or seen.region == region or (seen.handover == region and not complete):
        before = None if seen is None else seen.region
        return Failback(table, region, before, _epoch(seen), None, handover=seen is not None)
    if complete:
        marked = region_mark(region=region, seen=seen)
    else:  # the other Region keeps the writes until a client reaches this one
        marked = region_mark(region=seen.region, seen=seen, handover=region)
    return Failback(table, region, seen.region, seen.epoch, marked.epoch, handover=not complete)


def _epoch(marker) -> int:
    return marker.epoch if marker is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.failback", description=__doc__)
    parser.add_argument("--stage", required=True)
    parser.add_argument(
        "--region",
        required=True,
        help="the stage's primary Region (its PRIMARY_REGION): the one to make active",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("DYNAMODB_ENDPOINT_URL") or None,
        help="a DynamoDB endpoint other than AWS's (a local stack)",
    )
    parser.add_argument("--table-prefix", default=None, help="default: dynamowave-<stage>-")
    parser.add_argument(
        "--complete",
        action="store_true",
        help="step 2: name the primary active now (once the domain answers it)",
    )
    args = parser.parse_args(argv)
    try:
        done = run_failback(
            stage=args.stage,
            region=args.region,
            endpoint_url=args.endpoint_url,
            table_prefix=args.table_prefix,
            complete=args.complete,
        )
    except MarkerChanged:
        print(
            "failback stopped: the active-Region marker changed between its read and the write\n"
            "    (a Region claimed the stage meanwhile): check both Regions' health, run it again",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # noqa: BLE001 - an operator's tool: say what failed, exit 1
        print(f"failback failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if not done.done:
        print(
            f"nothing to do: {done.region} is the active Region of {done.table} already "
            f"(marker {'absent' if done.before is None else f'epoch {done.before_epoch}'})"
            if not done.handover
            else f"nothing to do: {done.table} is being handed back to {done.region} already "
            f"(epoch {done.before_epoch}); `--complete` names it active now"
        )
        return 0
    if done.handover:
        print(
            f"==> {done.table} in {done.region}: handed back to {done.region} (epoch "
            f"{done.epoch}); {done.before} takes the writes until a client reaches {done.region}\n"
            "Check, in this order:\n"
            f'  1. {done.region}\'s health URL answers 200 {{"ok": true}} (it said 503 passive '
            "until now); Route 53 calls it healthy after its failure threshold of checks and "
            "answers the domain with it; resolvers follow within the record's TTL.\n"
            f"  2. {done.region}'s logs say 'stage taken back: failback' at the first change a "
            f"client makes there; {done.before}'s then say 'write refused: region moved' within "
            "the replication lag + FENCE_TTL_SECONDS, and its pages reconnect to it.\n"
            f"  3. If the stage is quiet (nobody reached {done.region} yet) once the domain "
            "answers it: run this again with --complete."
        )
        return 0
    print(
        f"==> {done.table} in {done.region}: active Region {done.before} "
        f"(epoch {done.before_epoch}) -> {done.region} (epoch {done.epoch})\n"
        "Check, in this order:\n"
        f"  1. {done.before} sees the marker after the replication lag (CloudWatch "
        "ReplicationLatency) and, within FENCE_TTL_SECONDS more, refuses writes: its logs say "
        "'write refused: region moved', its pages reconnect through the domain.\n"
        f"  2. {done.region}'s logs say 'change numbers taken over' once per active room (the "
        "jump), and no 'stage claimed' in either Region.\n"
        f"  3. {done.before}'s health URL still answers 200 (it is the standby again)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
