"""`manage.py devkeys`: create the development token key pair in .dev-keys/ unless it exists."""

from django.conf import settings
from django.core.management.base import BaseCommand

from chat.keys import dev_keypair_ensure


class Command(BaseCommand):
    help = "Create the development Ed25519 token key pair in .dev-keys/ if missing; print paths."

    def handle(self, *args, **options) -> None:
        private_path, public_path = dev_keypair_ensure(folder=settings.DEV_KEYS_DIR)
        self.stdout.write(str(private_path))
        self.stdout.write(str(public_path))
