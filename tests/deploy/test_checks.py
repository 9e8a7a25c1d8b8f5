"""The template translates offline and passes cfn-lint, as do both Regions' variants of a
two-Region stage (and checkov)."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy.config import CHECKOV_CONFIG
from deploy.template import (
    cfn_lint,
    checkov,
    template_translate,
    template_with_code,
    template_write,
)


@pytest.mark.tool  # cfn-lint
def test_translated_template_passes_cfn_lint(translated, tmp_path):
    """samtranslator's output (what CloudFormation deploys) has no cfn-lint error or warning."""
    result = cfn_lint(template_write(translated, tmp_path / "template.json"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def region_variants(template, tmp_path_factory) -> list:
    """The primary's and the secondary's translated templates of a two-Region stage with a
    domain, written as `make check` writes them."""
    from deploy.__main__ import check_variants

    folder = tmp_path_factory.mktemp("regions")
    variants = list(check_variants(template).values())[1:]
    return [
        template_write(
            template_translate(template_with_code(variant, "s3://test-artifacts/l.zip")),
            folder / f"{role}.json",
        )
        for role, variant in zip(("primary", "secondary"), variants, strict=True)
    ]


@pytest.mark.tool  # cfn-lint
@pytest.mark.parametrize("role", [0, 1], ids=["primary", "secondary"])
def test_both_regions_variants_pass_cfn_lint(region_variants, role):
    """The primary's variant (global tables with a replica in the secondary) and the
    secondary's (the replicas by name), each with a domain, its failover record and health
    check on, have no cfn-lint error or warning."""
    result = cfn_lint(region_variants[role])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tool  # checkov (its own virtualenv, installed on first use)
def test_both_regions_variants_pass_checkov(region_variants):
    """checkov --skip-download with the project's skip list passes both Regions' variants (one
    run over both files): no failed check, no parsing error."""
    code, summary = checkov(list(region_variants))
    assert summary.get("passed", 0) > 0, summary
    assert summary.get("parsing_errors") == 0 and summary.get("failed") == 0, summary
    assert code == 0, summary


def test_every_checkov_skip_has_a_reason():
    """Each skipped check in the checkov config is preceded by a comment naming it and why."""
    text = CHECKOV_CONFIG.read_text()
    skips = yaml.safe_load(text)["skip-check"]
    assert skips
    for check in skips:
        reason = re.search(rf"^\s*# {check}: (.{{20,}})$\n^\s*- {check}$", text, re.MULTILINE)
        assert reason, f"{check} has no one-line reason above it"
