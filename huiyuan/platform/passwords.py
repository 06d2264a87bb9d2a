from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class CharacterClassValidator:
    """A password needs letters and digits: merchants' consoles hold every customer's phone number."""

    def validate(self, password: str, user: Any = None) -> None:
        if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
            raise ValidationError(_("The password must contain both letters and digits."), code="password_classes")

    def get_help_text(self) -> str:
        return _("Your password must contain both letters and digits.")


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's, with the message in our catalogue: Django 5.2 reworded it and its Chinese
    catalogue has not caught up, so a merchant signing up saw English."""

    def get_error_message(self) -> str:
        return _("Use at least %(n)d characters.") % {"n": self.min_length}
