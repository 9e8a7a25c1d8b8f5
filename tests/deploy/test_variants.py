"""The two Regions' templates: the primary's stack owns the replicated tables as global tables
with a replica in each Region, the secondary's names them; connections and uploads stay per
Region; Route 53 health checks and the role parameters exist only in a two-Region stage."""

from __future__ import annotations

import json

import pytest

from deploy.__main__ import CHECK_PRIMARY, CHECK_SECONDARY, with_defaults
from deploy.figures import Resolver
from deploy.stage import NO_VALUE, stage_load
from deploy.template import template_translate, template_with_code
from deploy.variants import (
    GLOBAL_TABLES,
    REGIONAL_TABLES,
    primary_variant,
    references,
    secondary_variant,
)

TABLE_ARN = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"


def _translate(template: dict) -> dict:
    return template_translate(template_with_code(template, "s3://test-artifacts/l.zip"))


@pytest.fixture(scope="module")
def primary(template) -> dict:
    return _translate(with_defaults(primary_variant(template, ["us-west-2"]), CHECK_PRIMARY))


@pytest.fixture(scope="module")
def secondary(template) -> dict:
    return _translate(with_defaults(secondary_variant(template), CHECK_SECONDARY))


def _present(translated: dict, values: dict[str, str]) -> dict[str, dict]:
    resolver = Resolver(translated, {"StageName": "prod", **values})
    return {k: r for k, r in translated["Resources"].items() if resolver.present(r)}


def test_the_primary_owns_the_replicated_tables_with_a_replica_in_each_region(primary):
    """Rooms, messages, members, limits, client-messages and follows are global tables
    (on-demand, streams on) with a replica here and in the secondary, each replica with
    point-in-time recovery and deletion protection as the table had; connections and uploads
    are plain tables; no auto scaling is left on a global table."""
    resources = primary["Resources"]
    for logical_id in GLOBAL_TABLES:
        table = resources[logical_id]
        assert table["Type"] == "AWS::DynamoDB::GlobalTable", logical_id
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        regions = [replica["Region"] for replica in properties["Replicas"]]
        assert regions == [{"Ref": "AWS::Region"}, "us-west-2"], logical_id
        for replica in properties["Replicas"]:
            assert replica["PointInTimeRecoverySpecification"] == {
                "PointInTimeRecoveryEnabled": True
            }
            assert replica["DeletionProtectionEnabled"]["Fn::If"][0] == "IsProduction"
    for logical_id in REGIONAL_TABLES:
        assert resources[logical_id]["Type"] == "AWS::DynamoDB::Table", logical_id
    tables = {k for k, r in resources.items() if "DynamoDB" in r["Type"]}
    assert tables == set(GLOBAL_TABLES) | set(REGIONAL_TABLES)
    scaled = [
        r["Properties"]["ResourceId"]
        for r in resources.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and r["Properties"]["ServiceNamespace"] == "dynamodb"
    ]
    assert scaled
    assert all(any(t in json.dumps(s) for t in REGIONAL_TABLES) for s in scaled), scaled


