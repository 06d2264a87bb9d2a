"""Every answer under ``/api/`` is JSON in the API's error format, whatever failed and wherever:
an unknown URL or merchant (404), a body too large (413), a crash (500, logged), or a database
that dropped the connection (503 with ``Retry-After``: the client may retry; writes are
idempotent by order number, refund number or ``Idempotency-Key``). Outermost middleware, so it
also covers what the tenant, session and DRF layers answer or raise."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from .exceptions import error_body

logger = logging.getLogger("huiyuan.api")
API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 2

_CODES = {
    400: ("BAD_REQUEST", lambda: _("The request could not be read.")),
    401: ("NOT_AUTHENTICATED", lambda: _("Log in or send an API key.")),
    403: ("PERMISSION_DENIED", lambda: _("You do not have permission to do this.")),
    404: ("NOT_FOUND", lambda: _("Not found.")),
    405: ("METHOD_NOT_ALLOWED", lambda: _("This method is not allowed here.")),
    413: ("PAYLOAD_TOO_LARGE", lambda: _("The request body is too large.")),
    429: ("THROTTLED", lambda: _("Too many requests; try again shortly.")),
    500: ("SERVER_ERROR", lambda: _("Something went wrong on our side; it has been logged.")),
    503: ("SERVICE_UNAVAILABLE", lambda: _("The service is briefly unavailable; try again in a moment.")),
}


def _remember_exception(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Django turns an uncaught exception into a response before outer middleware sees it; keep
    the exception on the request so the response can say what it was."""
    import sys

    if request is not None:
        request._huiyuan_exception = sys.exc_info()[1]  # type: ignore[attr-defined]


got_request_exception.connect(_remember_exception, dispatch_uid="huiyuan.api.remember_exception")


def database_unavailable(exc: BaseException | None) -> bool:
    """A lost or refused database connection, as opposed to a query the database rejected."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DatabaseError) and "connection" in str(exc).lower()


def api_error_response(status: int, *, retry_after: int | None = None) -> JsonResponse:
    code, message = _CODES.get(status, ("ERROR", lambda: _("The request could not be completed.")))
    response = JsonResponse(error_body(code, message()), status=status, json_dumps_params={"ensure_ascii": False})
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except Exception as exc:  # noqa: BLE001 - answered as JSON below; logged
            logger.exception("api: unhandled error on %s %s", request.method, request.path)
            request._huiyuan_exception = exc  # type: ignore[attr-defined]
            response = HttpResponse(status=500)
        failure = getattr(request, "_huiyuan_exception", None)
        if response.status_code >= 500 and database_unavailable(failure):
            return api_error_response(503, retry_after=RETRY_AFTER_SECONDS)
        if response.status_code >= 400 and not _is_json(response):
            return api_error_response(response.status_code)
        return response


def _is_json(response: HttpResponse) -> bool:
    """An error answer already in the API's format (only asked of 4xx and 5xx answers)."""
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    if getattr(response, "streaming", False):
        return True
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return False
    return isinstance(body, dict) and "error" in body
