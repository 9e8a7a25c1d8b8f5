"""A stage's parameters against a Region's quotas: AWS's documented defaults (offline, `make
check`) or an account's own figures (deploy/preflight.py reads them). Each problem is one line
saying what to lower or which quota increase to request."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.figures import api_throttles, concurrency_claims, resolver_for, tables
from deploy.stage import Stage

# AWS's documented defaults: the offline check's account, and the fallback for a figure an
# account's own API does not answer (each source read when this was written; check them again).
# Lambda: 1,000 concurrent executions per Region; 100 of them always stay unreserved.
#   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
#   https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
# API Gateway: 10,000 requests/s with a burst of 5,000 per account and Region, across REST, HTTP
# and WebSocket APIs; 2,500 and 1,250 in the Regions of LOW_THROTTLE_REGIONS.
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
# WebSocket APIs: 500 new connections/s per account and Region (caps $connect, whatever the
# stage's throttle says).
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html
# DynamoDB: 2,500 tables per Region; provisioned capacity at most 40,000 read and 40,000 write
# units per table or index, 80,000 per account and Region (on-demand tables: no account total).
#   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
MIN_UNRESERVED = 100
LOW_THROTTLE_REGIONS = frozenset(
    {
        "af-south-1",
        "eu-south-1",
        "ap-southeast-3",
        "me-central-1",
        "ap-south-2",
        "ap-southeast-4",
        "eu-south-2",
        "eu-central-2",
        "il-central-1",
        "ca-west-1",
        "ap-southeast-5",
        "ap-southeast-7",
        "mx-central-1",
    }
)
LAMBDA_QUOTA = "'Concurrent executions' (Service Quotas: AWS Lambda, L-B99A9384)"
API_QUOTA = "'Throttle rate' (Service Quotas: Amazon API Gateway, L-8A5B8E43)"
CONNECTIONS_QUOTA = "'New connections per second' (Amazon API Gateway, L-9ED1E49A)"
TABLES_QUOTA = "'Maximum number of tables' (Service Quotas: Amazon DynamoDB)"
CAPACITY_QUOTA = "a DynamoDB throughput quota increase (Service Quotas: Amazon DynamoDB)"


@dataclass(frozen=True)
class Quotas:
    """The Region's figures the stage is held against, and where they came from."""

    source: str
    offline: bool = True  # AWS's defaults, not an account's own figures
    lambda_concurrency: int = 1000
    lambda_unreserved: int = 1000  # free for this stage, its own current claim given back
    api_rate: float = 10000.0
    api_burst: int = 5000
    new_connections: int = 500
    tables: int = 2500
    tables_existing: int = 0
    tables_new: int | None = None  # None: all of the stage's tables count as new
    table_max_read: int = 40000
    table_max_write: int = 40000
    account_max_read: int = 80000
    account_max_write: int = 80000


def default_quotas(region: str) -> Quotas:
    low = region in LOW_THROTTLE_REGIONS
    return Quotas(
        source=f"a default account in {region}",
        api_rate=2500.0 if low else 10000.0,
        api_burst=1250 if low else 5000,
    )


def _n(number: float) -> str:
    return f"{number:,.0f}"


