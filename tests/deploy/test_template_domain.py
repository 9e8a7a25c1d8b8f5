"""A custom domain (ws.<domain> on API Gateway, the site behind CloudFront, Route 53) and
provisioned concurrency scaled on alarms exist only in stages that ask for them; a stage that
does not deploys exactly what it did before."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from deploy.errors import BadInput
from deploy.figures import Resolver, concurrency_claims, resolver_for
from deploy.quotas import default_quotas, stage_problems
from deploy.site_package import zappa_settings_for
from deploy.stage import NO_VALUE, stack_parameters, stage_load
from deploy.template import cfn_lint, template_translate, template_with_code, template_write

DOMAIN = {
    "DomainName": "chat.example.com",
    "WebSocketCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/ws-1",
    "SiteCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/site-1",
    "HostedZoneId": "Z0123456789ABC",
}
SITE_API_HOST = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
SCALING = {"ConcurrencyScaling": "true", "ProvisionedConcurrencyMin": "2"}
HOT_PATH = {"AuthorizerFunction", "ConnectFunction", "SendMessageFunction"}
ADDED_TYPES = {
    "AWS::ApiGatewayV2::DomainName",
    "AWS::ApiGatewayV2::ApiMapping",
    "AWS::Route53::RecordSet",
    "AWS::Route53::RecordSetGroup",
    "AWS::CloudFront::Distribution",
}
# AWS's managed policies (the same ids in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _present(translated: dict, values: dict[str, str]) -> dict[str, dict]:
    resolver = Resolver(translated, {"StageName": "dev", **values})
    return {k: r for k, r in translated["Resources"].items() if resolver.present(r)}


def _scaling_resources(resources: dict[str, dict]) -> dict[str, dict]:
    return {k: r for k, r in resources.items() if r.get("Condition") == "ScaleConcurrency"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_shipped_stages_add_no_domain_and_no_scaling(translated, template, stage):
    """dev and prod as shipped: no domain, distribution, record, scaling target or scaling
    alarm; the page's WebSocket URL is the API's execute-api one, and no function is told a
    management endpoint (they take it from the event, as before)."""
    values = stage_load(stage, template=template).parameters
    resources = _present(translated, values)
    assert not {r["Type"] for r in resources.values()} & ADDED_TYPES
    assert not _scaling_resources(resources)
    resolver = Resolver(translated, {"StageName": stage, **values})
    condition, _, otherwise = translated["Outputs"]["WebSocketUrl"]["Value"]["Fn::If"]
    assert not resolver.condition(condition)
    assert otherwise == {
        "Fn::Sub": "wss://${ChatApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}"
    }
    assert resolver.resolve(translated["Outputs"]["SiteUrl"]["Value"]) == ""
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            condition = variables["MANAGEMENT_ENDPOINT_URL"]["Fn::If"][0]
            assert not resolver.condition(condition), logical_id
        if resource["Type"] == "AWS::Lambda::Alias":
            config = resource["Properties"].get("ProvisionedConcurrencyConfig")
            assert config is None or resolver.resolve(config) is NO_VALUE, logical_id


def test_a_domain_maps_ws_to_the_api_stage_with_a_failover_ready_record(translated):
    """With a domain: a REGIONAL TLS 1.2 domain ws.<domain>, its mapping on the WebSocket API's
    own stage, and a PRIMARY failover alias record to it; clients get wss://ws.<domain>, the
    functions post to the execute-api host (the custom one has no @connections)."""
    values = {**DOMAIN, "SiteApiHost": SITE_API_HOST}
    resources = _present(translated, values)
    domain = resources["WebSocketDomain"]["Properties"]
    assert domain["DomainName"] == {"Fn::Sub": "ws.${DomainName}"}
    assert domain["DomainNameConfigurations"] == [
        {
            "CertificateArn": {"Ref": "WebSocketCertificateArn"},
            "EndpointType": "REGIONAL",
            "SecurityPolicy": "TLS_1_2",
        }
    ]
    mapping = resources["WebSocketApiMapping"]["Properties"]
    assert mapping["ApiId"] == {"Ref": "ChatApi"}
    assert mapping["Stage"] == {"Ref": "ChatApiStage"}
    assert mapping["DomainName"] == {"Ref": "WebSocketDomain"}
    assert "ApiMappingKey" not in mapping
    stage = resources["ChatApiStage"]
    assert stage["Type"] == "AWS::ApiGatewayV2::Stage"
    assert stage["Properties"]["ApiId"] == {"Ref": "ChatApi"}
    record = resources["WebSocketDnsRecord"]["Properties"]
    assert record["Failover"] == {"Ref": "DnsFailoverRole"}
    assert record["SetIdentifier"] and record["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert record["AliasTarget"]["DNSName"] == {
        "Fn::GetAtt": ["WebSocketDomain", "RegionalDomainName"]
    }
    resolver = Resolver(translated, {"StageName": "dev", **values})
    outputs = translated["Outputs"]
    assert resolver.resolve(outputs["WebSocketUrl"]["Value"]) == "wss://ws.chat.example.com"
    assert resolver.resolve(outputs["SiteUrl"]["Value"]) == "https://chat.example.com"
    # Server side only: @connections stays on the API's own host.
    assert "execute-api" in outputs["ManagementEndpoint"]["Value"]["Fn::Sub"]
    variables = resources["SendMessageFunction"]["Properties"]["Environment"]["Variables"]
    condition, endpoint, _ = variables["MANAGEMENT_ENDPOINT_URL"]["Fn::If"]
    assert resolver.condition(condition)
    assert endpoint == outputs["ManagementEndpoint"]["Value"]


def test_the_distribution_caches_static_files_only(translated):
    """CloudFront serves <domain> (its us-east-1 certificate, TLS 1.2) from Zappa's API and
    stage; /static/* is cached as the origin says (hashed names: a year), everything else
    (pages, /api/*, the token endpoint, admin) is never cached and gets every cookie, header
    but Host, and query string, for every method."""
    resources = _present(translated, {**DOMAIN, "SiteApiHost": SITE_API_HOST})
    config = resources["SiteDistribution"]["Properties"]["DistributionConfig"]
    assert config["Aliases"] == [{"Ref": "DomainName"}]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": {"Ref": "SiteCertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Ref": "SiteApiHost"}
    assert origin["OriginPath"] == {"Fn::Sub": "/${StageName}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # The header that lets the site believe CloudFront-Viewer-Address (chat/edge.py).
    assert origin["OriginCustomHeaders"]["Fn::If"] == [
        "HasEdgeSecret",
        [{"HeaderName": "X-Dynamowave-Edge", "HeaderValue": {"Ref": "SiteEdgeSecret"}}],
        {"Ref": "AWS::NoValue"},
    ]
    assert translated["Parameters"]["SiteEdgeSecret"]["NoEcho"] is True
    default = config["DefaultCacheBehavior"]
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert default["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert set(default["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }
    (static,) = config["CacheBehaviors"]
    assert static["PathPattern"] == "/static/*"
    assert static["CachePolicyId"] == CACHING_OPTIMIZED
    assert "OriginRequestPolicyId" not in static  # no cookie reaches a static file
    assert {default["ViewerProtocolPolicy"], static["ViewerProtocolPolicy"]} == {
        "redirect-to-https"
    }
    records = resources["SiteDnsRecords"]["Properties"]["RecordSets"]
    assert {r["Type"] for r in records} == {"A", "AAAA"}
    assert all(r["AliasTarget"]["HostedZoneId"] == "Z2FDTNDATAQYW2" for r in records)


def test_before_the_site_exists_there_is_no_distribution_and_without_a_zone_no_record(translated):
    """A first deploy (no SiteApiHost yet) makes the WebSocket domain but no distribution; a
    stage without HostedZoneId gets no record (its outputs name the targets to point DNS at)."""
    first = _present(translated, DOMAIN)
    assert "WebSocketDomain" in first and "WebSocketDnsRecord" in first
    assert "SiteDistribution" not in first and "SiteDnsRecords" not in first
    no_zone = {**DOMAIN, "HostedZoneId": "", "SiteApiHost": SITE_API_HOST}
    resources = _present(translated, no_zone)
    assert {"WebSocketDomain", "WebSocketApiMapping", "SiteDistribution"} <= set(resources)
    assert not {"WebSocketDnsRecord", "SiteDnsRecords"} & set(resources)


def test_scaling_tracks_utilization_and_steps_up_on_each_functions_throttles(translated):
    """ConcurrencyScaling "true": each hot-path function's `live` alias is a scalable target
    (Min..Max) with a target-tracking policy on LambdaProvisionedConcurrencyUtilization and a
    step policy that an alarm on that same function's Throttles drives."""
    resources = _present(translated, SCALING)
    targets = {
        k: r
        for k, r in resources.items()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and r["Properties"]["ServiceNamespace"] == "lambda"
    }
    functions = {
        r["Properties"]["ResourceId"]["Fn::Sub"].split("${")[1].split("}")[0]: k
        for k, r in targets.items()
    }
    assert set(functions) == HOT_PATH
    for function, target_id in functions.items():
        target = targets[target_id]
        assert target["Properties"]["ResourceId"] == {"Fn::Sub": f"function:${{{function}}}:live"}
        assert target["Properties"]["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
        assert target["DependsOn"] in (f"{function}Aliaslive", [f"{function}Aliaslive"])
        assert resources[f"{function}Aliaslive"]["Type"] == "AWS::Lambda::Alias"
        alias = resources[f"{function}Aliaslive"]["Properties"]
        assert alias["ProvisionedConcurrencyConfig"]["Fn::If"][0] == "ScaleConcurrency"
        policies = {
            r["Properties"]["PolicyType"]: (k, r["Properties"])
            for k, r in resources.items()
            if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
            and r["Properties"].get("ScalingTargetId") == {"Ref": target_id}
        }
        assert set(policies) == {"TargetTrackingScaling", "StepScaling"}
        tracking = policies["TargetTrackingScaling"][1]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
        }
        step_id = policies["StepScaling"][0]
        (alarm,) = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and r["Properties"].get("AlarmActions") == [{"Ref": step_id}]
        ]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Throttles")
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
        assert translated["Resources"][function]["Type"] == "AWS::Lambda::Function"


def test_a_scaled_stage_counts_its_maximum_against_the_account(template, stage_of, tmp_path):
    """The quota check holds a scaled stage at ProvisionedConcurrencyMax per hot-path function
    (what it may reach), within each function's reservation: prod with scaling up to 10 fits a
    default account; a Max above the connection functions' reservation (25) is refused, and so
    is a Min above the Max."""
    scaled = stage_of(ConcurrencyScaling="true", ProvisionedConcurrencyMax="10")
    problems, _ = stage_problems(template, scaled, default_quotas("us-east-1"))
    assert problems == []
    claims = {c.function: c for c in concurrency_claims(template, resolver_for(template, scaled))}
    assert {f for f, c in claims.items() if c.provisioned} == HOT_PATH
    assert {claims[f].provisioned for f in HOT_PATH} == {10}
    path = tmp_path / "qa.json"
    path.write_text(
        json.dumps({**SCALING, "ProvisionedConcurrencyMin": 5, "ProvisionedConcurrencyMax": 3})
    )
    with pytest.raises(
        BadInput, match="ProvisionedConcurrencyMin 5 is above ProvisionedConcurrencyMax 3"
    ):
        stage_load("qa", template=template, path=path)
    too_many = stage_of(ConcurrencyScaling="true", ProvisionedConcurrencyMax="30")
    problems, _ = stage_problems(template, too_many, default_quotas("us-east-1"))
    assert len(problems) == 2  # the authorizer's and $connect's (reserve 25); sendmessage 40
    assert all("ReservedConcurrencyConnections" in p for p in problems)


def test_a_domain_stage_sets_the_sites_origin_and_cloudfronts(template, tmp_path):
    """A stage file with a domain needs both certificates; the stack then gets SiteOrigin
    https://<domain> and Zappa's API host as CloudFront's origin."""
    path = tmp_path / "qa.json"
    path.write_text('{"DomainName": "chat.example.com"}')
    with pytest.raises(BadInput) as refused:
        stage_load("qa", template=template, path=path)
    assert "needs WebSocketCertificateArn" in str(refused.value)
    assert "needs SiteCertificateArn" in str(refused.value)
    path.write_text(json.dumps(DOMAIN))
    stage = stage_load("qa", template=template, path=path)
    parameters = stack_parameters(
        stage, template, origin=f"https://{SITE_API_HOST}", site_api_host=SITE_API_HOST
    )
    assert parameters["SiteOrigin"] == "https://chat.example.com"
    assert parameters["SiteApiHost"] == SITE_API_HOST
    plain = stack_parameters(
        replace(stage, parameters={}),
        template,
        origin=f"https://{SITE_API_HOST}",
        site_api_host=SITE_API_HOST,
    )
    assert plain["SiteOrigin"] == f"https://{SITE_API_HOST}" and "SiteApiHost" not in plain


def test_the_site_behind_the_domain_trusts_its_origin_and_serves_from_the_root():
    """With the stack's SiteUrl, Zappa's stage trusts https://<domain> for CSRF, serves URLs
    from / (FORCE_SCRIPT_NAME) and reads the caller from CloudFront's viewer header when
    CloudFront's edge header vouches for it; without it, the settings are those of before."""
    from deploy.__main__ import DRY_RUN_OUTPUTS

    outputs = {k: v.format(region="eu-west-1", stage="dev") for k, v in DRY_RUN_OUTPUTS.items()}
    kwargs = {"stage": "dev", "region": "eu-west-1", "bucket": "b", "site_host": SITE_API_HOST}
    before = zappa_settings_for(outputs=outputs, **kwargs)["dev"]["environment_variables"]
    assert before["DJANGO_CSRF_TRUSTED_ORIGINS"] == f"https://{SITE_API_HOST}"
    assert "DJANGO_FORCE_SCRIPT_NAME" not in before and "DJANGO_BEHIND_CLOUDFRONT" not in before
    assert before["DJANGO_CLIENT_IP_HEADER"] == "X-Dynamowave-Source-Ip"
    domain_outputs = {
        **outputs,
        "SiteUrl": "https://chat.example.com",
        "WebSocketUrl": "wss://ws.chat.example.com",
    }
    env = zappa_settings_for(outputs=domain_outputs, **kwargs)["dev"]["environment_variables"]
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"] == "https://chat.example.com"
    assert env["DJANGO_ALLOWED_HOSTS"] == SITE_API_HOST  # CloudFront sends the origin's Host
    assert env["DJANGO_FORCE_SCRIPT_NAME"] == "/"
    assert env["DJANGO_BEHIND_CLOUDFRONT"] == "true"  # the edge header vouches (chat/edge.py)
    assert env["DJANGO_CLIENT_IP_HEADER"] == "X-Dynamowave-Source-Ip"  # without it
    assert env["WEBSOCKET_URL"] == "wss://ws.chat.example.com"


@pytest.mark.tool  # cfn-lint
def test_the_domain_and_scaling_variant_passes_cfn_lint(template, tmp_path):
    """With a domain, CloudFront, records and scaling all on (parameter defaults set so), the
    translated template has no cfn-lint error or warning (the plain one: test_checks.py)."""
    variant = copy.deepcopy(template)
    values = {**DOMAIN, "SiteApiHost": SITE_API_HOST, **SCALING}
    for name, value in values.items():
        variant["Parameters"][name]["Default"] = value
    translated = template_translate(template_with_code(variant, "s3://test-artifacts/l.zip"))
    result = cfn_lint(template_write(translated, tmp_path / "domain.json"))
    assert result.returncode == 0, result.stdout + result.stderr
