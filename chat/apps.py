"""The chat app: pages, the WebSocket token endpoint, and the local development stack."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ChatConfig(AppConfig):
    name = "chat"
    default = True  # chat.apps also holds the admin config below
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registered by importing: the system checks, the signals, the logout hook (sessions).
        from chat import checks, sessions, signals  # noqa: F401


class ChatAdminConfig(admin_apps.AdminConfig):
    """Replaces django.contrib.admin in INSTALLED_APPS so `admin.site` is ours."""

    default = False  # only when named in INSTALLED_APPS
    default_site = "chat.sites.ChatAdminSite"
