"""`python -m deploy deploy --regions PRIMARY,SECONDARY` against moto and the fake
CloudFormation of each Region: the primary's stack (the global tables) first, then the
secondary's, then the primary told the secondary's health URL, then the site; a failure in the
secondary stops with the Region named and the primary left serving."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

import deploy.__main__ as cli
from deploy import aws
from deploy.config import ssm_names
from tests.deploy.test_deploy_e2e import BUCKET, _outputs, world  # noqa: F401 - the fixture

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
WEST_BUCKET = "dynamowave-artifacts-west"
WEST_CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/ws-west"
DOMAIN = {
    "DomainName": "chat.example.com",
    "WebSocketCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/ws",
    "SiteCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/site",
    "HostedZoneId": "Z0123456789ABC",
}


def _stage_file(tmp_path: Path, **deploy) -> Path:
    path = tmp_path / "two.json"
    regions = {SECONDARY: {"WebSocketCertificateArn": WEST_CERTIFICATE}}
    path.write_text(json.dumps({**DOMAIN, "Deploy": {"Regions": regions, **deploy}}))
    return path


def _deploy(path: Path, *more: str) -> list[str]:
    return [
        "deploy",
        "--stage",
        "dev",
        "--regions",
        f"{PRIMARY},{SECONDARY}",
        "--bucket",
        f"{BUCKET},{WEST_BUCKET}",
        "--parameters",
        str(path),
        *more,
    ]


@pytest.fixture
def west(world):  # noqa: F811 - the fixture imported above
    """The secondary Region's artifact bucket, and its fakes made."""
    boto3.client("s3", region_name=SECONDARY).create_bucket(
        Bucket=WEST_BUCKET, CreateBucketConfiguration={"LocationConstraint": SECONDARY}
    )
    aws.aws_session(SECONDARY)
    return world


def _change_sets(recorded, region: str) -> list[dict]:
    return [
        {
            "parameters": {p["ParameterKey"]: p["ParameterValue"] for p in c.kwargs["Parameters"]},
            "template": c.kwargs["TemplateURL"],
            "at": recorded.log.index(c),
        }
        for c in recorded.calls("cloudformation", "create_change_set")
        if c.region == region
    ]


def _template(url: str, region: str) -> dict:
    bucket, _, key = url.removeprefix("https://").partition("/")
    body = boto3.client("s3", region_name=region).get_object(Bucket=bucket.split(".")[0], Key=key)
    return json.loads(body["Body"].read())


def _executed(recorded, region: str) -> list[int]:
    return [
        n
        for n, c in enumerate(recorded.log)
        if (c.service, c.operation, c.region) == ("cloudformation", "execute_change_set", region)
    ]


def test_the_primary_then_the_secondary_then_the_peer_url_then_the_site(west, tmp_path, capsys):
    """A first deploy: the primary's stack is created with the global tables (a replica in the
    secondary), then the secondary's without them, told the primary's health URL and its own
    certificate, as the SECONDARY record; then the primary is told the secondary's health URL;
    only then is the site released (in the primary). Both Regions trust the same public keys;
    the signing key stays in the primary. A second run changes nothing."""
    path = _stage_file(tmp_path)

    assert cli.main(_deploy(path)) == 0

    east, west_sets = _change_sets(west, PRIMARY), _change_sets(west, SECONDARY)
    created, peer_update, site_host_update = east
    (secondary,) = west_sets
    site = west.index("zappa", "deploy", "dev")
    assert created["at"] < secondary["at"] < peer_update["at"] < site < site_host_update["at"]
    executed_east, (executed_west,) = _executed(west, PRIMARY), _executed(west, SECONDARY)
    assert executed_east[0] < executed_west < executed_east[1] < site
    # The primary owns the global tables; the secondary names their replicas.
    primary_template = _template(created["template"], PRIMARY)
    secondary_template = _template(secondary["template"], SECONDARY)
    rooms = primary_template["Resources"]["RoomsTable"]
    assert rooms["Type"] == "AWS::DynamoDB::GlobalTable"
    assert [r["Region"] for r in rooms["Properties"]["Replicas"]] == [
        {"Ref": "AWS::Region"},
        SECONDARY,
    ]
    assert primary_template["Resources"]["ConnectionsTable"]["Type"] == "AWS::DynamoDB::Table"
    assert "RoomsTable" not in secondary_template["Resources"]
    assert secondary_template["Resources"]["ConnectionsTable"]["Type"] == "AWS::DynamoDB::Table"
    # Each stack's role.
    first, second = created["parameters"], secondary["parameters"]
    assert (first["PrimaryRegion"], first["DnsFailoverRole"], first["PeerHealthUrl"]) == (
        PRIMARY,
        "PRIMARY",
        "",
    )
    assert (second["PrimaryRegion"], second["DnsFailoverRole"]) == (PRIMARY, "SECONDARY")
    assert second["PeerHealthUrl"] == _outputs("dynamowave-dev", PRIMARY)["HealthCheckUrl"]
    assert second["WebSocketCertificateArn"] == WEST_CERTIFICATE
    assert first["WebSocketCertificateArn"] == DOMAIN["WebSocketCertificateArn"]
    assert not {"SiteCertificateArn", "SiteApiHost", "SiteEdgeSecret"} & set(second)
    assert second["SiteOrigin"] == "https://chat.example.com"
    peer = _outputs("dynamowave-dev", SECONDARY)["HealthCheckUrl"]
    assert peer_update["parameters"] == {**first, "PeerHealthUrl": peer}
    assert site_host_update["parameters"]["PeerHealthUrl"] == peer
    assert "SiteApiHost" in site_host_update["parameters"]
    # Keys: the same public keys in both Regions, the secrets in the primary only.
    names = ssm_names("dev")
    ssm_west = boto3.client("ssm", region_name=SECONDARY)
    public = west.ssm.get_parameter(Name=names["public_keys"])["Parameter"]["Value"]
    assert ssm_west.get_parameter(Name=names["public_keys"])["Parameter"]["Value"] == public
    assert second["TokenPublicKeysParameterName"] == names["public_keys"]
    stored = {p["Name"] for p in ssm_west.describe_parameters()["Parameters"]}
    assert stored == {names["public_keys"]}
    # The site: in the primary only.
    assert west.lambda_client.get_function(FunctionName="dynamowave-site-dev")
    assert west.cfns[PRIMARY].stacks["dynamowave-dev"]["StackStatus"] == "UPDATE_COMPLETE"
    assert west.cfns[SECONDARY].stacks["dynamowave-dev"]["StackStatus"] == "CREATE_COMPLETE"
    out = capsys.readouterr().out
    assert f"deployed in {PRIMARY} (primary) and {SECONDARY} (secondary)" in out
    west.log.clear()

    assert cli.main(_deploy(path)) == 0

    assert west.calls("cloudformation", "execute_change_set") == []
    assert west.zappa() == []


