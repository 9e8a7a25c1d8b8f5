"""The admin site: Django's own, with the "Live chat" dashboard in front.

Its own module, apart from chat/admin.py: Django resolves `admin.site` to this class while
admin modules are being imported, so it must not import them.
"""

from __future__ import annotations

from django.contrib import admin

from chat.dashboard import LiveChatDashboard


class ChatAdminSite(admin.AdminSite):
    site_header = "DynamoWave Chat administration"
    site_title = "DynamoWave Chat"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dashboard = LiveChatDashboard(self)

    def get_urls(self):
        return self.dashboard.urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label in (None, "live") and request.user.has_perm(self.dashboard.VIEW):
            apps.insert(0, self.dashboard.app_entry(request))
        return apps
