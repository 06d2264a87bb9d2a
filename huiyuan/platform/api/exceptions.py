"""The single API exception handler: ``{"error": {"code", "message", "fields"}}`` in the
request's language (LocaleMiddleware has activated it from Accept-Language or the cookie)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError, FieldErrors, ValidationFailed


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, list | tuple):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def _fields_from_drf(detail: Any) -> FieldErrors:
    if not isinstance(detail, dict):
        return {}
    return {str(name): _flatten(value) for name, value in detail.items()}


def error_body(code: str, message: Any, fields: FieldErrors | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()} if hasattr(exc, "error_dict") else {}
        return Response(error_body("VALIDATION_FAILED", ValidationFailed.default_message, fields), status=400)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        return Response(error_body("PAYLOAD_TOO_LARGE", _("The request body is too large.")), status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: let Django log it and answer 500
    if isinstance(exc, drf.ValidationError):
        fields = _fields_from_drf(exc.detail)
        non_field = fields.pop("non_field_errors", None)
        message = non_field[0] if non_field else ValidationFailed.default_message
        if not isinstance(exc.detail, dict):
            message = "; ".join(_flatten(exc.detail))
        response.data = error_body("VALIDATION_FAILED", message, fields)
        return response
    code_map = {
        drf.NotAuthenticated: "NOT_AUTHENTICATED",
        drf.AuthenticationFailed: "AUTHENTICATION_FAILED",
        drf.PermissionDenied: "PERMISSION_DENIED",
        drf.NotFound: "NOT_FOUND",
        drf.MethodNotAllowed: "METHOD_NOT_ALLOWED",
        drf.Throttled: "THROTTLED",
        drf.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
        drf.ParseError: "PARSE_ERROR",
        drf.NotAcceptable: "NOT_ACCEPTABLE",
    }
    code = next((c for klass, c in code_map.items() if isinstance(exc, klass)), "ERROR")
    detail = getattr(exc, "detail", str(exc))
    if isinstance(exc, drf.ParseError):
        # DRF's text carries Python's own English parser message; say it in the user's language,
        # with the place the parser gave up if it named one.
        place = re.search(r"line (\d+) column (\d+)", str(detail))
        detail = (
            _("The request body is not valid JSON (line %(line)s, column %(column)s).")
            % {"line": place.group(1), "column": place.group(2)}
            if place
            else _("The request body is not valid JSON.")
        )
    response.data = error_body(code, detail if isinstance(detail, str) else "; ".join(_flatten(detail)))
    return response
