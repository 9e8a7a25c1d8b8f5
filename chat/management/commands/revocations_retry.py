"""`manage.py revocations_retry`: end the chat sessions still pending; fail while any is left."""

from django.core.management.base import BaseCommand, CommandError

from chat.revocations import revocations_retry


class Command(BaseCommand):
    help = (
        "Retry ending the chat sessions of users who lost access (revoke their tokens, close "
        "their sockets) where an earlier attempt failed. Exits non-zero while any is left."
    )

    def handle(self, *args, **options) -> None:
        report = revocations_retry()
        for username in report.ended:
            self.stdout.write(f"{username}: chat sessions ended")
        if report.failed:
            raise CommandError(
                "\n".join(error.message for error in report.failed)
                + f"\n{len(report.failed)} revocation(s) still pending"
            )
        if not report.ended:
            self.stdout.write("no revocation pending")
