"""A user who loses access loses it on the WebSocket side too, however it was taken away.

Deactivating a user or taking away their staff status (the admin's user form, the ban action, a
shell) ends their chat sessions once the change is committed: their tokens are revoked, so
`$connect` refuses them, and their live sockets are closed, so they come back (if at all) with
a new token that says what they are now. Without a reachable @connections API (a site running
without its stack) only the revocation happens, and the error is logged.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)

User = get_user_model()
SESSION_FIELDS = ("is_active", "is_staff", "is_superuser")


@receiver(pre_save, sender=User)
def _remember_access(sender, instance, **kwargs) -> None:
    before = None
    if instance.pk is not None:
        before = sender.objects.filter(pk=instance.pk).values(*SESSION_FIELDS).first()
    instance._access_before = before


@receiver(post_save, sender=User)
def _end_sessions_on_lost_access(sender, instance, created, **kwargs) -> None:
    before = getattr(instance, "_access_before", None)
    if created or before is None or getattr(instance, "_sessions_ended", False):
        return
    lost = [name for name in SESSION_FIELDS if before[name] and not getattr(instance, name)]
    if lost:
        transaction.on_commit(lambda: user_sessions_end_quietly(instance, reason=lost))


def user_sessions_end_quietly(user, *, reason: list[str]) -> None:
    from chat.moderation import user_sessions_end

    try:
        closed = user_sessions_end(user=user)
    except Exception:
        logger.exception("ending the chat sessions of user %s (lost %s) failed", user.pk, reason)
        return
    logger.info("user %s lost %s: %d connection(s) closed", user.pk, ", ".join(reason), closed)
