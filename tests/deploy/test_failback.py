"""Failback by hand (deploy/failback.py) names the primary the active Region again, with the
next epoch, in the stage's rooms table; does nothing when it is already; fails with a sentence,
never a traceback, when DynamoDB cannot be reached. Against the session's dynalite."""

from __future__ import annotations

import pytest

from deploy.failback import main
from lambdas.models import ActiveRegion
from lambdas.services.fence import MARKER_KEY, region_mark, region_marker

PRIMARY, SECONDARY = "us-east-1", "us-west-2"


@pytest.fixture
def stage(dynamodb, configure):
    """The session's stage ("test", its tables in dynalite) without a marker; the test's
    configuration (failback binds its own) is put back after."""
    ActiveRegion(MARKER_KEY).delete()
    yield ["--stage", "test", "--endpoint-url", dynamodb]
    configure()
    ActiveRegion(MARKER_KEY).delete()


def test_failback_names_the_primary_with_the_next_epoch(stage, capsys):
    # Given the secondary took the stage over, twice (epoch 2)
    first = region_mark(region=SECONDARY, seen=None)
    region_mark(region=SECONDARY, seen=first)
    # When the operator fails back to the primary
    assert main([*stage, "--region", PRIMARY]) == 0
    # Then the marker names the primary, epoch 3, and the output says what to check
    marker = region_marker(consistent=True)
    assert (marker.region, marker.epoch) == (PRIMARY, 3)
    out = capsys.readouterr().out
    assert f"dynamowave-test-rooms in {PRIMARY}: active Region {SECONDARY} (epoch 2)" in out
    assert f"-> {PRIMARY} (epoch 3)" in out
    assert "health URL answers 200" in out and "write refused: region moved" in out


def test_failback_when_the_primary_is_active_changes_nothing(stage, capsys):
    assert main([*stage, "--region", PRIMARY]) == 0
    assert region_marker(consistent=True) is None
    assert "nothing to do" in capsys.readouterr().out


def test_failback_that_cannot_reach_dynamodb_says_so(dynamodb, configure, capsys):
    code = main(["--stage", "test", "--region", PRIMARY, "--endpoint-url", "http://127.0.0.1:9"])
    configure()
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("failback failed: ") and "Traceback" not in err


def test_the_deploy_command_fails_back_too(stage, monkeypatch, capsys):
    # `python -m deploy failback` (DEPLOY.md's runbook): the stage and Region, AWS's endpoint
    # unless DYNAMODB_ENDPOINT_URL names another (here: the session's dynalite)
    from deploy.__main__ import main as deploy_main

    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", stage[-1])
    region_mark(region=SECONDARY, seen=None)
    assert deploy_main(["failback", "--stage", "test", "--region", PRIMARY]) == 0
    assert region_marker(consistent=True).region == PRIMARY
    assert f"-> {PRIMARY} (epoch 2)" in capsys.readouterr().out
