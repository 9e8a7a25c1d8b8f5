"""A user who loses access loses it on the WebSocket side too, however it was taken away.

Deactivating a user or taking away their staff status (the admin's user form, the ban action, a
shell) ends their chat sessions once the change is committed: their tokens are revoked, so
`$connect` refuses them, and their live sockets are closed, so they come back (if at all) with
a new token that says what they are now. Never silently: the change records the revocation
with itself, and when ending the sessions fails the save raises SessionsNotEnded after its
commit (chat/revocations.py), for whoever saved to see, while the retry carries on.
`QuerySet.update()` sends no signal and so ends nothing: use save().
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from chat.revocations import revocation_attempt, revocation_record

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
        # In the save's transaction when there is one (the admin's); a shell's save has
        # committed already, and the row follows at once.
        revocation_record(user=instance, reason=lost)
        user_id = str(instance.pk)
        # After the commit: revoked earlier, a token issued before the commit (saying what the
        # user was) would survive. Not robust: its SessionsNotEnded reaches the saver.
        transaction.on_commit(lambda: revocation_attempt(user_id=user_id))
