"""The search index's write (lambdas.services.search_index) on the site's PostgreSQL: a change
applies only if newer, and a deletion leaves a tombstone no older change brings back."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from chat.models import SearchEntry
from lambdas.services.search_index import UPSERT, IndexChange, pyformat

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def apply(change: IndexChange) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's full-text search")
    with connection.cursor() as cursor:
        cursor.execute(pyformat(UPSERT), change.parameters(language="english"))


def change(rev: int, text: str = "the deploy failed", **fields) -> IndexChange:
    return IndexChange(
        message_id="01JEXAMPLE0000000000000001",
        room="general",
        user_id="u1",
        username="alice",
        text=text,
        sent_at=SENT,
        rev=rev,
        **fields,
    )


def found(word: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id FROM chat_searchentry"
            " WHERE document @@ websearch_to_tsquery('english', %s)",
            [word],
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_stored_message_is_found_by_a_stemmed_word():
    apply(change(1))
    assert found("deploys") == ["01JEXAMPLE0000000000000001"]


def test_an_edit_replaces_the_text_and_an_older_change_changes_nothing():
    apply(change(1))
    apply(change(3, text="the rollback worked"))
    apply(change(2, text="an older edit, retried late"))
    assert found("deploy") == []
    assert found("rollback") == ["01JEXAMPLE0000000000000001"]
    assert SearchEntry.objects.get().rev == 3


def test_a_deletion_is_a_tombstone_that_a_late_store_cannot_undo():
    apply(change(2, deleted=True))
    apply(change(1))
    entry = SearchEntry.objects.get()
    assert (entry.deleted, entry.text, entry.document) == (True, "", None)
    assert found("deploy") == []


def test_percent_signs_in_text_survive_the_pyformat_statement():
    apply(change(1, text="cpu at 100% again"))
    assert SearchEntry.objects.get().text == "cpu at 100% again"
