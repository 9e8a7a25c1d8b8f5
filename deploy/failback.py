"""`python -m deploy.failback --stage prod --region us-east-1 [--endpoint-url URL]`: failback by
hand (docs/multi-region.md, "The fence"): name the primary Region the stage's active one again.

After a failover the secondary holds the stage (the active-Region marker names it) and the
primary's health route answers 503 `passive`, so Route 53 keeps the domain on the secondary even
once the primary is well. This writes the marker, in the primary's replica of the rooms table,
back to the primary with the next epoch (conditional on the epoch read: a claim in between makes
it stop, and say so). The primary's health route then answers 200, Route 53 moves the domain
back, and the secondary, finding the primary healthy, refuses writes and closes its sockets.

Run it with credentials of the account, from a machine that reaches the primary's DynamoDB.
Exit codes: 0 done (or nothing to do), 1 the marker changed meanwhile or could not be written.
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

    @property
    def done(self) -> bool:
        return self.epoch is not None


def run_failback(
    *,
    stage: str,
    region: str,
    endpoint_url: str | None = None,
    table_prefix: str | None = None,
) -> Failback:
    """Name `region` (the stage's primary) the active Region in its own replica of the stage's
    rooms table; MarkerChanged if another write came between the read and the write."""
    env = {"STAGE": stage, "AWS_REGION": region}
    if endpoint_url:
        env["DYNAMODB_ENDPOINT_URL"] = endpoint_url
    if table_prefix:
        env["TABLE_PREFIX"] = table_prefix
    config = configure(load_config(env))
    table = config.table_name("rooms")
    seen = region_marker(consistent=True)
    if seen is None or seen.region == region:
        return Failback(table, region, None if seen is None else seen.region, _epoch(seen), None)
    marked = region_mark(region=region, seen=seen)
    return Failback(table, region, seen.region, seen.epoch, marked.epoch)


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
    args = parser.parse_args(argv)
    try:
        done = run_failback(
            stage=args.stage,
            region=args.region,
            endpoint_url=args.endpoint_url,
            table_prefix=args.table_prefix,
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
        )
        return 0
    print(
        f"==> {done.table} in {done.region}: active Region {done.before} "
        f"(epoch {done.before_epoch}) -> {done.region} (epoch {done.epoch})\n"
        "Check, in this order:\n"
        f'  1. {done.region}\'s health URL answers 200 {{"ok": true}} (it said 503 passive until '
        "now); Route 53 moves the domain back after its failure threshold of checks pass, plus "
        "the record's TTL.\n"
        f"  2. {done.before} sees the marker after the replication lag (CloudWatch "
        "ReplicationLatency) and, within FENCE_TTL_SECONDS more, refuses writes: its logs say "
        "'write refused: region moved', its pages reconnect through the domain.\n"
        f"  3. {done.region}'s logs say 'change numbers taken over' once per active room (the "
        "jump), and no 'stage claimed' in either Region.\n"
        f"  4. {done.before}'s health URL still answers 200 (it is the standby again)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
