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


@checks.register()
def token_lifetime_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The authorizer refuses tokens that live longer than TOKEN_MAX_LIFETIME_SECONDS."""
    from django.conf import settings

    from lambdas.config import get_config

    most = get_config().token_max_lifetime_seconds
    if most < settings.TOKEN_TTL_SECONDS:
        message = (
            f"TOKEN_TTL_SECONDS={settings.TOKEN_TTL_SECONDS} is longer than the authorizer "
            f"accepts (TOKEN_MAX_LIFETIME_SECONDS={most}): every token would be refused"
        )
        return [checks.Error(message, id="chat.E001")]
    return []
