"""The template translates offline and passes cfn-lint, as does its global-tables variant."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy.config import CHECKOV_CONFIG
from deploy.template import cfn_lint, template_translate, template_with_code, template_write
from deploy.variants import global_tables


@pytest.mark.tool  # cfn-lint
def test_translated_template_passes_cfn_lint(translated, tmp_path):
    """samtranslator's output (what CloudFormation deploys) has no cfn-lint error or warning."""
    result = cfn_lint(template_write(translated, tmp_path / "template.json"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tool  # cfn-lint
def test_global_tables_variant_passes_cfn_lint(template, tmp_path):
    """With replica Regions the tables become global tables and the template stays valid."""
    variant = global_tables(template, ["us-west-2"])
    tables = [r for r in variant["Resources"].values() if "DynamoDB" in r["Type"]]
    assert {r["Type"] for r in tables} == {"AWS::DynamoDB::GlobalTable"}
    assert len(tables[0]["Properties"]["Replicas"]) == 2
    translated = template_translate(template_with_code(variant, "s3://test-artifacts/l.zip"))
    result = cfn_lint(template_write(translated, tmp_path / "global.json"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_checkov_skip_has_a_reason():
    """Each skipped check in the checkov config is preceded by a comment naming it and why."""
    text = CHECKOV_CONFIG.read_text()
    skips = yaml.safe_load(text)["skip-check"]
    assert skips
    for check in skips:
        reason = re.search(rf"^\s*# {check}: (.{{20,}})$\n^\s*- {check}$", text, re.MULTILINE)
        assert reason, f"{check} has no one-line reason above it"
