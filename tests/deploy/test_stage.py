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
        "Deploy.Other is not a deploy setting (AlarmTargetRequired, Regions)",
        "StageName is set by the deploy command, not by the stage's file",
        "BillingMode is 'FAST', not one of PAY_PER_REQUEST, PROVISIONED",
        "LogRetentionDays is '8', not one of "
        + ", ".join(str(v) for v in template["Parameters"]["LogRetentionDays"]["AllowedValues"]),
        "ThrottlingRateLimit is 0, below its MinValue 1",
        "ReservedConcurrencyQueries must be a string or a number, not true",
    ]


@pytest.mark.parametrize(
    ("stage", "origin", "refused"),
    [
        ("qa", "http://chat.example.com", True),
        ("prod", "http://localhost:8000", True),
        ("qa", "https://chat.example.com", False),
        ("local", "http://localhost:8000", False),
    ],
)
def test_an_explicit_site_origin_is_https_outside_local(template, tmp_path, stage, origin, refused):
    """Browsers POST files to the uploads bucket from the site's pages, whose Origin the
    bucket's CORS must name: a deployed site's is https (make check and the deploy refuse
    another, exit 2); only the local stack serves plain http."""
    path = tmp_path / f"{stage}.json"
    path.write_text(json.dumps({"SiteOrigin": origin}))
    if not refused:
        assert stage_load(stage, template=template, path=path).parameters["SiteOrigin"] == origin
        return
    with pytest.raises(BadInput) as refusal:
        stage_load(stage, template=template, path=path)
    assert refusal.value.exit_code == 2
    (line,) = refusal.value.lines
    assert line == (
        f"{path}: SiteOrigin is {origin!r}: a deployed site is served over https, so its pages'"
        " Origin is https://HOST (leave SiteOrigin out to use the site's own address)"
    )
