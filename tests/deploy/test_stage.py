"""A stage's parameters file, checked as CloudFormation would check its values (deploy/stage.py)."""

from __future__ import annotations

import json

import pytest

from deploy.errors import BadInput
from deploy.stage import stage_load, template_cached


@pytest.fixture(scope="module")
def template() -> dict:
    return template_cached()


def test_a_stage_file_is_checked_as_cloudformation_would(template, tmp_path):
    """Missing, malformed, unknown or out-of-range parameters: one line each, exit code 2."""
    with pytest.raises(BadInput, match="does not exist: each stage has its parameters file"):
        stage_load("qa", template=template, path=tmp_path / "qa.json")
    path = tmp_path / "qa.json"
    path.write_text("{not json")
    with pytest.raises(BadInput, match="is not valid JSON"):
        stage_load("qa", template=template, path=path)
    path.write_text(
        json.dumps(
            {
                "Deploy": {"AlarmTargetRequired": "yes", "Other": 1},
                "StageName": "qa",
                "BillingMode": "FAST",
                "LogRetentionDays": 8,
                "ThrottlingRateLimit": 0,
                "ReservedConcurrencyQueries": True,
            }
        )
    )
    with pytest.raises(BadInput) as refused:
        stage_load("qa", template=template, path=path)
    assert refused.value.exit_code == 2
    assert [line.removeprefix(f"{path}: ") for line in refused.value.lines] == [
        "Deploy.AlarmTargetRequired must be bool, not 'yes'",
        "Deploy.Other is not a deploy setting (AlarmTargetRequired)",
        "StageName is set by the deploy command, not by the stage's file",
        "BillingMode is 'FAST', not one of PAY_PER_REQUEST, PROVISIONED",
        "LogRetentionDays is '8', not one of "
        + ", ".join(str(v) for v in template["Parameters"]["LogRetentionDays"]["AllowedValues"]),
        "ThrottlingRateLimit is 0, below its MinValue 1",
        "ReservedConcurrencyQueries must be a string or a number, not true",
    ]
