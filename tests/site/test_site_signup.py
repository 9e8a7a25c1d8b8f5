"""Sign-up errors sit under the field they are about: weak passwords under "Password",
a mismatch under "Password confirmation"."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

GOOD = "tidal quartz lantern 42"


def post_signup(client, password1: str, password2: str):
    return client.post(
        reverse("signup"), {"username": "bob", "password1": password1, "password2": password2}
    )


def field_block(html: str, name: str) -> str:
    """The rendered `<div>` of one field of `form.as_div`, from its label to the next field."""
    start = html.index(f'for="id_{name}"')
    following = html.find('<label for="id_', start + 1)
    return html[start : following if following != -1 else len(html)]


def test_a_weak_password_is_reported_under_the_password_field(client):
    """Django's validators' errors belong to password1; the confirmation has none of them."""
    response = post_signup(client, "123", "123")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {e.code for e in errors.as_data()["password1"]} >= {
        "password_too_short",
        "password_too_common",
        "password_entirely_numeric",
    }
    assert "password2" not in errors
    html = response.content.decode()
    assert "too short" in field_block(html, "password1")
    assert "errorlist" not in field_block(html, "password2")
    # The error is tied to its input for screen readers (Django's aria-describedby).
    assert re.search(r'id="id_password1"[^>]*aria-invalid="true"', html) or re.search(
        r'aria-invalid="true"[^>]*id="id_password1"', html
    )
    assert not get_user_model().objects.filter(username="bob").exists()


def test_a_mismatch_is_reported_under_the_confirmation(client):
    """Two different strong passwords: only the confirmation says they do not match."""
    response = post_signup(client, GOOD, GOOD + "x")
    errors = response.context["form"].errors.as_data()
    assert [e.code for e in errors["password2"]] == ["password_mismatch"]
    assert "password1" not in errors
    assert "match" in field_block(response.content.decode(), "password2")


def test_weak_and_mismatched_each_go_to_their_own_field(client):
    """Both problems at once: each is shown where it belongs, once."""
    response = post_signup(client, "123", "1234")
    errors = response.context["form"].errors.as_data()
    assert "password_too_short" in {e.code for e in errors["password1"]}
    assert [e.code for e in errors["password2"]] == ["password_mismatch"]


def test_a_password_like_the_username_is_reported_under_the_password(client):
    """The similarity validator sees the username (validation runs with the instance filled)."""
    response = client.post(
        reverse("signup"),
        {"username": "bobthebuilder", "password1": "bobthebuilder", "password2": "bobthebuilder"},
    )
    errors = response.context["form"].errors.as_data()
    assert "password_too_similar" in {e.code for e in errors["password1"]}
    assert "password2" not in errors


@pytest.mark.usefixtures("dynamodb")
def test_a_strong_password_still_signs_up(client):
    response = post_signup(client, GOOD, GOOD)
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="bob").exists()
