"""`make run` serves files with no extra step: a signed-in user's upload goes to the stack's S3
by presigned POST, the thumbnail function (in its own execution environment) checks it, and a
link to it downloads the same bytes."""

from __future__ import annotations

import io
import re

import pytest
import requests
from PIL import Image

from tests.helpers import DEADLINE, wait_for
from tests.local.test_manage_local_stack import (
    PASSWORD,
    running_stack,
    shell,
    terminal_environment,
)


@pytest.mark.server  # `manage.py runstack`
def test_make_run_serves_uploads(stack_tmp_path):
    """An image uploaded through the running stack's site becomes ready with its size and is
    downloaded byte for byte by its uploader."""
    env = terminal_environment(stack_tmp_path)
    with running_stack(stack_tmp_path, env) as (site_port, gateway_port):
        made = shell(
            "from django.contrib.auth import get_user_model\n"
            f"get_user_model().objects.create_user('ann', password={PASSWORD!r})\n"
            "from chat.services.rooms import room_create\n"
            "room_create(name='files', title='', description='', created_by='ann')",
            env,
        )
        assert made.returncode == 0, made.stderr
        site = f"http://127.0.0.1:{site_port}"
        browser = requests.Session()
        page = browser.get(f"{site}/accounts/login/", timeout=DEADLINE).text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        browser.post(
            f"{site}/accounts/login/",
            data={"username": "ann", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{site}/accounts/login/"},
            timeout=DEADLINE,
        )
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (0, 90, 200)).save(out, "PNG")
        data = out.getvalue()
        created = browser.post(
            f"{site}/api/uploads/",
            json={"room": "files", "name": "blue.png", "size": len(data), "type": "image/png"},
            headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{site}/"},
            timeout=DEADLINE,
        )
        assert created.status_code == 201, created.text
        upload = created.json()["upload"]
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("f", data)}, timeout=DEADLINE
        )
        assert posted.status_code == 204
        url = f"{site}/api/uploads/{upload['id']}/"
        shown = wait_for(
            lambda: (
                (u := browser.get(url, timeout=DEADLINE).json()["upload"])["state"] != "pending"
                and u
            )
        )
        assert (shown["state"], shown["width"], shown["height"]) == ("ready", 64, 48)
        link = browser.get(f"{site}/api/files/{upload['id']}/", allow_redirects=False)
        assert link.status_code == 302
        assert requests.get(link.headers["Location"], timeout=DEADLINE).content == data
