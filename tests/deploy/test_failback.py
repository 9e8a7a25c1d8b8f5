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


def test_failback_hands_the_stage_back_then_completes_with_the_next_epochs(stage, capsys):
    # Given the secondary took the stage over, twice (epoch 2)
    first = region_mark(region=SECONDARY, seen=None)
    region_mark(region=SECONDARY, seen=first)
    # When the operator fails back: the hand-over, the secondary still taking the writes
    assert main([*stage, "--region", PRIMARY]) == 0
    marker = region_marker(consistent=True)
    assert (marker.region, marker.epoch, marker.handover) == (SECONDARY, 3, PRIMARY)
    out = capsys.readouterr().out
    assert f"dynamowave-test-rooms in {PRIMARY}: handed back to {PRIMARY} (epoch 3)" in out
    assert "health URL answers 200" in out and "--complete" in out
    # Run again: nothing more (the hand-over is under way)
    assert main([*stage, "--region", PRIMARY]) == 0
    assert region_marker(consistent=True).epoch == 3
    assert "being handed back" in capsys.readouterr().out
    # Then --complete names the primary the active Region, epoch 4
    assert main([*stage, "--region", PRIMARY, "--complete"]) == 0
    marker = region_marker(consistent=True)
    assert (marker.region, marker.epoch, marker.handover) == (PRIMARY, 4, None)
    out = capsys.readouterr().out
    assert f"active Region {SECONDARY} (epoch 3) -> {PRIMARY} (epoch 4)" in out
    assert "write refused: region moved" in out


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
    command = ["failback", "--stage", "test", "--region", PRIMARY]
    assert deploy_main(command) == 0
    assert region_marker(consistent=True).handover == PRIMARY
    assert deploy_main([*command, "--complete"]) == 0
    assert region_marker(consistent=True).region == PRIMARY
    assert f"-> {PRIMARY} (epoch 3)" in capsys.readouterr().out
