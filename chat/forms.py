"""Forms of the site: creating a room, signing up, and the throttled login form."""

from __future__ import annotations

import math

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError

from chat.accounts import SUSPENDED_MESSAGE, account_suspended
from chat.services.rooms import MAX_DESCRIPTION, MAX_TITLE
from chat.throttle import login_throttle_check, login_throttle_failed
from lambdas.errors import InvalidRoom, RateLimited
from lambdas.services.rooms import room_check


class RoomCreateForm(forms.Form):
    """Checks what a browser can get wrong; `room_create` still decides (e.g. the name is taken)."""

    name = forms.CharField(
        max_length=64,
        help_text="Lowercase letters, digits, '-' and '_'; it becomes the room's address.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    title = forms.CharField(
        max_length=MAX_TITLE, required=False, help_text="Shown in lists; the name if left empty."
    )
    description = forms.CharField(
        max_length=MAX_DESCRIPTION, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    private = forms.BooleanField(
        required=False, help_text="Only its members see it and join it; you add them."
    )

    def clean_name(self) -> str:
        try:
            # Required and stripped by the field, so never "" (which room_check reads as general).
            return room_check(
                self.cleaned_data["name"]
            )  # one rule for names, shared with the WebSocket side
        except InvalidRoom as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing attempts while the username or IP has too many failures,
    and telling a suspended (inactive) user so rather than that their password is wrong."""

    error_messages = {
        **AuthenticationForm.error_messages,
        # Django's own code for it, which `confirm_login_allowed` raises too.
        "inactive": SUSPENDED_MESSAGE,
        "rate_limited": "Too many failed logins. Try again in %(seconds)s seconds.",
    }

    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()  # a missing field is reported by the field, not counted
        try:
            login_throttle_check(request=self.request, username=username)
        except RateLimited as exc:
            raise ValidationError(
                self.error_messages["rate_limited"],
                code="rate_limited",
                params={"seconds": int(math.ceil(exc.retry_after))},
            ) from None
        try:
            return super().clean()
        except ValidationError as error:
            if error.code != "invalid_login":
                raise
            login_throttle_failed(request=self.request, username=username)
            # ModelBackend refuses an inactive user as it refuses a wrong password; say which,
            # whatever the password was, so the answer does not reveal whether it was right.
            if account_suspended(username=username):
                raise ValidationError(self.error_messages["inactive"], code="inactive") from None
            raise


class SignUpForm(UserCreationForm):
    """Django's sign-up form with ASCII usernames only: a name written with look-alike letters
    from another script (`аdmin`, its first letter Cyrillic) must not pass for someone else's
    in the chat. (Django already refuses a name that differs from another only in case.)"""

    def clean_username(self) -> str:
        username = super().clean_username()
        ASCIIUsernameValidator()(username)
        return username

    def validate_password_for_user(self, user, password_field_name: str = "password1") -> None:
        # Django checks the confirmation field against the validators, so "too short" appeared
        # under "Password confirmation"; the person typed the password in the first field, and
        # the confirmation field keeps only its own error (the two do not match).
        super().validate_password_for_user(user, password_field_name=password_field_name)


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )


class DirectOpenForm(forms.Form):
    people = forms.CharField(
        max_length=1200,
        label="With",
        help_text="Usernames, separated by spaces or commas: up to 7 people besides you.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )

    def clean_people(self) -> list[str]:
        names = [name for name in self.cleaned_data["people"].replace(",", " ").split() if name]
        return list(dict.fromkeys(names))  # each once, in the order given
