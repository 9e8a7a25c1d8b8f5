"""`manage.py search_backfill`: index the messages DynamoDB already holds (chat.SearchEntry)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from lambdas.models import Message
from lambdas.services.search_index import UPSERT, IndexChange, pyformat

BATCH = 500  # rows per executemany, one transaction each
PAGE = 1000  # items per Scan or Query page


def index_change(message: Message) -> IndexChange:
    """A stored message as the index's change: its last change number (`rev`), or for
    messages stored before numbering its `seq`, or 0 (any later change of it is newer)."""
    return IndexChange(
        message_id=message.message_id,
        room=message.room,
        user_id=message.user_id,
        username=message.username,
        text=message.text or "",
        sent_at=message.sent_at,
        rev=int(message.rev if message.rev is not None else (message.seq or 0)),
        deleted=bool(message.deleted),
        # Thread replies carry their parent's id (being built alongside): none before.
        thread=getattr(message, "thread", None) or None,
    )


def _batches(messages: Iterable[Message]) -> Iterator[list[IndexChange]]:
    batch: list[IndexChange] = []
    for message in messages:
        batch.append(index_change(message))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Command(BaseCommand):
    help = (
        "Index the messages stored in DynamoDB for search (the Messages table scanned a page "
        "at a time, or one room's messages with --room). Idempotent: a message is written only "
        "if the index holds an older change of it, so running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--room", help="index only this room's messages")

    def handle(self, *args, room: str | None = None, **options) -> None:
        messages = Message.query(room, page_size=PAGE) if room else Message.scan(page_size=PAGE)
        statement = pyformat(UPSERT)
        language = settings.SEARCH_LANGUAGE
        read = written = 0
        for batch in _batches(messages):
            read += len(batch)
            with transaction.atomic(), connection.cursor() as cursor:
                for change in batch:
                    # One statement per row: its rowcount says whether it was newer (executemany's
                    # would add them up only on some drivers).
                    cursor.execute(statement, change.parameters(language=language))
                    written += max(cursor.rowcount, 0)
            self.stdout.write(f"search_backfill: {read} message(s) read, {written} indexed")
        self.stdout.write(
            f"search_backfill: done: {read} message(s) read, {written} indexed or updated, "
            f"{read - written} already current"
        )
