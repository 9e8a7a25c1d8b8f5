"""The report of grants no test exercised: each listed with the template's reason, or failing."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.iam_report import main
from emulator.template import load_template

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: items}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: handlers.echo
      CodeUri: .
      Policies:
        - Statement:
            - Sid: Items
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt Table.Arn
            # Not exercised locally: only an operator's clean-up runs it.
            - Sid: Cleanup
              Effect: Allow
              Action: dynamodb:DeleteItem
              Resource: !GetAtt Table.Arn
"""


def run(tmp_path: Path, used: list[tuple[str, str, str]], capsys) -> tuple[int, str]:
    from emulator.iam import template_digest

    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    digest = template_digest(load_template(template))
    usage = tmp_path / "usage.jsonl"
    lines = [
        {"template": digest, "function": f, "sid": s, "action": a, "resource": "x", "place": 0}
        for f, s, a in used
    ]
    # Another template's line, and a line a killed gateway cut short: neither counts.
    lines.append(
        {
            "template": "other",
            "function": "Worker",
            "sid": "Items",
            "action": "dynamodb:PutItem",
            "resource": "x",
            "place": 0,
        }
    )  # noqa: E501
    usage.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"templ')
    code = main(["--template", str(template), "--usage", str(usage)])
    return code, capsys.readouterr().out


def test_a_grant_nobody_used_without_a_reason_fails_the_report(tmp_path, capsys):
    code, out = run(tmp_path, [("Worker", "Items", "dynamodb:GetItem")], capsys)
    assert code == 1
    assert "Worker Items: dynamodb:PutItem on arn:aws:dynamodb:us-east-1:" in out
    assert ":table/items" in out and "NO REASON" in out
    assert "Worker Cleanup: dynamodb:DeleteItem" in out
    assert "only an operator's clean-up runs it." in out
    assert "dynamodb:GetItem" not in out


def test_every_unused_grant_with_its_reason_passes(tmp_path, capsys):
    used = [("Worker", "Items", "dynamodb:GetItem"), ("Worker", "Items", "dynamodb:PutItem")]
    code, out = run(tmp_path, used, capsys)
    assert code == 0
    assert "1 of the 3 grants" in out and "Cleanup" in out


def test_without_a_usage_file_the_report_says_to_run_the_tests(tmp_path, capsys):
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    assert main(["--template", str(template), "--usage", str(tmp_path / "none")]) == 2
    assert "make test" in capsys.readouterr().out


def test_statements_without_a_sid_are_named_alike_by_the_gateway_and_the_report(tmp_path, capsys):
    """The gateway records, and the report reads, a Sid-less statement as "#n", its place in the
    role: the third statement's use counts for the third one, whatever the others hold."""
    from emulator.iam import Iam

    documents = [
        {
            "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": ["a", "b"]},
                {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "c"},
                {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "d"},
            ]
        }
    ]
    usage = tmp_path / "usage.jsonl"
    iam = Iam({"Worker": documents}, usage=usage, template="t")
    assert iam.allows("Worker", "dynamodb:Query", "d")
    assert [g.sid for g in iam.used] == ["#3"]
    (line,) = usage.read_text().splitlines()
    assert json.loads(line)["sid"] == "#3"
