"""Domain exceptions. Services raise these; ``api/exceptions.py`` renders them."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

FieldErrors = dict[str, list[str]]


class DomainError(Exception):
    """Base of every business-rule failure a caller can act on."""

    code = "ERROR"
    status_code = 400
    default_message: Any = _("The request could not be completed.")

    def __init__(self, message: Any = None, *, fields: FieldErrors | None = None, code: str | None = None):
        self.message = message if message is not None else self.default_message
        self.fields = fields or {}
        if code:
            self.code = code
        super().__init__(str(self.message))


class ValidationFailed(DomainError):
    code = "VALIDATION_FAILED"
    default_message = _("Some fields are invalid.")


class NotFound(DomainError):
    code = "NOT_FOUND"
    status_code = 404
    default_message = _("Not found.")


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    status_code = 403
    default_message = _("You do not have permission to do this.")

    def __init__(self, message: Any = None, *, operation: str | None = None, **kwargs: Any):
        self.operation = operation
        super().__init__(message, **kwargs)


class Conflict(DomainError):
    code = "CONFLICT"
    status_code = 409
    default_message = _("The request conflicts with the current state.")
