"""Ending a user's chat sessions is never silent: a failure reaches whoever made the change, and
the revocation is kept and retried until it holds (chat/revocations.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string

from chat.models import AuditEntry, PendingRevocation
from chat.revocations import (
    SessionsNotEnded,
    revocation_attempt,
    revocation_record,
    revocations_retry_event,
)
from deploy.site_package import zappa_stage
from devstack.dynamodb import ensure_tables
from lambdas.models import Revocation
from tests.helpers import ROOT, bind_config

PASSWORD = "pw12345!x"


def unique_pk() -> int:
    """A user id no other test has: revocations stay in the session's dynalite."""
    return 10_000 + uuid.uuid4().int % 10**9


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


@pytest.fixture
def limits_down(dynamodb: str):
    """The `limits` table (where revocations are written) gone until the test restores it with
    ensure_tables(), or until it ends."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb, region_name="us-east-1")
    name = Revocation.Meta.table_name
    client.delete_table(TableName=name)
    fast = {"Delay": 0.05, "MaxAttempts": 200}  # dynalite deletes a moment later
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=fast)
    try:
        yield name
    finally:
        ensure_tables()


def revoked_since(user_id: int, moment: float) -> bool:
    try:
        return Revocation.get(f"revoked#{user_id}").not_before >= moment
    except Revocation.DoesNotExist:
        return False


@pytest.mark.django_db(transaction=True)  # the admin's own transaction commits, as deployed
def test_an_admin_deactivation_the_chat_cannot_take_is_shown_and_retried(
    client, django_user_model, limits_down
):
    """With the limits table unavailable, deactivating a user from the admin shows an error to
    the staff member and the revocation is written once the table is back."""
    # Given: a superuser in the admin, a user to deactivate, and no table to revoke in.
    boss = django_user_model.objects.create_superuser("boss", password=PASSWORD)
    victim = django_user_model.objects.create_user("troll", password=PASSWORD, pk=unique_pk())
    client.force_login(boss)
    before = time.time()

    # When: the user form is saved with "active" unticked.
    response = client.post(
        reverse("admin:auth_user_change", args=[victim.pk]),
        {"username": "troll", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
        follow=True,
    )

    # Then: the change is saved, and the staff member is told the sessions are not ended.
    assert response.status_code == 200
    errors = [text for level, text in messages_of(response) if level == "error"]
    assert len(errors) == 1, messages_of(response)
    assert "troll's chat sessions are not ended yet" in errors[0]
    assert "retried" in errors[0]
    victim.refresh_from_db()
    assert not victim.is_active
    pending = PendingRevocation.objects.get(user_id=str(victim.pk))
    assert (pending.reason, pending.attempts) == ("is_active", 1)
    assert pending.last_error == (
        "Failed to update item: ResourceNotFoundException: Requested resource not found"
    )

    # When the table is back, the retry writes the revocation and forgets the row.
    ensure_tables()
    call_command("revocations_retry")
    assert revoked_since(victim.pk, before)
    assert not PendingRevocation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_ban_the_chat_cannot_take_is_an_error_and_audited(
    client, django_user_model, limits_down, gateway
):
    """The ban action with the limits table unavailable bans, says the sessions are not ended
    (no "banned" success), audits it so, and keeps the revocation for the retry."""
    boss = django_user_model.objects.create_superuser("boss", password=PASSWORD)
    victim = django_user_model.objects.create_user("troll", password=PASSWORD, pk=unique_pk())
    client.force_login(boss)
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "ban", "_selected_action": [victim.pk]},
        follow=True,
    )
    shown = messages_of(response)
    assert [level for level, _ in shown] == ["error"], shown
    assert "troll: troll's chat sessions are not ended yet" in shown[0][1]
    victim.refresh_from_db()
    assert not victim.is_active
    entry = AuditEntry.objects.get()
    assert entry.action == "ban" and "not ended yet" in entry.detail
    assert PendingRevocation.objects.filter(user_id=str(victim.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_warns_while_a_revocation_is_pending(client, django_user_model, gateway):
    """Until it holds, the overview says that users' sessions are still to end."""
    boss = django_user_model.objects.create_superuser("boss", password=PASSWORD)
    client.force_login(boss)
    assert not any("not ended yet" in t for _, t in messages_of(client.get("/admin/live/")))
    PendingRevocation.objects.create(user_id="77", username="kim", reason="is_active")
    shown = messages_of(client.get(reverse("admin:live_overview")))
    assert ("warning", next(t for _, t in shown if "not ended yet" in t)) in shown
    assert "1 user(s)" in next(t for _, t in shown if "not ended yet" in t)


@pytest.mark.django_db
def test_a_loss_recorded_during_an_attempt_is_kept_for_its_own(
    django_user_model, dynamodb, monkeypatch
):
    """An attempt deletes only the row it started from: access lost again meanwhile (a token
    perhaps issued after this revocation) stays pending."""
    member = django_user_model.objects.create_user("kim", pk=unique_pk())
    revocation_record(user=member, reason=["is_staff"])

    def ended_while_recorded_again(*, user_id: str) -> int:
        time.sleep(0.001)  # the new version's timestamp is a later one
        revocation_record(user=member, reason=["is_active"])
        return 0

    monkeypatch.setattr("chat.moderation.user_sessions_end", ended_while_recorded_again)
    assert revocation_attempt(user_id=str(member.pk)) == 0
    assert PendingRevocation.objects.get().reason == "is_active"