def test_a_failure_in_the_secondary_stops_naming_it_and_leaves_the_primary_serving(
    west, tmp_path, capsys
):
    """The secondary's create fails: the deploy exits with the stack's code (4), its first line
    names the Region, the last says the primary is deployed and serving; the primary's stack
    is complete and the site was not touched."""
    west.cfns[SECONDARY].fail_next = "Resource handler returned message: Table already exists"

    assert cli.main(_deploy(_stage_file(tmp_path))) == 4

    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"deploy: {SECONDARY} (secondary): stack dynamowave-dev: the create")
    assert "Table already exists" in err[0]
    assert err[-1].startswith(f"deploy: the primary {PRIMARY} is deployed and serving")
    assert west.cfns[PRIMARY].stacks["dynamowave-dev"]["StackStatus"] == "CREATE_COMPLETE"
    assert west.cfns[SECONDARY].stacks["dynamowave-dev"]["StackStatus"] == "ROLLBACK_COMPLETE"
    assert west.zappa() == []


def test_a_dry_run_plans_both_regions_offline(world, tmp_path, capsys, monkeypatch):  # noqa: F811
    """--dry-run with two Regions makes no AWS call and prints both Regions' steps in order
    (the packages' builds are test_lambda_package.py's and test_site_package.py's)."""
    monkeypatch.setattr(cli, "build_packages", lambda *args: None)

    assert cli.main([*_deploy(_stage_file(tmp_path)), "--dry-run"]) == 0

    assert world.log == []
    out = capsys.readouterr().out
    assert f"PLAN for stage dev in {PRIMARY} and {SECONDARY} (dry run" in out
    steps = [out.index(f"CloudFormation in {region}: stack") for region in (PRIMARY, SECONDARY)]
    assert steps == sorted(steps) and out.index("Zappa in us-east-1") > steps[1]


def test_two_regions_refuse_what_cannot_work_before_any_call(world, tmp_path, capsys):  # noqa: F811
    """One bucket for two Regions, three Regions, or a WebSocket certificate of another Region
    for the secondary: refused with one line each (exit 2), no AWS call."""
    path = _stage_file(tmp_path)
    one_bucket = _deploy(path)
    one_bucket[one_bucket.index("--bucket") + 1] = BUCKET
    assert cli.main(one_bucket) == 2
    assert "2 Regions need 2 buckets, one in each Region" in capsys.readouterr().err
    three = _deploy(path)
    three[three.index("--regions") + 1] = "us-east-1,us-west-2,eu-west-1"
    assert cli.main(three) == 2
    assert "two Regions at most" in capsys.readouterr().err
    no_west = tmp_path / "no-west.json"
    no_west.write_text(json.dumps(DOMAIN))
    assert cli.main(_deploy(no_west)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"WebSocketCertificateArn in {SECONDARY}" in err[0]
    assert [c for c in world.log if c.service != "build"] == []
