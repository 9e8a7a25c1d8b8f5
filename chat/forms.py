"""Forms of the site: creating a room."""

from __future__ import annotations

from django import forms

from lambdas.errors import InvalidRoom
from lambdas.services.rooms import MAX_DESCRIPTION, MAX_TITLE, room_check


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

    def clean_name(self) -> str:
        try:
            # Required and stripped by the field, so never "" (which room_check reads as general).
            return room_check(
                self.cleaned_data["name"]
            )  # one rule for names, shared with the WebSocket side
        except InvalidRoom as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
