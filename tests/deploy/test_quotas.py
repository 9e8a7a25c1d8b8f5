"""A stage against a Region's quotas (deploy/quotas.py, deploy/figures.py): AWS's defaults offline,
an account's own before a deploy; each problem one line saying what to lower or request."""

from __future__ import annotations

import re
from dataclasses import replace

from deploy.figures import concurrency_claims, refs, resolver_for, tables
from deploy.quotas import default_quotas, stage_problems

REGION = "us-east-1"
DEFAULT = default_quotas(REGION)


def test_production_fits_a_default_account_with_room_to_spare(template, stage_of):
    """prod reserves 500 of a default account's 1,000 (half, 500 left unreserved); issue
    22's 100/200/50 (2,155 with the index, thumbnail and health functions) is refused, saying
    what to lower."""
    stage = stage_of()
    problems, notes = stage_problems(template, stage, DEFAULT)
    assert problems == []
    claims = concurrency_claims(template, resolver_for(template, stage))
    assert sum(c.claimed for c in claims) == 500
    assert "leaving 500 unreserved" in notes[0]
    # prod provisions none (bench/COST.md: a quarter of the team's bill); where a stage does,
    # the instances sit inside their function's reservation.
    assert not [c for c in claims if c.provisioned]
    claims = concurrency_claims(
        template, resolver_for(template, stage_of(ProvisionedConcurrency="2"))
    )
    provisioned = {c.function: c for c in claims if c.provisioned}
    assert set(provisioned) == {"AuthorizerFunction", "ConnectFunction", "SendMessageFunction"}
    assert all(c.provisioned <= c.reserved for c in provisioned.values())

    issue = stage_of(
        ReservedConcurrencyConnections="100",
        ReservedConcurrencyMessaging="200",
        ReservedConcurrencyQueries="50",
    )
    problems, _ = stage_problems(template, issue, DEFAULT)
    assert len(problems) == 1
    assert problems[0].startswith("Lambda: stage prod reserves 2,155 concurrent executions")
    assert "to 900 or less in total" in problems[0]


def test_each_reservation_parameter_names_exactly_its_functions(template):
    """template.yaml's descriptions of ReservedConcurrency* count and name every function whose
    ReservedConcurrentExecutions uses the parameter, and no other."""
    users: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        expression = resource.get("Properties", {}).get("ReservedConcurrentExecutions")
        for name in refs(expression):
            if name.startswith("ReservedConcurrency"):
                users.setdefault(name, []).append(logical_id)
    assert set(users) == {
        "ReservedConcurrencyConnections",
        "ReservedConcurrencyMessaging",
        "ReservedConcurrencyQueries",
    }
    every_function = {
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    # The health function's is a fixed 5 where a stage reserves (Route 53's checks are a few a
    # second at most, whatever the traffic): no parameter to describe.
    fixed = {"HealthFunction"}
    assert set().union(*users.values()) == every_function - fixed
    for name, functions in users.items():
        description = template["Parameters"][name]["Description"]
        named = set(re.findall(r"\b[A-Z][A-Za-z]+Function\b", description))
        assert named == set(functions), name
        assert f"EACH of the {len(functions)} " in description
        assert f"{len(functions)} x this" in description


def test_provisioned_instances_beyond_a_reservation_are_refused(template, stage_of):
    """Provisioned concurrency comes out of the reservation: 2 instances cannot fit in 1."""
    stage = stage_of(ReservedConcurrencyConnections="1", ProvisionedConcurrency="2")
    problems, _ = stage_problems(template, stage, DEFAULT)
    assert [p.split(" keeps")[0] for p in problems] == [
        "Lambda: AuthorizerFunction",
        "Lambda: ConnectFunction",
    ]
    assert "raise ReservedConcurrencyConnections or lower ProvisionedConcurrency" in problems[0]


def test_throttles_above_the_accounts_are_refused(template, stage_of):
    """Every stage and route throttle stays within API Gateway's account throttle; Regions with
    the lower documented default get it."""
    stage = stage_of()
    small = replace(DEFAULT, api_rate=50.0, api_burst=150)
    problems, _ = stage_problems(template, stage, small)
    assert problems == [
        "API Gateway: the rate limit of every route is 600, above a default account in"
        " us-east-1's 50: lower ThrottlingRateLimit in deploy/parameters/prod.json, or request"
        " a higher 'Throttle rate' (Service Quotas: Amazon API Gateway, L-8A5B8E43)",
        "API Gateway: the burst limit of every route is 1,200, above a default account in"
        " us-east-1's 150: lower ThrottlingBurstLimit in deploy/parameters/prod.json (AWS sets"
        " the burst from the rate)",
        "API Gateway: the rate limit of sendmessage is 100, above a default account in"
        " us-east-1's 50: lower SendMessageRateLimit in deploy/parameters/prod.json, or request"
        " a higher 'Throttle rate' (Service Quotas: Amazon API Gateway, L-8A5B8E43)",
        "API Gateway: the burst limit of sendmessage is 200, above a default account in"
        " us-east-1's 150: lower SendMessageBurstLimit in deploy/parameters/prod.json (AWS sets"
        " the burst from the rate)",
    ]
    milan = default_quotas("eu-south-1")
    assert (milan.api_rate, milan.api_burst) == (2500.0, 1250)


def test_dynamodb_tables_and_provisioned_capacity_within_the_quotas(template, stage_of):
    """A Region near its table quota, and provisioned capacity past DynamoDB's per-table and
    per-account throughput quotas, are refused."""
    stage = stage_of("dev")
    count = len(tables(template, resolver_for(template, stage)))
    crowded = replace(DEFAULT, tables_existing=DEFAULT.tables - count + 1)
    problems, _ = stage_problems(template, stage, crowded)
    assert problems == [
        f"DynamoDB: the stage creates {count} tables, a default account in us-east-1 has"
        f" {crowded.tables_existing:,} of its 2,500: delete unused tables or request a higher"
        " 'Maximum number of tables' (Service Quotas: Amazon DynamoDB)"
    ]
    provisioned = stage_of(
        "dev", BillingMode="PROVISIONED", ReadCapacityMax="50000", WriteCapacityMin="9000"
    )
    problems, _ = stage_problems(template, provisioned, DEFAULT)
    assert problems[0].startswith("DynamoDB: ReadCapacityMax 50,000 is above")
    assert problems[1].startswith("DynamoDB: the stage's tables and indexes start at")
    assert "lower WriteCapacityMin" in problems[1]