def test_the_secondary_names_the_replicas_the_primary_made(secondary, translated):
    """The secondary has no resource for a replicated table and no reference left to one: its
    grants, alarms and outputs name the same tables, in its own Region; its connections and
    uploads tables are its own."""
    resources = secondary["Resources"]
    assert not set(GLOBAL_TABLES) & set(resources)
    assert references(secondary, GLOBAL_TABLES) == []
    assert {k for k, r in resources.items() if "DynamoDB" in r["Type"]} == set(REGIONAL_TABLES)
    outputs = secondary["Outputs"]
    assert outputs["RoomsTableName"]["Value"] == {"Fn::Sub": "dynamowave-${StageName}-rooms"}
    # The health route's one grant, on the rooms replica of its own Region.
    role = resources[resources["HealthFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]]
    policies = role["Properties"]["Policies"]
    (statement,) = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    assert statement["Action"] == "dynamodb:GetItem"
    assert statement["Resource"] == {"Fn::Sub": TABLE_ARN + "dynamowave-${StageName}-rooms"}
    # Every function's grants are the single-Region template's, statement for statement.
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role" or logical_id not in resources:
            continue
        mine = resources[logical_id]["Properties"].get("Policies", [])
        theirs = resource["Properties"].get("Policies", [])
        actions = [[s["Action"] for s in p["PolicyDocument"]["Statement"]] for p in theirs]
        assert [[s["Action"] for s in p["PolicyDocument"]["Statement"]] for p in mine] == actions
    # The uploads bucket's name is global: the secondary's carries its Region.
    bucket = resources["UploadsBucket"]["Properties"]["BucketName"]
    assert bucket == {"Fn::Sub": "dynamowave-${StageName}-uploads-${AWS::AccountId}-${AWS::Region}"}
    assert '-uploads-${AWS::AccountId}"' not in json.dumps(secondary)


def test_each_region_probes_its_health_route_and_steers_its_own_failover_record(primary, secondary):
    """With a domain, a hosted zone and two Regions, each Region's stack has a Route 53 HTTPS
    health check of its health function's URL at /health (interval 30 s, threshold 3 by
    default, no latency measurement, no string matching) on its failover record: PRIMARY in
    the primary, SECONDARY in the secondary; an alias record (free queries, the target's TTL)."""
    for translated, values, role in (
        (primary, CHECK_PRIMARY, "PRIMARY"),
        (secondary, CHECK_SECONDARY, "SECONDARY"),
    ):
        resources = _present(translated, values)
        resolver = Resolver(translated, {"StageName": "prod", **values})
        check = resources["RegionHealthCheck"]["Properties"]["HealthCheckConfig"]
        assert check["Type"] == "HTTPS" and check["Port"] == 443 and check["EnableSNI"]
        assert check["ResourcePath"] == "/health"
        url = {"Fn::GetAtt": ["HealthFunctionUrl", "FunctionUrl"]}
        assert check["FullyQualifiedDomainName"] == {"Fn::Select": [2, {"Fn::Split": ["/", url]}]}
        assert resolver.resolve(check["RequestInterval"]) == "30"
        assert resolver.resolve(check["FailureThreshold"]) == "3"
        assert check["MeasureLatency"] is False
        assert "SearchString" not in check and check["Type"] != "HTTPS_STR_MATCH"
        record = resources["WebSocketDnsRecord"]["Properties"]
        assert resolver.resolve(record["Failover"]) == role
        condition, health_check, _ = record["HealthCheckId"]["Fn::If"]
        assert resolver.condition(condition) and health_check == {"Ref": "RegionHealthCheck"}
        assert "AliasTarget" in record and "TTL" not in record
        variables = resources["ConnectFunction"]["Properties"]["Environment"]["Variables"]
        assert resolver.resolve(variables["PRIMARY_REGION"]) == "us-east-1"
        assert resolver.resolve(variables["PEER_HEALTH_URL"]) == values["PeerHealthUrl"]
        assert translated["Outputs"]["HealthCheckUrl"]["Value"] == {
            "Fn::Sub": "${HealthFunctionUrl.FunctionUrl}health"
        }
    # The one distribution (and the site's records) is the primary's.
    assert "SiteDistribution" in _present(primary, CHECK_PRIMARY)
    assert "SiteDistribution" not in _present(secondary, CHECK_SECONDARY)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_one_region_stages_get_no_health_check_and_no_role_variables(translated, template, stage):
    """dev and prod as shipped, and a one-Region stage with a domain: no health check, no
    HealthCheckId on the record, and the functions' environment without PRIMARY_REGION or
    PEER_HEALTH_URL (AWS::NoValue: the functions are exactly as before)."""
    shipped = stage_load(stage, template=template).parameters
    domain = {k: v for k, v in CHECK_PRIMARY.items() if k not in ("PrimaryRegion", "PeerHealthUrl")}
    for values in (shipped, {**shipped, **domain}):
        resources = _present(translated, values)
        resolver = Resolver(translated, {"StageName": stage, **values})
        assert "RegionHealthCheck" not in resources
        assert not [r for r in resources.values() if r["Type"] == "AWS::Route53::HealthCheck"]
        record = resources.get("WebSocketDnsRecord")
        if record:
            assert resolver.resolve(record["Properties"]["HealthCheckId"]) is NO_VALUE
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::Lambda::Function":
                variables = resource["Properties"]["Environment"]["Variables"]
                for name in ("PRIMARY_REGION", "PEER_HEALTH_URL"):
                    assert resolver.resolve(variables[name]) is NO_VALUE, (logical_id, name)
    assert resolver.resolve(translated["Outputs"]["HealthCheckId"]["Value"]) == ""
