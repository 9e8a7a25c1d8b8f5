"""`manage.py rooms_backfill`: list rooms stored before the by-status index; ensure `general`."""

from django.core.management.base import BaseCommand

from lambdas.services.rooms import rooms_backfill


class Command(BaseCommand):
    help = (
        "Give rooms stored before the by-status index their status (so the rooms page lists "
        "them) and create #general if missing. Idempotent: run by every deploy and `make run`."
    )

    def handle(self, *args, **options) -> None:
        changed = rooms_backfill()
        self.stdout.write(f"rooms_backfill: {changed} room(s) updated")
