"""axe-core on every page besides the chat (which its own tests check in each state): the rooms
directory, a private room's members, login, sign-up, password change and the staff dashboard,
at desktop and phone widths. No serious or critical violation; a screenshot of each is kept in
test-artifacts/a11y/ to look at."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.browser.chatpage import ARTIFACTS, DEADLINE_MS, axe_violations

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def dashboard_user(users) -> str:
    """bob (staff) may see the dashboard: granted before Chromium starts (the ORM is not
    async-safe)."""
    from django.contrib.auth.models import Permission

    bob = get_user_model().objects.get(username="bob")
    bob.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return "bob"


@pytest.fixture
def pages(dashboard_user, private_room, room) -> list[tuple[str, str | None, str]]:
    """(name, who is signed in or None, path) of each page checked."""
    return [
        ("login", None, "/accounts/login/"),
        ("signup", None, "/accounts/signup/"),
        ("rooms", "alice", "/rooms/"),
        ("members", "alice", f"/rooms/{private_room}/members/"),
        ("password-change", "alice", "/accounts/password_change/"),
        ("dashboard-overview", dashboard_user, "/admin/live/"),
        ("dashboard-rooms", dashboard_user, "/admin/live/rooms/"),
        ("dashboard-room", dashboard_user, f"/admin/live/rooms/{room}/"),
        ("dashboard-connections", dashboard_user, "/admin/live/connections/"),
        ("dashboard-messages", dashboard_user, "/admin/live/messages/"),
        ("dashboard-audit", dashboard_user, "/admin/live/audit/"),
    ]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_no_serious_violations_on_any_page(pages, site, users, browser, viewport):
    folder = ARTIFACTS / "a11y"
    folder.mkdir(parents=True, exist_ok=True)
    contexts = {}
    found = {}
    for name, who, path in pages:
        if who not in contexts:
            context = browser.new_context(viewport=VIEWPORTS[viewport])
            context.set_default_timeout(DEADLINE_MS)
            if who is not None:
                cookie = {"name": settings.SESSION_COOKIE_NAME, "value": users[who], "url": site}
                context.add_cookies([cookie])
            contexts[who] = context.new_page()
        page = contexts[who]
        response = page.goto(f"{site}{path}")
        assert response.status == 200 and page.url == f"{site}{path}", (name, page.url)
        page.screenshot(path=str(folder / f"{name}-{viewport}.png"), full_page=True)
        serious = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
        if serious:
            found[name] = serious
    assert not found, "\n".join(
        f"{name}: {v['id']} at {v['nodes']}" for name, vs in found.items() for v in vs
    )
