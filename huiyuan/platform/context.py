"""Request metadata (client IP, user agent) for the audit log, without threading ``request``
through every service call."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    ip_address: str | None = None
    user_agent: str = ""


_NO_REQUEST = RequestMeta()
_current: ContextVar[RequestMeta] = ContextVar("huiyuan_request_meta", default=_NO_REQUEST)  # noqa: B039 - frozen


def current_request_meta() -> RequestMeta:
    return _current.get()


def client_ip(request: HttpRequest) -> str | None:
    # Behind the chart's ingress the client address is the first X-Forwarded-For hop.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(
            RequestMeta(ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])
        )
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
