"""System checks: say at startup, not at the first chat page, that tokens cannot be signed."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register()
def token_signing_key_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    from chat.tokens import signing_key_load  # settings must be ready before this runs

    try:
        signing_key_load()
    except ImproperlyConfigured as exc:
        return [checks.Warning(str(exc), id="chat.W001")]
    return []
