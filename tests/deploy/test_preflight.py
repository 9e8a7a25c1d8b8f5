"""The preflight's reads before a deploy: the bucket's Region, the alarm target,
and what the stack already holds of the Region's concurrency."""

from __future__ import annotations

import boto3
from moto import mock_aws

from deploy import preflight
from deploy.config import ssm_names
from tests.deploy.fake_aws import FakeLambda

REGION = "us-east-1"


def test_the_bucket_must_be_in_the_deploy_region():
    """CloudFormation and Lambda read artifacts from a bucket in the stack's own Region."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="here-artifacts")
        s3.create_bucket(
            Bucket="far-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        assert preflight.bucket_problems(s3=s3, bucket="here-artifacts", region=REGION) == []
        assert preflight.bucket_problems(s3=s3, bucket="far-artifacts", region=REGION) == [
            "S3: bucket far-artifacts is in eu-west-1, the deploy in us-east-1: use a bucket in"
            " us-east-1 (or deploy with --region eu-west-1)"
        ]
        (missing,) = preflight.bucket_problems(s3=s3, bucket="no-such-artifacts", region=REGION)
        assert "does not exist: create it (aws s3 mb s3://no-such-artifacts" in missing


def test_production_needs_an_alarm_target(template, stage_of):
    """prod's file requires a target; an address given once is found in SSM later; a bad ARN or
    one of another Region is refused."""
    prod, dev = stage_of(), stage_of("dev")
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        common = {"ssm": ssm, "region": REGION, "previous_topic": "", "template": template}
        target, problems = preflight.alarm_target(stage=prod, topic="", email="", **common)
        assert target == preflight.AlarmTarget() and len(problems) == 1
        assert problems[0].startswith("Alarms: stage prod must notify someone")
        assert preflight.alarm_target(stage=dev, topic="", email="", **common)[1] == []
        ssm.put_parameter(
            Name=ssm_names("prod")["alarm_email"], Value="ops@example.com", Type="String"
        )
        target, problems = preflight.alarm_target(stage=prod, topic="", email="", **common)
        assert (target.email, target.store_email, problems) == ("ops@example.com", False, [])
        kept = {**common, "previous_topic": "arn:aws:sns:us-east-1:123456789012:ops"}
        target, _ = preflight.alarm_target(stage=prod, topic="", email="", **kept)
        assert target.topic == "arn:aws:sns:us-east-1:123456789012:ops"
    assert preflight.alarm_flag_problems(topic="ops", email="not-mail", region=REGION) == [
        "--alarm-topic ops is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        "--alarm-email 'not-mail' is not an e-mail address",
    ]
    (far,) = preflight.alarm_flag_problems(
        topic="arn:aws:sns:eu-west-1:123456789012:ops", email="", region=REGION
    )
    assert far.endswith("is not in us-east-1: alarms notify topics of their own Region")


def test_a_redeploy_gives_back_what_the_stack_already_reserves():
    """Lambda's unreserved figure already excludes the stack's own reservations: the preflight
    adds them back, so redeploying an unchanged stage is not refused."""

    class Stack:
        def get_paginator(self, name):
            assert name == "list_stack_resources"
            summaries = [
                {"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": f"f{n}"}
                for n in range(3)
            ] + [
                {
                    "ResourceType": "AWS::Lambda::Function",
                    "PhysicalResourceId": "gone",
                    "ResourceStatus": "DELETE_COMPLETE",
                }
            ]
            return type(
                "P", (), {"paginate": lambda self, **_: [{"StackResourceSummaries": summaries}]}
            )()

    with mock_aws():
        moto = boto3.client("lambda", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="r", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        for n in range(3):
            moto.create_function(
                FunctionName=f"f{n}",
                Runtime="python3.13",
                Role=role,
                Handler="h.h",
                Code={"ZipFile": b"PK"},
            )
            moto.put_function_concurrency(FunctionName=f"f{n}", ReservedConcurrentExecutions=50)
        lambda_client = FakeLambda(moto, concurrency=1000, unreserved=850)
        held = preflight.stack_claim(cfn=Stack(), lambda_client=lambda_client, stack_name="s")
    assert held == 150