def stage_problems(template: dict, stage: Stage, quotas: Quotas) -> tuple[list[str], list[str]]:
    """(problems, notes) of the stage's parameters against the quotas; no AWS call."""
    resolver = resolver_for(template, stage)
    problems: list[str] = []
    notes: list[str] = []
    file = stage.file

    # Lambda: reservations and provisioned instances, against what the Region leaves free.
    claims = concurrency_claims(template, resolver)
    need = sum(claim.claimed for claim in claims)
    groups: dict[str, list] = {}
    for claim in claims:
        if claim.claimed:
            groups.setdefault(claim.parameter or "ProvisionedConcurrency", []).append(claim)
    parts = ", ".join(
        f"{name} {len(held)} x {held[0].claimed}"
        if len({c.claimed for c in held}) == 1
        else f"{name} {sum(c.claimed for c in held)} over {len(held)} functions"
        for name, held in sorted(groups.items())
    )
    free = quotas.lambda_unreserved - MIN_UNRESERVED
    held = f"reserves {_n(need)} concurrent executions" + (f" ({parts})" if parts else "")
    if need > free:
        where = (
            f"{quotas.source} has {_n(quotas.lambda_concurrency)} per Region of which"
            f" {MIN_UNRESERVED} stay unreserved"
            if quotas.offline
            else f"{quotas.source} leaves {_n(quotas.lambda_unreserved)} of its"
            f" {_n(quotas.lambda_concurrency)} for this stage and {MIN_UNRESERVED} must stay"
            " unreserved"
        )
        fix = (
            f"lower ReservedConcurrency*/ProvisionedConcurrency in {file} to"
            f" {_n(max(free, 0))} or less in total"
        )
        problems.append(
            f"Lambda: stage {stage.name} {held}, but {where}: {fix}"
            + ("" if quotas.offline else f", or request a higher {LAMBDA_QUOTA}")
        )
    else:
        notes.append(
            f"Lambda: stage {stage.name} {held}: {need / quotas.lambda_concurrency:.0%} of the"
            f" {_n(quotas.lambda_concurrency)} of {quotas.source}, leaving"
            f" {_n(quotas.lambda_unreserved - need)} unreserved"
        )
    for claim in claims:
        if claim.reserved is not None and claim.provisioned > claim.reserved:
            problems.append(
                f"Lambda: {claim.function} keeps {claim.provisioned} provisioned instances but"
                f" reserves only {claim.reserved} (provisioned instances come out of the"
                f" reservation): raise {claim.parameter} or lower ProvisionedConcurrency in {file}"
            )

    # API Gateway: no stage or route may ask for more than the account's own throttle.
    for throttle in api_throttles(template, resolver):
        for what, value, limit, parameter, quota in (
            ("rate", throttle.rate, quotas.api_rate, throttle.rate_parameter, API_QUOTA),
            ("burst", throttle.burst, quotas.api_burst, throttle.burst_parameter, None),
        ):
            if value > limit:
                ask = (
                    f", or request a higher {quota}"
                    if quota
                    else " (AWS sets the burst from the rate)"
                )
                problems.append(
                    f"API Gateway: the {what} limit of {throttle.where} is {_n(value)}, above"
                    f" {quotas.source}'s {_n(limit)}: lower {parameter} in {file}{ask}"
                )
        if throttle.where == "every route" and throttle.rate > quotas.new_connections:
            notes.append(
                f"API Gateway: $connect is held to {_n(quotas.new_connections)} new connections/s"
                f" by the account ({CONNECTIONS_QUOTA}), below the stage's {_n(throttle.rate)}/s"
            )

    # DynamoDB: tables per Region; provisioned capacity per table and per account.
    stage_tables = tables(template, resolver)
    new = len(stage_tables) if quotas.tables_new is None else quotas.tables_new
    if quotas.tables_existing + new > quotas.tables:
        problems.append(
            f"DynamoDB: the stage creates {new} tables, {quotas.source} has"
            f" {_n(quotas.tables_existing)} of its {_n(quotas.tables)}: delete unused tables or"
            f" request a higher {TABLES_QUOTA}"
        )
    provisioned = [table for table in stage_tables if table.provisioned]
    values = resolver.values
    for unit, per_table, per_account in (
        ("Read", quotas.table_max_read, quotas.account_max_read),
        ("Write", quotas.table_max_write, quotas.account_max_write),
    ):
        if not provisioned:
            break
        most = int(float(values.get(f"{unit}CapacityMax", 0)))
        if most > per_table:
            problems.append(
                f"DynamoDB: {unit}CapacityMax {_n(most)} is above {quotas.source}'s"
                f" {_n(per_table)} per table or index: lower it in {file} or request"
                f" {CAPACITY_QUOTA}"
            )
        holders = sum(table.holders for table in provisioned)
        initial = sum(table.holders * getattr(table, unit.lower()) for table in provisioned)
        if initial > per_account:
            problems.append(
                f"DynamoDB: the stage's tables and indexes start at {_n(initial)} {unit.lower()}"
                f" capacity units, above {quotas.source}'s {_n(per_account)}: lower"
                f" {unit}CapacityMin in {file} or request {CAPACITY_QUOTA}"
            )
        elif holders * most > per_account:
            notes.append(
                f"DynamoDB: auto scaling stops at {quotas.source}'s {_n(per_account)}"
                f" {unit.lower()} units in all, below {holders} x {unit}CapacityMax {_n(most)}"
            )
    return problems, notes