# -- from a shell, as a developer or an operator would ------------------------------------------


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


DEACTIVATE = (
    "from django.contrib.auth import get_user_model\n"
    "u = get_user_model().objects.get(username='troll')\n"
    "u.is_active = False\n"
    "u.save()\n"
)


def test_a_shell_deactivation_the_chat_cannot_take_exits_non_zero(dynamodb, tmp_path: Path):
    """A shell's save whose revocation fails (no tables for its stage) exits non-zero with the
    reason; `revocations_retry` fails the same way until the tables exist, then ends it."""
    # Given: a database of its own, and a stage whose tables do not exist in this dynalite.
    stage = f"r{uuid.uuid4().hex[:8]}"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST", "DJANGO_SETTINGS", "TABLE_PREFIX"))
    } | {
        "LOCAL_DATA_DIR": str(tmp_path / "data"),
        "DYNAMODB_ENDPOINT_URL": dynamodb,  # explicit: wins over the local stack's defaults
        "STAGE": stage,
    }
    assert manage("migrate", "--noinput", env=env).returncode == 0
    made = manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user('troll', password='x')",
        env=env,
    )
    assert made.returncode == 0, made.stderr

    # When: a shell deactivates the user.
    shell = manage("shell", "-c", DEACTIVATE, env=env)

    # Then: it fails, saying so, and the retry fails too while nothing changed.
    assert shell.returncode != 0
    assert "SessionsNotEnded: troll's chat sessions are not ended yet" in shell.stderr
    retry = manage("revocations_retry", env=env)
    assert retry.returncode == 1
    assert "troll's chat sessions are not ended yet" in retry.stderr
    assert "1 revocation(s) still pending" in retry.stderr

    # When the stage's tables exist, the retry ends the sessions and exits 0.
    created = manage(
        "shell", "-c", "from devstack.dynamodb import ensure_tables\nensure_tables()", env=env
    )
    assert created.returncode == 0, created.stderr
    retry = manage("revocations_retry", env=env)
    assert retry.returncode == 0, retry.stderr
    assert "troll: chat sessions ended" in retry.stdout
    client = boto3.client("dynamodb", endpoint_url=dynamodb, region_name="us-east-1")
    item = client.scan(TableName=f"dynamowave-{stage}-limits")["Items"]
    assert [i["key"]["S"] for i in item] == ["revoked#1"]


def test_a_save_in_an_outer_transaction_raises_after_its_commit(
    django_user_model, limits_down, django_capture_on_commit_callbacks, db
):
    """The signal's attempt runs once the change is committed, and its failure is raised."""
    victim = django_user_model.objects.create_user("troll", pk=unique_pk())
    with pytest.raises(SessionsNotEnded), django_capture_on_commit_callbacks(execute=True):
        victim.is_active = False
        victim.save()
    assert PendingRevocation.objects.get().attempts == 1


@pytest.fixture
def no_connections_api(dynamodb):
    """A site configured without @connections (as one run without its gateway is)."""
    bind_config(MANAGEMENT_ENDPOINT_URL="")
    yield
    bind_config()


def test_the_retry_needs_no_connections_api_for_a_user_without_sockets(
    db, no_connections_api, capsys
):
    """Nothing pending: exit 0, saying so. A user with no socket is ended by the revocation
    alone, without @connections."""
    call_command("revocations_retry")
    assert capsys.readouterr().out == "no revocation pending\n"
    user_id = str(unique_pk())
    PendingRevocation.objects.create(user_id=user_id, username="kim", reason="is_active")
    before = time.time()
    call_command("revocations_retry")
    assert capsys.readouterr().out == "kim: chat sessions ended\n"
    assert revoked_since(int(user_id), before)
    assert not PendingRevocation.objects.exists()


# -- deployed: Zappa's schedule ------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_deployed_site_retries_every_minute(stage):
    """Both stages schedule the retry, and Zappa finds the function again from the rule's name
    (its part after the last '-'; rule names hold 64 characters)."""
    config = zappa_stage(stage)
    (event,) = config["events"]
    assert event == {
        "function": "chat.revocations.revocations_retry_event",
        "expression": "rate(1 minute)",
    }
    rule = f"{config['project_name']}-{stage}-{event['function']}"
    assert len(rule) <= 64 and rule.split("-")[-1] == event["function"]
    assert import_string(event["function"]) is revocations_retry_event


def test_the_scheduled_retry_fails_while_any_is_left(db, limits_down):
    """The schedule's invocation errs (Lambda's Errors metric) while a revocation cannot be
    written, and ends it once it can."""
    PendingRevocation.objects.create(user_id=str(unique_pk()), username="kim", reason="is_staff")
    with pytest.raises(SessionsNotEnded, match="1 revocation.s. still pending: kim's chat"):
        revocations_retry_event({"detail-type": "Scheduled Event"}, None)
    ensure_tables()
    assert revocations_retry_event({"detail-type": "Scheduled Event"}, None) == {"ended": 1}
    assert not PendingRevocation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_scheduled_retry_leaves_no_database_connection_open():
    """A warm container keeps no connection between runs: one held open would keep an idle
    Aurora cluster awake (it pauses only with none)."""
    from django.db import connection

    assert revocations_retry_event({"detail-type": "Scheduled Event"}, None) == {"ended": 0}
    assert connection.connection is None
